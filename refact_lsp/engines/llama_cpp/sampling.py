"""The decode loop: one token of each candidate per step, until each one ends.

The loop is ours (not llama-cpp-python's) so that a stop rule or a cancellation ends it
between two tokens. The first candidate is the request's (greedy at temperature 0); with
more stop checks, the others are sampled at `candidate_temperature` in the same batch.

A lone greedy candidate decodes drafts (lookup.py): the tokens that followed the last few
tokens where they occurred before in the prompt or the generation are decoded in one
batch with the token just chosen, and those the model confirms are kept: the same tokens
as one at a time, in fewer decode steps. With token healing (healing.py) the first
tokens are held to writing the text cut from the prompt's end again.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from refact_lsp.engines.base import Generation, GenerationRequest, StopCheck, StopReason
from refact_lsp.engines.healing import Healing
from refact_lsp.engines.llama_cpp.kv_cache import MAIN, KvCache
from refact_lsp.engines.llama_cpp.vocab import Vocabulary
from refact_lsp.engines.lookup import MAX_DRAFT, DraftSource


class Candidate:
    """One generation in progress: its text so far and, once it ended, why."""

    def __init__(self, should_stop: StopCheck, temperature: float,
                 healing: Healing | None = None, avoided: Sequence[int] = ()) -> None:
        """`avoided`: tokens ruled out until the output has written something other than
        whitespace (GenerationRequest.avoid_line)."""
        self.should_stop = should_stop
        self.temperature = temperature
        self.healing = healing
        self.avoided = list(avoided)  # a list: numpy reads a tuple as several axes
        self.skip = len(healing.remaining) if healing else 0  # output bytes to re-write
        self.out = bytearray()
        self.tokens = 0
        self.logprob_sum = 0.0
        self.logprobs: list[tuple[int, float]] = []  # (visible text's length, logprob)
        self.stopped_by = StopReason.MAX_TOKENS  # until something else ends it

    @property
    def live(self) -> bool:
        return self.stopped_by == StopReason.MAX_TOKENS

    @property
    def healing_now(self) -> bool:
        return self.healing is not None and self.healing.active

    def step(self, logits: np.ndarray, vocab: Vocabulary, rng: np.random.Generator
             ) -> int | None:
        """Pick the next token from `logits`; returns it, or None where the model (an
        ending token) or the stop check (on the text with it) ended the candidate."""
        if self.healing_now:
            allowed = self.healing.allowed()
            if not allowed:  # no token writes what was cut (never seen): show nothing
                self.stopped_by = StopReason.EOS
                return None
            logits = _only(logits, allowed)
        elif self.avoided and not self.out.strip():
            logits = logits.copy()
            logits[self.avoided] = -np.inf
        token, logprob = pick(logits, self.temperature, rng)
        if vocab.ends(token):
            self.stopped_by = StopReason.EOS
            return None
        piece = vocab.detokenize(token)
        if self.healing_now:
            self.healing.wrote(piece)
        self.logprob_sum += logprob
        self.tokens += 1
        self.out += piece
        text = self.text()
        self.logprobs.append((len(text), logprob))
        if text and self.should_stop(text):
            self.stopped_by = StopReason.STOP
            return None
        return token

    def text(self, errors: str = "ignore") -> str:
        """The output after the text token healing re-wrote."""
        return bytes(self.out[self.skip:]).decode("utf-8", errors)

    def generation(self) -> Generation:
        return Generation(self.text("replace"), self.stopped_by,
                          generated_tokens=self.tokens, token_logprobs=self.logprobs,
                          mean_logprob=self.logprob_sum / self.tokens if self.tokens else None)


def sample(cache: KvCache, vocab: Vocabulary, request: GenerationRequest,
           checks: Sequence[StopCheck], prompt: Sequence[int] = (),
           seq: int = MAIN) -> list[Generation]:
    """Generate after the prompt the cache holds (`prompt`, its tokens), one candidate
    per stop check: the request's first, the others at its candidate temperature. The
    prompt is in sequence `seq`: MAIN (completions) or CHAT (one candidate)."""
    avoided = vocab.beginning(request.avoid_line)  # the same for every candidate
    candidates = [Candidate(check, request.temperature if index == 0
                            else request.candidate_temperature,
                            vocab.healing(request.heal_text), avoided)
                  for index, check in enumerate(checks)]
    if len(candidates) == 1 and request.temperature <= 0 and request.lookup:
        return [_greedy_with_drafts(cache, vocab, request, candidates[0], prompt, seq)]
    logits = [cache.last_logits()] * len(candidates)
    rng = np.random.default_rng()
    with cache.decoding(len(candidates), seq) as decode:
        for _ in range(request.max_tokens):
            if request.cancel.is_set():
                for candidate in candidates:
                    candidate.stopped_by = StopReason.CANCELLED
                break
            rows = []
            for index, candidate in enumerate(candidates):
                token = candidate.step(logits[index], vocab, rng) if candidate.live else None
                if token is not None:
                    rows.append((index, token))
            outputs = decode(rows) if rows else None
            if outputs is None:
                break
            for (index, _), output in zip(rows, outputs, strict=True):
                logits[index] = output
    return [candidate.generation() for candidate in candidates]


def _greedy_with_drafts(cache: KvCache, vocab: Vocabulary, request: GenerationRequest,
                        candidate: Candidate, prompt: Sequence[int], seq: int) -> Generation:
    """One greedy candidate, each chosen token decoded with a draft after it; the draft's
    tokens the model chooses itself are kept, and decoding goes on after the last."""
    source = DraftSource([prompt])
    history = list(prompt[-MAX_DRAFT:])
    rng = np.random.default_rng()
    drafted = accepted = kept = 0
    token = candidate.step(cache.last_logits(), vocab, rng)
    with cache.drafting(MAX_DRAFT + 1, seq) as run:
        while token is not None and candidate.tokens < request.max_tokens:
            if request.cancel.is_set():
                candidate.stopped_by = StopReason.CANCELLED
                break
            source.extend([token])
            history = [*history[-MAX_DRAFT:], token]
            room = request.max_tokens - candidate.tokens - 1  # the run chooses one more
            draft = source.propose(history, min(MAX_DRAFT, room)) \
                if room > 0 and not candidate.healing_now else []
            outputs = run([token, *draft], kept)
            if outputs is None:
                break
            drafted += len(draft)
            token, confirmed = _walk(candidate, outputs, draft, vocab, rng)
            accepted += confirmed
            source.extend(draft[:confirmed])
            history = [*history, *draft[:confirmed]]
            kept = 1 + confirmed  # the run's tokens that are the generation's
    generation = candidate.generation()
    generation.drafted_tokens, generation.accepted_tokens = drafted, accepted
    return generation


def _walk(candidate: Candidate, outputs: Sequence[np.ndarray], draft: Sequence[int],
          vocab: Vocabulary, rng: np.random.Generator) -> tuple[int | None, int]:
    """Choose tokens from a run's logits while they confirm its draft: the next token
    (None where the candidate ended) and how many of the draft's tokens were confirmed."""
    for index, drafted in enumerate(draft):
        token = candidate.step(outputs[index], vocab, rng)
        if token != drafted:
            return token, index
    return candidate.step(outputs[len(draft)], vocab, rng), len(draft)


def _only(logits: np.ndarray, allowed: Sequence[int]) -> np.ndarray:
    """`logits` with every token but `allowed` ruled out."""
    masked = np.full_like(logits, -np.inf)
    masked[list(allowed)] = logits[list(allowed)]
    return masked


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
