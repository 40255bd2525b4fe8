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
from collections.abc import Sequence
from pathlib import Path

# llama_cpp before numpy: with numpy loaded first, a CUDA build of llama.cpp segfaults
# when it creates the model (seen on an H200).
import llama_cpp
import numpy as np

from refact_lsp.engines import kv_plan
from refact_lsp.engines.base import (
    Engine,
    Generation,
    GenerationRequest,
    StopCheck,
    StopReason,
)
from refact_lsp.models import ModelError, check_gguf
from refact_lsp.prompts import FimTemplate, Prompt, detect_template

log = logging.getLogger(__name__)

PROMPT_CHUNK = 64  # tokens evaluated between two looks at the cancel flag
BACKGROUND_CHUNK_MS = 100  # background work (warm-ups) yields to a request within about this
MAX_CANDIDATES = 8
MIN_KEPT_RUN = 32  # a shorter run of cached tokens is evaluated again, not moved
EXACT_MS = 200  # moved runs this quick to evaluate again are evaluated again (exact)
FAR = 1 << 20  # beyond any position: where kept runs wait while others move
SCRATCH = 1  # sequence where a gap is evaluated below cells already in place
BACKGROUND = MAX_CANDIDATES  # sequence where the next larger window grows after a jump
GROW_MS = 100  # time a request typed in a smaller window spends growing the next first
JUMP_ROOM = 1536  # cells beside n_ctx for a smaller window and its generation


class LlamaCppEngine(Engine):
    serves_short_prompts = True

    def __init__(self, model_path: Path, *, n_ctx: int = 4096, n_threads: int | None = None,
                 n_gpu_layers: int = -1, flash_attn: bool = True,
                 template: FimTemplate | None = None, kv_reuse: bool = True,
                 candidates: int = 1, jump_ms: int = 0, jump_start_ms: int = 0,
                 exact_ms: float = EXACT_MS) -> None:
        """The context holds several sequences in one KV buffer (each may use all of
        n_ctx): sequence 1 is scratch for evaluating a prompt around cells kept from the
        last one, with `candidates` > 1 that many are decoded side by side, and with
        `jump_ms` > 0 a full window grows in the background while short ones serve
        where it would take longer than `jump_start_ms` (see `_choose_prompt`)."""
        check_gguf(model_path)
        self._llama_cpp = llama_cpp
        threads = n_threads or max(1, os.cpu_count() or 1)
        self.candidates = max(1, min(candidates, MAX_CANDIDATES))
        try:
            with _quiet_stderr():
                self.llm = llama_cpp.Llama(
                    model_path=str(model_path), n_ctx=n_ctx, n_batch=512, n_ubatch=512,
                    n_threads=threads, n_threads_batch=threads, n_gpu_layers=n_gpu_layers,
                    flash_attn=flash_attn, verbose=False,
                )
            self._cells = n_ctx + (JUMP_ROOM if jump_ms > 0 else 0)
            self._replace_context(BACKGROUND + 1, self._cells)
        except (ValueError, RuntimeError, OSError) as exc:
            if "llama_context" in str(exc):  # the model loaded; its KV cache did not fit
                raise ModelError(f"llama.cpp cannot make a context of {n_ctx} tokens for "
                                 f"{model_path.name} (out of memory?); set a smaller nCtx"
                                 + (" or fewer candidates" if self.candidates > 1 else "")
                                 ) from None
            raise ModelError(f"llama.cpp cannot load model file {model_path}: {exc}") from None
        train_ctx = self.llm._model.n_ctx_train()
        if 0 < train_ctx < n_ctx:
            log.info("model was trained for %d tokens of context; using that", train_ctx)
        self.n_ctx = min(n_ctx, train_ctx) if train_ctx > 0 else n_ctx
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
        self.jump_ms = jump_ms
        self.jump_start_ms = jump_start_ms
        self._climbing = False  # smaller windows serve while larger ones grow
        self.exact_ms = exact_ms
        self._prompt_len = 0  # cached tokens that belong to the last prompt (not generated)
        self._background: list[int] = []  # what sequence BACKGROUND holds
        self._ms_per_token: float | None = None  # prompt evaluation, as last measured
        memory = self.llm._ctx.memory
        self._can_shift = bool(memory and self._llama_cpp.llama_memory_can_shift(memory))
        self.description = (f"{model_path.name} ({self.architecture}, template "
                            f"{self.template.name}, n_ctx {self.n_ctx}, "
                            f"gpu layers {n_gpu_layers if _gpu() else 0})")
        self._lock = threading.Lock()
        if jump_ms > 0:
            self._measure_prompt_speed()

    def _measure_prompt_speed(self) -> None:
        """Time one chunk of prompt evaluation at load. The ladder of smaller windows
        needs the speed to tell a jump; measured only by requests, the first request
        (say, at a far place of a large file opened just now) would find nothing
        measured and wait for its whole window. A few tokens first page the weights in."""
        sample = self.llm.tokenize(b"def area(width, height):\n    return width * height\n"
                                   * PROMPT_CHUNK, add_bos=False, special=False)
        self.llm.eval(sample[:8])
        started = time.perf_counter()
        self.llm.eval(sample[8:8 + PROMPT_CHUNK])
        self._measured(PROMPT_CHUNK, time.perf_counter() - started)
        self._llama_cpp.llama_memory_clear(self.llm._ctx.memory, True)
        self.llm.n_tokens = 0

    def _replace_context(self, sequences: int, cells: int) -> None:
        """llama-cpp-python makes a context of one sequence and has no parameter for
        more: make it again from the same parameters."""
        llm = self.llm
        llm._ctx.close()
        llm.context_params.n_seq_max = sequences
        llm.context_params.n_ctx = cells
        llm.context_params.kv_unified = True
        llm._ctx = llama_cpp._internals.LlamaContext(
            model=llm._model, params=llm.context_params, verbose=False)

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

    def _evaluate(self, tokens: list[int], cancel: threading.Event,
                  chunk: int = PROMPT_CHUNK) -> tuple[int, bool]:
        """Bring the KV cache to hold `tokens`; returns (tokens reused, finished).

        What the cache holds is kept wherever the new prompt has it (`kv_plan`): runs
        of cached tokens are moved into place, the gaps between them are evaluated, and
        then the rest, in chunks so that a cancellation is seen within one chunk. The
        last token is always evaluated: its logits start the generation.
        """
        llm, lib = self.llm, self._llama_cpp
        memory = llm._ctx.memory
        started = time.perf_counter()
        runs = self._plan(tokens)
        removed = [lib.llama_memory_seq_rm(memory, 0, start, end)
                   for start, end in kv_plan.dropped(runs, self._prompt_len)]
        if not all(removed) or not lib.llama_memory_seq_rm(memory, 0, self._prompt_len, -1):
            runs = []  # this cache cannot drop parts of a sequence
            lib.llama_memory_clear(memory, True)
            self._background = []
        moved = [run for run in runs if run.new != run.old]
        for run in moved:  # first out of each other's way: shifts add up, applied at decode
            lib.llama_memory_seq_add(memory, 0, run.old, run.old + run.length,
                                     run.new - run.old + FAR)
        if moved:
            lib.llama_memory_seq_add(memory, 0, FAR, -1, -FAR)
        *inner, (tail, _) = kv_plan.gaps(runs, len(tokens))
        stopped_at = next((start for start, end in inner
                           if not self._fill_gap(memory, tokens, start, end, cancel)), None)
        if stopped_at is not None:
            return self._close_gaps(tokens, runs, stopped_at), False
        llm.input_ids[:tail] = tokens[:tail]
        llm.n_tokens = self._prompt_len = tail
        reused = sum(run.length for run in runs)
        for start in range(tail, len(tokens), chunk):
            if cancel.is_set():
                break
            llm.eval(tokens[start:start + chunk])
        self._prompt_len = llm.n_tokens
        if chunk == PROMPT_CHUNK:  # smaller ones are slower: not the speed of a request
            self._measured(llm.n_tokens - reused, time.perf_counter() - started)
        return reused, self._prompt_len == len(tokens)

    def _close_gaps(self, tokens: list[int], runs: list[kv_plan.Run], stopped_at: int) -> int:
        """After a cancellation at the gap that starts at `stopped_at`: the runs placed
        beyond it move left to close the gaps left unfilled, so that the cache holds
        the prompt up to that gap and then those runs, whole, for the next prompt to
        keep (a cursor that moves on during a long gap loses nothing). Returns how many
        tokens before that gap came from the cache."""
        lib, llm = self._llama_cpp, self.llm
        memory = llm._ctx.memory
        kept = tokens[:stopped_at]
        for run in runs:
            if run.new >= stopped_at:
                if run.new != len(kept):
                    lib.llama_memory_seq_add(memory, 0, run.new, run.new + run.length,
                                             len(kept) - run.new)
                kept += tokens[run.new:run.new + run.length]
        lib.llama_memory_seq_rm(memory, 0, len(kept), -1)
        llm.input_ids[:len(kept)] = kept
        llm.n_tokens = self._prompt_len = len(kept)
        return sum(run.length for run in runs if run.new < stopped_at)

    def _plan(self, tokens: list[int]) -> list[kv_plan.Run]:
        """What the cache keeps for `tokens`. A run kept beyond the common prefix (moved,
        or in place after a gap) was computed after other text than now precedes it:
        close to a fresh evaluation, not equal to it. Where evaluating those runs again
        takes at most `exact_ms` (on a GPU, thousands of tokens) only the common prefix
        is kept and the result is exact."""
        old = self.llm.input_ids[:self._prompt_len].tolist() if self.kv_reuse else []
        runs = kv_plan.plan(old, tokens, MIN_KEPT_RUN if self._can_shift else 0)
        prefix = [run for run in runs if run.new == run.old == 0]  # the common prefix: exact
        approximate = sum(run.length for run in runs) - sum(run.length for run in prefix)
        if approximate and self._ms_per_token is not None \
                and approximate * self._ms_per_token <= self.exact_ms:
            return prefix
        return runs

    @property
    def prompt_ms_per_token(self) -> float | None:
        """Prompt evaluation speed as last measured (None before the first)."""
        return self._ms_per_token

    def _background_chunk(self) -> int:
        """Tokens per chunk of background work: about BACKGROUND_CHUNK_MS of it, so that a
        request that comes waits at most that long for the chunk in progress (64 tokens
        take 0.4 s on two cores; 16 evaluate at 80% of their speed)."""
        if not self._ms_per_token:
            return PROMPT_CHUNK
        return max(16, min(PROMPT_CHUNK, int(BACKGROUND_CHUNK_MS / self._ms_per_token)))

    def _measured(self, evaluated: int, seconds: float) -> None:
        """Remember how fast prompts are evaluated (from evaluations long enough to tell)."""
        if evaluated >= PROMPT_CHUNK:
            self._ms_per_token = 1000 * seconds / evaluated

    def _fill_gap(self, memory: int, tokens: list[int], start: int, end: int,
                  cancel: threading.Event) -> bool:
        """Evaluate tokens[start:end] below cells already in place. llama.cpp appends to
        a sequence only after its last position, so the gap is decoded in the scratch
        sequence, which holds only what comes before it, and then given to sequence 0."""
        lib = self._llama_cpp
        lib.llama_memory_seq_rm(memory, SCRATCH, -1, -1)
        lib.llama_memory_seq_cp(memory, 0, SCRATCH, 0, start)
        try:
            if self._decode(SCRATCH, tokens[start:end], start, cancel) < end - start:
                return False
            lib.llama_memory_seq_cp(memory, SCRATCH, 0, start, end)
            return True
        finally:
            lib.llama_memory_seq_rm(memory, SCRATCH, -1, -1)

    def _decode(self, seq: int, tokens: list[int], first: int, cancel: threading.Event) -> int:
        """Evaluate `tokens` into sequence `seq` from position `first` on, without logits,
        a chunk at a time; returns how many were evaluated before a cancellation."""
        lib = self._llama_cpp
        batch = lib.llama_batch_init(PROMPT_CHUNK, 0, 1)
        try:
            for done in range(0, len(tokens), PROMPT_CHUNK):
                if cancel.is_set():
                    return done
                piece = tokens[done:done + PROMPT_CHUNK]
                batch.n_tokens = len(piece)
                for row, token in enumerate(piece):
                    batch.token[row], batch.pos[row] = token, first + done + row
                    batch.n_seq_id[row], batch.seq_id[row][0], batch.logits[row] = 1, seq, 0
                if lib.llama_decode(self.llm._ctx.ctx, batch) != 0:
                    return done
            return len(tokens)
        finally:
            lib.llama_batch_free(batch)

    # -- after a jump: small windows first, each larger one grown in the background --

    def _choose_prompt(self, full: list[int], request: GenerationRequest
                       ) -> tuple[list[int], bool, int]:
        """The tokens to generate from, whether they are a smaller window's, and how many
        tokens of a larger window were evaluated first.

        The full window serves unless it would take longer than `jump_start_ms` to
        start (at the prompt speed last measured: the cursor jumped to code the cache
        does not hold). Then the ladder serves: the request's smaller windows, smallest
        first, and then the full one; the largest that starts within `jump_ms`, the
        smallest where none does. Meanwhile the next larger one grows in the background
        sequence, exactly, and becomes the main cache once it holds it: quality climbs
        rung by rung to the full window. A request typed inside a window already served
        spends GROW_MS on that growth first (a keystroke's request is mostly superseded
        before it could answer anyway); the first request after a jump does not, nor
        one a person likely waits for (`request.awaited`: at an empty line, where the
        growth goes on while the answer is read, see server.suggest).
        """
        if self._servable([full]) == 0:  # no jump: the common case plans nothing more
            self._serve(full, last=True)
            return full, False, 0
        ladder = [*self._rungs(request.short_prompts, full, request.max_tokens
                               * (1 + len(request.more_stops))), full]
        index, grown = self._servable(ladder), 0
        if 0 <= index < len(ladder) - 1 and not request.awaited \
                and self._fresh(ladder[index])[0] <= MIN_KEPT_RUN:
            grown = self._grow(ladder[index + 1], request.cancel,
                               time.perf_counter() + GROW_MS / 1000)
            index = self._servable(ladder)
        tokens = ladder[max(index, 0)]
        self._serve(tokens, last=tokens is full)
        if tokens is not full:
            log.debug("after a jump: a window of %d tokens of %d; %d evaluated behind it",
                      len(tokens), len(full), len(self._background))
        return tokens, tokens is not full, grown

    def _rungs(self, prompts: Sequence[Prompt], full: list[int], room: int) -> list[list[int]]:
        """The smaller windows' tokens that fit beside a full cache, growing in size."""
        rungs: list[list[int]] = []
        for prompt in prompts:
            tokens = self.tokenize(prompt)
            if len(tokens) + room <= JUMP_ROOM and len(tokens) < len(full) \
                    and (not rungs or len(tokens) > len(rungs[-1])):
                rungs.append(tokens)
        return rungs

    def _fresh(self, tokens: list[int]) -> tuple[int, int]:
        """Tokens of `tokens` to evaluate from the main cache and from the background one."""
        main = len(tokens) - sum(run.length for run in self._plan(tokens))
        return main, len(tokens) - kv_plan.common_prefix(self._background, tokens)

    def _servable(self, ladder: list[list[int]]) -> int:
        """The index of the largest window that either cache starts in time; -1 where
        none does. In time is within `jump_ms`, and for the full window (the last)
        within `jump_start_ms` unless smaller ones serve already: once on the ladder
        the full one returns only when it starts as quickly as a rung, so that a full
        window just under `jump_start_ms` away is not paid for in one wait."""
        if self.jump_ms <= 0 or self._ms_per_token is None:
            return len(ladder) - 1
        budget = self.jump_ms / self._ms_per_token
        start = budget if self._climbing else max(budget, self.jump_start_ms
                                                  / self._ms_per_token)
        if self._starts_within(ladder[-1], start):
            return len(ladder) - 1
        for index in range(len(ladder) - 2, -1, -1):
            if self._starts_within(ladder[index], budget):
                return index
        return -1

    def _starts_within(self, tokens: list[int], fresh: float) -> bool:
        """Whether either cache holds all of `tokens` but at most `fresh` of them. A
        prompt longer than both caches by more is not, whatever they hold: no plan is
        made for it (a full window's takes milliseconds of Python at each request on
        the ladder)."""
        if len(tokens) - max(self._prompt_len, len(self._background)) > fresh:
            return False
        return min(self._fresh(tokens)) <= fresh

    def _serve(self, tokens: list[int], last: bool) -> None:
        """Make the better cache for `tokens` the main one; with the `last` window
        (the full one) the background has nothing left to grow."""
        self._climbing = not last
        if not self._background:
            return
        main, background = self._fresh(tokens)
        if background < main:
            self._promote()
        elif last:
            self._drop_background()

    def _grow(self, target: list[int], cancel: threading.Event, until: float) -> int:
        """Evaluate more of `target` (all but its last token) into the background
        sequence, after what it already holds of it, a chunk at a time until `until`
        (a perf_counter time; the last chunk is cut to end by then, and one chunk of at
        least 8 tokens is evaluated however late: a busy machine still climbs), a
        cancellation, or the cells run out. Returns how many tokens it evaluated."""
        memory = self.llm._ctx.memory
        keep = kv_plan.common_prefix(self._background, target[:-1])
        self._llama_cpp.llama_memory_seq_rm(memory, BACKGROUND, keep, -1)
        del self._background[keep:]
        grown = 0
        while len(self._background) < len(target) - 1 \
                and ((now := time.perf_counter()) < until or not grown) \
                and self.llm.n_tokens + len(self._background) + PROMPT_CHUNK <= self._cells:
            size = self._background_chunk()
            if until < math.inf and self._ms_per_token:
                size = max(8, min(size, int((until - now) * 1000 / self._ms_per_token)))
            start = len(self._background)
            piece = target[start:min(len(target) - 1, start + size)]
            done = self._decode(BACKGROUND, piece, start, cancel)
            self._background += piece[:done]
            self._measured(done, time.perf_counter() - now)
            grown += done
            if done < len(piece):
                break
        return grown

    def _promote(self) -> None:
        """The background sequence becomes the main cache."""
        lib, llm = self._llama_cpp, self.llm
        memory = llm._ctx.memory
        lib.llama_memory_seq_rm(memory, 0, -1, -1)
        lib.llama_memory_seq_cp(memory, BACKGROUND, 0, -1, -1)
        lib.llama_memory_seq_rm(memory, BACKGROUND, -1, -1)
        count = len(self._background)
        llm.input_ids[:count] = self._background
        llm.n_tokens = self._prompt_len = count
        self._background = []

    def _drop_background(self) -> None:
        if self._background:
            memory = self.llm._ctx.memory
            self._llama_cpp.llama_memory_seq_rm(memory, BACKGROUND, -1, -1)
            self._background = []

    def warm(self, prompt: Prompt, cancel: threading.Event,
             short_prompts: Sequence[Prompt] = ()) -> int:
        """Evaluate `prompt` ahead of the request. Where it would not start within
        `jump_ms` (see `_choose_prompt`), the ladder of windows grows in the background
        sequence, rung by rung, so that the window that serves meanwhile stays cached
        and a cancelled warm-up keeps its progress."""
        with self._lock:
            tokens = self.tokenize(prompt)
            if len(tokens) >= self.n_ctx:
                return 0
            ladder = [*self._rungs(short_prompts, tokens, 0), tokens]
            grown = 0
            while (index := self._servable(ladder)) < len(ladder) - 1:
                self._climbing = True
                target = ladder[index + 1]
                grown += self._grow(target, cancel, math.inf)
                if len(self._background) < len(target) - 1:
                    return grown  # cancelled, or no cells left beside the main cache
                self._promote()
            self._serve(tokens, last=True)
            reused, done = self._evaluate(tokens, cancel, self._background_chunk())
            return grown + (len(tokens) - reused if done else 0)

    def generate(self, request: GenerationRequest) -> Generation:
        with self._lock:
            started = time.perf_counter()
            tokens, short, grown = self._choose_prompt(self.tokenize(request.prompt), request)
            chosen_ms = (time.perf_counter() - started) * 1000
            generation = self._generate(request, tokens)
            generation.short_window, generation.grown_tokens = short, grown
            generation.prompt_ms += chosen_ms  # the time to the first token: growth too
            return generation

    def _generate(self, request: GenerationRequest, tokens: list[int]) -> Generation:
        llm = self.llm
        checks = (request.should_stop, *request.more_stops)[:self.candidates]
        if len(tokens) + request.max_tokens * len(checks) > self.n_ctx:
            log.warning("prompt of %d tokens does not fit the context of %d",
                        len(tokens), self.n_ctx)
            return Generation("", StopReason.CONTEXT, prompt_tokens=len(tokens))
        started = time.perf_counter()
        reused, done = self._evaluate(tokens, request.cancel)
        prompt_ms = (time.perf_counter() - started) * 1000
        result = Generation("", StopReason.CANCELLED, prompt_tokens=len(tokens),
                            reused_tokens=reused, prompt_ms=prompt_ms)
        if not done:
            return result
        if len(checks) > 1:
            self._sample_batch(request, checks, result)
            result.generate_ms = (time.perf_counter() - started) * 1000 - prompt_ms
            return result
        out = bytearray()
        logprob_sum = 0.0
        stopped_by = StopReason.MAX_TOKENS
        rng = np.random.default_rng()
        for _ in range(request.max_tokens):
            if request.cancel.is_set():
                stopped_by = StopReason.CANCELLED
                break
            logits = np.ctypeslib.as_array(llm._ctx.get_logits_ith(-1), shape=(self._n_vocab,))
            token, logprob = _pick(logits, request.temperature, rng)
            if self._ends(token):
                stopped_by = StopReason.EOS
                break
            logprob_sum += logprob
            result.generated_tokens += 1
            out += llm.detokenize([token])
            llm.eval([token])
            if request.should_stop(out.decode("utf-8", "ignore")):
                stopped_by = StopReason.STOP
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
        memory = llm._ctx.memory
        n_past = llm.n_tokens
        for seq in range(1, len(checks)):
            lib.llama_memory_seq_rm(memory, seq, -1, -1)
            lib.llama_memory_seq_cp(memory, 0, seq, -1, -1)
        first = np.ctypeslib.as_array(llm._ctx.get_logits_ith(-1), shape=(self._n_vocab,))
        logits = [first.copy() for _ in checks]
        runs = [Generation("", StopReason.MAX_TOKENS) for _ in checks]
        outs = [bytearray() for _ in checks]
        sums = [0.0 for _ in checks]
        rng = np.random.default_rng()
        batch = lib.llama_batch_init(len(checks), 0, 1)
        try:
            for step in range(request.max_tokens):
                if request.cancel.is_set():
                    for run in runs:
                        run.stopped_by = StopReason.CANCELLED
                    break
                rows: list[int] = []
                batch.n_tokens = 0
                for seq, run in enumerate(runs):
                    if run.stopped_by != StopReason.MAX_TOKENS:
                        continue
                    temperature = request.temperature if seq == 0 \
                        else request.candidate_temperature
                    token, logprob = _pick(logits[seq], temperature, rng)
                    if self._ends(token):
                        run.stopped_by = StopReason.EOS
                        continue
                    sums[seq] += logprob
                    run.generated_tokens += 1
                    outs[seq] += llm.detokenize([token])
                    if checks[seq](outs[seq].decode("utf-8", "ignore")):
                        run.stopped_by = StopReason.STOP
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

    def jump(self, prompt_ms: int, start_ms: int) -> None:
        """New times for the ladder; turning it on or off takes a new engine (its room
        in the KV cache is made at load)."""
        self.jump_ms, self.jump_start_ms = prompt_ms, start_ms

    def close(self) -> None:
        with self._lock:
            self.llm.close()


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
