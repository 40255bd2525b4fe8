"""The decode loop: one token of each candidate per step, until each one ends.

The loop is ours (not llama-cpp-python's) so that a stop rule or a cancellation ends it
between two tokens. The first candidate is the request's (greedy at temperature 0); with
more stop checks, the others are sampled at `candidate_temperature` in the same batch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from refact_lsp.engines.base import Generation, GenerationRequest, StopCheck, StopReason
from refact_lsp.engines.llama_cpp.kv_cache import KvCache
from refact_lsp.engines.llama_cpp.vocab import Vocabulary


class Candidate:
    """One generation in progress: its text so far and, once it ended, why."""

    def __init__(self, should_stop: StopCheck, temperature: float) -> None:
        self.should_stop = should_stop
        self.temperature = temperature
        self.out = bytearray()
        self.tokens = 0
        self.logprob_sum = 0.0
        self.stopped_by = StopReason.MAX_TOKENS  # until something else ends it

    @property
    def live(self) -> bool:
        return self.stopped_by == StopReason.MAX_TOKENS

    def step(self, logits: np.ndarray, vocab: Vocabulary, rng: np.random.Generator
             ) -> int | None:
        """Pick the next token from `logits`; returns it, or None where the model (an
        ending token) or the stop check (on the text with it) ended the candidate."""
        token, logprob = pick(logits, self.temperature, rng)
        if vocab.ends(token):
            self.stopped_by = StopReason.EOS
            return None
        self.logprob_sum += logprob
        self.tokens += 1
        self.out += vocab.detokenize(token)
        if self.should_stop(self.out.decode("utf-8", "ignore")):
            self.stopped_by = StopReason.STOP
            return None
        return token

    def generation(self) -> Generation:
        return Generation(self.out.decode("utf-8", "replace"), self.stopped_by,
                          generated_tokens=self.tokens,
                          mean_logprob=self.logprob_sum / self.tokens if self.tokens else None)


def sample(cache: KvCache, vocab: Vocabulary, request: GenerationRequest,
           checks: Sequence[StopCheck]) -> list[Generation]:
    """Generate after the prompt the cache holds, one candidate per stop check: the
    request's first, the others at its candidate temperature."""
    candidates = [Candidate(check, request.temperature if index == 0
                            else request.candidate_temperature)
                  for index, check in enumerate(checks)]
    logits = [cache.last_logits()] * len(candidates)
    rng = np.random.default_rng()
    with cache.decoding(len(candidates)) as decode:
        for _ in range(request.max_tokens):
            if request.cancel.is_set():
                for candidate in candidates:
                    candidate.stopped_by = StopReason.CANCELLED
                break
            rows = []
            for seq, candidate in enumerate(candidates):
                token = candidate.step(logits[seq], vocab, rng) if candidate.live else None
                if token is not None:
                    rows.append((seq, token))
            outputs = decode(rows) if rows else None
            if outputs is None:
                break
            for (seq, _), output in zip(rows, outputs, strict=True):
                logits[seq] = output
    return [candidate.generation() for candidate in candidates]


def pick(logits: np.ndarray, temperature: float,
         rng: np.random.Generator) -> tuple[int, float]:
    """The next token (greedy, or sampled at `temperature`) and its log-probability."""
    top = float(logits.max())
    log_norm = top + math.log(float(np.exp(logits - top).sum()))
    if temperature <= 0:
        token = int(logits.argmax())
    else:
        scaled = (logits - top) / temperature
        probs = np.exp(scaled)
        probs /= probs.sum()
        token = int(rng.choice(len(probs), p=probs))
    return token, float(logits[token]) - log_norm
