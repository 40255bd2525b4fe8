"""The embedded engine: llama.cpp in process, with KV-cache reuse and prompt-time cancellation.

llama-cpp-python's own infill path is not used (its FIM token ids are hard-coded); the
prompt is built from the model's own special tokens. The decode loop is ours so that a
stop rule or a cancellation ends it between two tokens, and so that prompt evaluation,
done in chunks, can be cancelled too.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import threading
import time
from pathlib import Path

# llama_cpp before numpy: with numpy loaded first, a CUDA build of llama.cpp segfaults
# when it creates the model (seen on an H200).
import llama_cpp
import numpy as np

from refact_lsp.engines.base import Engine, Generation, GenerationRequest, StopCheck
from refact_lsp.models import ModelError, check_gguf
from refact_lsp.prompts import FimTemplate, Prompt, detect_template

log = logging.getLogger(__name__)

PROMPT_CHUNK = 64  # tokens evaluated between two looks at the cancel flag
MAX_CANDIDATES = 8
MIN_SHIFTED_RUN = 32  # a shorter run of cached tokens is evaluated again, not shifted


class LlamaCppEngine(Engine):
    def __init__(self, model_path: Path, *, n_ctx: int = 4096, n_threads: int | None = None,
                 n_gpu_layers: int = -1, flash_attn: bool = True,
                 template: FimTemplate | None = None, kv_reuse: bool = True,
                 candidates: int = 1) -> None:
        """`candidates` > 1 makes a context that decodes that many sequences in one batch
        (they share one KV buffer, so each may use all of n_ctx)."""
        check_gguf(model_path)
        self._llama_cpp = llama_cpp
        threads = n_threads or max(1, os.cpu_count() or 1)
        try:
            with _quiet_stderr():
                self.llm = llama_cpp.Llama(
                    model_path=str(model_path), n_ctx=n_ctx, n_batch=512, n_ubatch=512,
                    n_threads=threads, n_threads_batch=threads, n_gpu_layers=n_gpu_layers,
                    flash_attn=flash_attn, verbose=False,
                )
        except (ValueError, RuntimeError, OSError) as exc:
            if "llama_context" in str(exc):  # the model loaded; its KV cache did not fit
                raise ModelError(f"llama.cpp cannot make a context of {n_ctx} tokens for "
                                 f"{model_path.name} (out of memory?); set a smaller "
                                 "nCtx") from None
            raise ModelError(f"llama.cpp cannot load model file {model_path}: {exc}") from None
        self.candidates = max(1, min(candidates, MAX_CANDIDATES))
        if self.candidates > 1:
            self._parallel_context(n_ctx)
        train_ctx = self.llm._model.n_ctx_train()
        if 0 < train_ctx < self.llm.n_ctx():
            log.info("model was trained for %d tokens of context; using that", train_ctx)
        self.n_ctx = min(self.llm.n_ctx(), train_ctx) if train_ctx > 0 else self.llm.n_ctx()
        self.architecture = str(self.llm.metadata.get("general.architecture", ""))
        self._vocab = self.llm._model.vocab
        self._n_vocab = self.llm.n_vocab()
        self._add_bos = bool(self.llm._model.add_bos_token())
        self._special_ids: dict[str, int] = {}
        try:
            self.template = template or detect_template(self.has_token, self.architecture)
        except ValueError as exc:
            raise ModelError(f"model file {model_path}: {exc}") from None
        for token in self.template.specials:
            if not self.has_token(token):
                raise ModelError(f"model file {model_path} has no token {token} that "
                                 f"template {self.template.name!r} needs")
        self._stop_ids = {self._special_ids[t] for t in self.template.stops if self.has_token(t)}
        self.kv_reuse = kv_reuse
        self._prompt_len = 0  # cached tokens that belong to the last prompt (not generated)
        memory = self._llama_cpp.llama_get_memory(self.llm._ctx.ctx)
        self._can_shift = bool(memory and self._llama_cpp.llama_memory_can_shift(memory))
        self.description = (f"{model_path.name} ({self.architecture}, template "
                            f"{self.template.name}, n_ctx {self.n_ctx}, "
                            f"gpu layers {n_gpu_layers if _gpu() else 0})")
        self._lock = threading.Lock()

    def _parallel_context(self, n_ctx: int) -> None:
        """Replace the context llama-cpp-python made (one sequence) with one for
        `self.candidates` sequences; llama-cpp-python has no parameter for it."""
        llm = self.llm
        llm._ctx.close()
        llm.context_params.n_seq_max = self.candidates
        llm.context_params.kv_unified = True
        try:
            llm._ctx = llama_cpp._internals.LlamaContext(
                model=llm._model, params=llm.context_params, verbose=False)
        except ValueError:
            raise ModelError(f"llama.cpp cannot make a context of {n_ctx} tokens for "
                             f"{self.candidates} candidates (out of memory?); set fewer "
                             "candidates or a smaller nCtx") from None

    # -- vocabulary ------------------------------------------------------------------

    def has_token(self, text: str) -> bool:
        """True where `text` is a single special token of this model's vocabulary."""
        if text in self._special_ids:
            return True
        ids = self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
        if len(ids) != 1:
            return False
        piece = self._llama_cpp.llama_vocab_get_text(self._vocab, ids[0])
        if piece is None or piece.decode("utf-8", "replace") != text:
            return False
        self._special_ids[text] = ids[0]
        return True

    def _ends(self, token: int) -> bool:
        """The template's stop tokens, end-of-generation and control tokens (file
        markers, chat turns) end a completion: none of them is code."""
        lib = self._llama_cpp
        return bool(token in self._stop_ids or lib.llama_vocab_is_eog(self._vocab, token)
                    or lib.llama_vocab_get_attr(self._vocab, token)
                    & lib.LLAMA_TOKEN_ATTR_CONTROL)

    def count_tokens(self, text: str) -> int:
        if not text:
            return 0
        return len(self.llm.tokenize(_utf8(text), add_bos=False, special=False))

    def tokenize(self, prompt: Prompt) -> list[int]:
        tokens = [self.llm.token_bos()] if self._add_bos else []
        for text, special in prompt.parts:
            if special:
                tokens.append(self._special_ids[text])
            else:
                tokens.extend(self.llm.tokenize(_utf8(text), add_bos=False, special=False))
        return tokens

    # -- evaluation ------------------------------------------------------------------

    def _evaluate(self, tokens: list[int], cancel: threading.Event) -> tuple[int, bool]:
        """Bring the KV cache to hold `tokens`; returns (tokens reused, finished).

        Kept from what the cache holds: the longest common prefix, then (as llama.cpp's
        server does with --cache-reuse) later runs of the cached prompt that the new
        one continues with after a deletion, such as a prefix window whose start moved
        on, shifted left into place. The rest is evaluated in chunks so that a
        cancellation is seen within one chunk. The last token is always evaluated: its
        logits start the generation.
        """
        llm = self.llm
        old = llm.input_ids[:self._prompt_len].copy() if self.kv_reuse else np.empty(0, np.intc)
        new = np.asarray(tokens, dtype=np.intc)
        head = _common_prefix(old, new, min(len(old), len(new) - 1))
        if self._can_shift and head < len(old) - 1:
            head = self._reuse_shifted(old, new, head)
        if not llm._ctx.kv_cache_seq_rm(-1, head, -1):
            head = 0
            llm.reset()
            llm._ctx.kv_cache_clear()
        llm.n_tokens = head
        for start in range(head, len(tokens), PROMPT_CHUNK):
            if cancel.is_set():
                self._prompt_len = llm.n_tokens
                return head, False
            llm.eval(tokens[start:start + PROMPT_CHUNK])
        self._prompt_len = len(tokens)
        return head, True

    def _reuse_shifted(self, old: np.ndarray, new: np.ndarray, head: int) -> int:
        """Shift runs of at least MIN_SHIFTED_RUN cached tokens left to where the new
        prompt has them; returns how many leading tokens of `new` the cache then holds.

        Only left shifts: llama.cpp requires a sequence's positions to stay consecutive,
        so tokens cannot be inserted before cells already in the cache.
        """
        llm = self.llm
        cached = head  # where in `old` to look for the next run
        end_old, end_new = len(old) - 1, len(new) - 1
        while cached < end_old and head < end_new:
            for offset in np.nonzero(old[cached:end_old] == new[head])[0][:64]:
                start = cached + int(offset)
                run = _common_prefix(old[start:end_old], new[head:end_new],
                                     min(end_old - start, end_new - head))
                if run >= MIN_SHIFTED_RUN:
                    llm._ctx.kv_cache_seq_rm(-1, head, start)
                    llm._ctx.kv_cache_seq_shift(0, start, start + run, head - start)
                    llm.input_ids[head:head + run] = old[start:start + run]
                    head, cached = head + run, start + run
                    break
            else:
                break
        return head

    def warm(self, prompt: Prompt, cancel: threading.Event) -> int:
        with self._lock:
            tokens = self.tokenize(prompt)
            if len(tokens) >= self.n_ctx:
                return 0
            reused, done = self._evaluate(tokens, cancel)
            return len(tokens) - reused if done else 0

    def generate(self, request: GenerationRequest) -> Generation:
        with self._lock:
            return self._generate(request)

    def _generate(self, request: GenerationRequest) -> Generation:
        llm = self.llm
        tokens = self.tokenize(request.prompt)
        checks = (request.should_stop, *request.more_stops)[:self.candidates]
        if len(tokens) + request.max_tokens * len(checks) > self.n_ctx:
            log.warning("prompt of %d tokens does not fit the context of %d",
                        len(tokens), self.n_ctx)
            return Generation("", "context", prompt_tokens=len(tokens))
        started = time.perf_counter()
        reused, done = self._evaluate(tokens, request.cancel)
        prompt_ms = (time.perf_counter() - started) * 1000
        result = Generation("", "cancelled", prompt_tokens=len(tokens), reused_tokens=reused,
                            prompt_ms=prompt_ms)
        if not done:
            return result
        if len(checks) > 1:
            self._sample_batch(request, checks, result)
            result.generate_ms = (time.perf_counter() - started) * 1000 - prompt_ms
            return result
        out = bytearray()
        logprob_sum = 0.0
        stopped_by = "max_tokens"
        rng = np.random.default_rng()
        for _ in range(request.max_tokens):
            if request.cancel.is_set():
                stopped_by = "cancelled"
                break
            logits = np.ctypeslib.as_array(llm._ctx.get_logits_ith(-1), shape=(self._n_vocab,))
            token, logprob = _pick(logits, request.temperature, rng)
            if self._ends(token):
                stopped_by = "eos"
                break
            logprob_sum += logprob
            result.generated_tokens += 1
            out += llm.detokenize([token])
            llm.eval([token])
            if request.should_stop(out.decode("utf-8", "ignore")):
                stopped_by = "stop"
                break
        result.text = out.decode("utf-8", "replace")
        result.stopped_by = stopped_by
        result.generate_ms = (time.perf_counter() - started) * 1000 - prompt_ms
        if result.generated_tokens:
            result.mean_logprob = logprob_sum / result.generated_tokens
        return result

    def _sample_batch(self, request: GenerationRequest, checks: tuple[StopCheck, ...],
                      result: Generation) -> None:
        """Candidates decoded side by side, one token of each per batch: the first
        greedy, the others sampled. Each sequence starts as a copy of the prompt's (the
        cells are shared, not copied) and is removed at the end; the first is left as
        the single path leaves its generation, behind the prompt."""
        lib, llm = self._llama_cpp, self.llm
        memory = lib.llama_get_memory(llm._ctx.ctx)
        n_past = llm.n_tokens
        for seq in range(1, len(checks)):
            lib.llama_memory_seq_rm(memory, seq, -1, -1)
            lib.llama_memory_seq_cp(memory, 0, seq, -1, -1)
        first = np.ctypeslib.as_array(llm._ctx.get_logits_ith(-1), shape=(self._n_vocab,))
        logits = [first.copy() for _ in checks]
        runs = [Generation("", "max_tokens") for _ in checks]
        outs = [bytearray() for _ in checks]
        sums = [0.0 for _ in checks]
        rng = np.random.default_rng()
        batch = lib.llama_batch_init(len(checks), 0, 1)
        try:
            for step in range(request.max_tokens):
                if request.cancel.is_set():
                    for run in runs:
                        run.stopped_by = "cancelled"
                    break
                rows: list[int] = []
                batch.n_tokens = 0
                for seq, run in enumerate(runs):
                    if run.stopped_by != "max_tokens":
                        continue
                    temperature = request.temperature if seq == 0 \
                        else request.candidate_temperature
                    token, logprob = _pick(logits[seq], temperature, rng)
                    if self._ends(token):
                        run.stopped_by = "eos"
                        continue
                    sums[seq] += logprob
                    run.generated_tokens += 1
                    outs[seq] += llm.detokenize([token])
                    if checks[seq](outs[seq].decode("utf-8", "ignore")):
                        run.stopped_by = "stop"
                        continue
                    row = batch.n_tokens
                    batch.token[row], batch.pos[row] = token, n_past + step
                    batch.n_seq_id[row], batch.seq_id[row][0], batch.logits[row] = 1, seq, 1
                    batch.n_tokens += 1
                    rows.append(seq)
                if not rows or lib.llama_decode(llm._ctx.ctx, batch) != 0:
                    break
                for row, seq in enumerate(rows):
                    logits[seq] = np.ctypeslib.as_array(
                        llm._ctx.get_logits_ith(row), shape=(self._n_vocab,)).copy()
        finally:
            lib.llama_batch_free(batch)
            for seq in range(1, len(checks)):
                lib.llama_memory_seq_rm(memory, seq, -1, -1)
        for run, out, total in zip(runs, outs, sums, strict=True):
            run.text = out.decode("utf-8", "replace")
            if run.generated_tokens:
                run.mean_logprob = total / run.generated_tokens
        main = runs[0]
        result.text, result.stopped_by = main.text, main.stopped_by
        result.generated_tokens = sum(run.generated_tokens for run in runs)
        result.mean_logprob = main.mean_logprob
        result.alternatives = runs[1:]

    def close(self) -> None:
        with self._lock:
            self.llm.close()


def _common_prefix(a: np.ndarray, b: np.ndarray, limit: int) -> int:
    differ = np.nonzero(a[:limit] != b[:limit])[0]
    return int(differ[0]) if len(differ) else max(0, limit)


def _pick(logits: np.ndarray, temperature: float,
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


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "replace")


def _gpu() -> bool:
    return bool(llama_cpp.llama_supports_gpu_offload())


@contextlib.contextmanager
def _quiet_stderr():
    """llama.cpp prints its load log on fd 2 even with verbose=False; keep it in debug only."""
    if logging.getLogger().isEnabledFor(logging.DEBUG):
        yield
        return
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
