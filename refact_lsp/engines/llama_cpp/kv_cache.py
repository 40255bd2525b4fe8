"""What llama.cpp's KV cache holds, and how it comes to hold a new prompt.

The only code that touches llama-cpp-python's internals (its context `_ctx`, `_internals`,
`input_ids`, the `llama_memory_*` calls and batches): a new llama-cpp-python that changes
them is met here. The context holds several sequences in one KV buffer (each may use all
of its cells): sequence 0 is the main cache, the last prompt and its generation; sequence
SCRATCH is scratch for evaluating a gap below cells already in place; sequences 1 to
MAX_CANDIDATES - 1 hold candidates decoded beside the first; sequence BACKGROUND holds
the next larger window after a jump (see ladder.py); sequence CHAT holds the last chat
conversation and its answer, in cells of its own (`chat_cells`, beyond the `cells` the
others share), so that a chat and the completions it pauses for never evict each other.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator, Sequence

import llama_cpp
import numpy as np

from refact_lsp.engines import kv_plan
from refact_lsp.engines.llama_cpp.speed import PROMPT_CHUNK, PromptSpeed

EXACT_MS = 200  # moved runs this quick to evaluate again are evaluated again (exact)
FAR = 1 << 20  # beyond any position: where kept runs wait while others move
MAX_CANDIDATES = 8
SCRATCH = 1  # sequence where a gap is evaluated below cells already in place
BACKGROUND = MAX_CANDIDATES  # sequence where the next larger window grows after a jump
CHAT = BACKGROUND + 1  # sequence of the chat (see KvCache.evaluate_chat)
MAIN = 0

# Decodes one (sequence, token) row each at the sequences' next position; returns each
# row's logits, or None where llama.cpp could not decode them.
DecodeStep = Callable[[Sequence[tuple[int, int]]], "list[np.ndarray] | None"]
# Keeps the first `kept` tokens of the last run, decodes `tokens` after them in one batch;
# returns the logits after each, or None (see KvCache.drafting).
RunStep = Callable[[Sequence[int], int], "list[np.ndarray] | None"]


class Decoding:
    """Generation after a prompt the cache holds, in sequence MAIN or CHAT (KvCache's
    half that decodes tokens one step at a time)."""

    llm: llama_cpp.Llama
    chat: list[int]
    _n_vocab: int

    @property
    def _memory(self) -> llama_cpp.llama_memory_t:
        return self.llm._ctx.memory

    def _end(self, seq: int) -> int:
        """The next position of sequence MAIN (its last prompt and generation) or CHAT."""
        return len(self.chat) if seq == CHAT else self.llm.n_tokens

    def _wrote(self, seq: int, position: int, tokens: Sequence[int]) -> None:
        """Remember that sequence MAIN or CHAT holds `tokens` from `position` on (and
        nothing after them)."""
        if seq == CHAT:
            del self.chat[position:]
            self.chat += tokens
        else:
            self.llm.input_ids[position:position + len(tokens)] = tokens
            self.llm.n_tokens = position + len(tokens)

    def last_logits(self) -> np.ndarray:
        """The logits after the prompt's last token (valid until the next decode)."""
        return self._logits(-1)

    def _logits(self, row: int) -> np.ndarray:
        return np.ctypeslib.as_array(self.llm._ctx.get_logits_ith(row), shape=(self._n_vocab,))

    @contextlib.contextmanager
    def decoding(self, sequences: int, seq: int = MAIN) -> Iterator[DecodeStep]:
        """Decode `sequences` generations after the prompt, one token of each per batch.
        The first continues the prompt's sequence (`seq`: MAIN, or CHAT alone); each
        other starts as a copy of MAIN (the cells are shared, not copied) and is removed
        at the end. The logits a step returns are valid until the next step. Rows name
        generations by index (0 the first)."""
        memory = self._memory
        llm = self.llm
        for other in range(1, sequences):
            llama_cpp.llama_memory_seq_rm(memory, other, -1, -1)
            llama_cpp.llama_memory_seq_cp(memory, MAIN, other, -1, -1)
        batch = llama_cpp.llama_batch_init(sequences, 0, 1)
        position = self._end(seq)

        def step(rows: Sequence[tuple[int, int]]) -> list[np.ndarray] | None:
            nonlocal position
            batch.n_tokens = len(rows)
            for row, (index, token) in enumerate(rows):
                batch.token[row], batch.pos[row] = token, position
                batch.n_seq_id[row], batch.logits[row] = 1, 1
                batch.seq_id[row][0] = index or seq
            if llama_cpp.llama_decode(llm._ctx.ctx, batch) != 0:
                return None
            if rows[0][0] == 0:  # the sequence holds its generation after the prompt
                self._wrote(seq, position, [rows[0][1]])
            position += 1
            return [self._logits(row) for row in range(len(rows))]

        try:
            yield step
        finally:
            llama_cpp.llama_batch_free(batch)
            for other in range(1, sequences):
                llama_cpp.llama_memory_seq_rm(memory, other, -1, -1)

    @contextlib.contextmanager
    def drafting(self, longest: int, seq: int = MAIN) -> Iterator[RunStep]:
        """Decode runs of sequence `seq`'s tokens after the prompt, each run in one
        batch with the logits after every token of it: a token and the draft that may
        follow it (prompt lookup). `step(tokens, kept)` first drops the cells of the
        last run beyond its first `kept` tokens (the draft the model did not confirm);
        the logits it returns (copies) stay valid. At most `longest` tokens a run."""
        memory, llm = self._memory, self.llm
        batch = llama_cpp.llama_batch_init(longest, 0, 1)
        run_start = self._end(seq)  # where the last run's tokens sit
        run: list[int] = []

        def step(tokens: Sequence[int], kept: int) -> list[np.ndarray] | None:
            nonlocal run_start, run
            position = run_start + kept
            llama_cpp.llama_memory_seq_rm(memory, seq, position, -1)
            batch.n_tokens = len(tokens)
            for row, token in enumerate(tokens):
                batch.token[row], batch.pos[row] = token, position + row
                batch.n_seq_id[row], batch.seq_id[row][0], batch.logits[row] = 1, seq, 1
            if llama_cpp.llama_decode(llm._ctx.ctx, batch) != 0:
                return None
            self._wrote(seq, position, tokens)
            run_start, run = position, list(tokens)
            return [self._logits(row).copy() for row in range(len(tokens))]

        try:
            yield step
        finally:
            llama_cpp.llama_batch_free(batch)


class KvCache(Decoding):
    def __init__(self, llm: llama_cpp.Llama, cells: int, speed: PromptSpeed, *,
                 kv_reuse: bool = True, exact_ms: float = EXACT_MS,
                 chat_cells: int = 0) -> None:
        """A context of `cells` cells for the completion's sequences and `chat_cells`
        more for the chat's, in place of `llm`'s own."""
        self.llm = llm
        self.cells = cells
        self.chat_cells = chat_cells
        self.chat: list[int] = []  # what sequence CHAT holds
        self._replace_context(CHAT + 1, cells + chat_cells)
        self.speed = speed
        self.kv_reuse = kv_reuse
        self.exact_ms = exact_ms
        self.prompt_len = 0  # cached tokens that belong to the last prompt (not generated)
        self.background: list[int] = []  # what sequence BACKGROUND holds
        self._n_vocab = llm.n_vocab()
        memory = self._memory
        self._can_shift = bool(memory and llama_cpp.llama_memory_can_shift(memory))

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

    def measure_speed(self) -> None:
        """Time one chunk of prompt evaluation. The ladder of smaller windows needs the
        speed to tell a jump; measured only by requests, the first request (say, at a
        far place of a large file opened just now) would find nothing measured and wait
        for its whole window. A few tokens first page the weights in."""
        sample = self.llm.tokenize(b"def area(width, height):\n    return width * height\n"
                                   * PROMPT_CHUNK, add_bos=False, special=False)
        self.llm.eval(sample[:8])
        started = time.perf_counter()
        self.llm.eval(sample[8:8 + PROMPT_CHUNK])
        self.speed.measured(PROMPT_CHUNK, time.perf_counter() - started)
        llama_cpp.llama_memory_clear(self._memory, True)
        self.llm.n_tokens = 0

    # -- the main sequence -------------------------------------------------------------

    def evaluate(self, tokens: list[int], cancel: threading.Event,
                 chunk: int = PROMPT_CHUNK) -> tuple[int, bool]:
        """Bring the main cache to hold `tokens`; returns (tokens reused, finished).

        What the cache holds is kept wherever the new prompt has it (`kv_plan`): runs
        of cached tokens are moved into place, the gaps between them are evaluated, and
        then the rest, in chunks so that a cancellation is seen within one chunk. The
        last token is always evaluated: its logits start the generation.
        """
        llm = self.llm
        started = time.perf_counter()
        runs = self._place(self._plan(tokens))
        *inner, (tail, _) = kv_plan.gaps(runs, len(tokens))
        stopped_at = next((start for start, end in inner
                           if not self._fill_gap(tokens, start, end, cancel)), None)
        if stopped_at is not None:
            return self._close_gaps(tokens, runs, stopped_at), False
        llm.input_ids[:tail] = tokens[:tail]
        llm.n_tokens = self.prompt_len = tail
        reused = sum(run.length for run in runs)
        for start in range(tail, len(tokens), chunk):
            if cancel.is_set():
                break
            llm.eval(tokens[start:start + chunk])
        self.prompt_len = llm.n_tokens
        if chunk == PROMPT_CHUNK:  # smaller ones are slower: not the speed of a request
            self.speed.measured(llm.n_tokens - reused, time.perf_counter() - started)
        return reused, self.prompt_len == len(tokens)

    def _place(self, runs: list[kv_plan.Run]) -> list[kv_plan.Run]:
        """Drop the cells no run keeps and move the runs to their new positions; returns
        the runs in place (none where this cache cannot drop parts of a sequence)."""
        memory = self._memory
        removed = [llama_cpp.llama_memory_seq_rm(memory, 0, start, end)
                   for start, end in kv_plan.dropped(runs, self.prompt_len)]
        if not all(removed) or not llama_cpp.llama_memory_seq_rm(memory, 0, self.prompt_len,
                                                                 -1):
            llama_cpp.llama_memory_seq_rm(memory, 0, -1, -1)  # the others' (chat) stay
            self.drop_background()
            return []
        moved = [run for run in runs if run.new != run.old]
        for run in moved:  # first out of each other's way: shifts add up, applied at decode
            llama_cpp.llama_memory_seq_add(memory, 0, run.old, run.old + run.length,
                                           run.new - run.old + FAR)
        if moved:
            llama_cpp.llama_memory_seq_add(memory, 0, FAR, -1, -FAR)
        return runs

    def _close_gaps(self, tokens: list[int], runs: list[kv_plan.Run], stopped_at: int) -> int:
        """After a cancellation at the gap that starts at `stopped_at`: the runs placed
        beyond it move left to close the gaps left unfilled, so that the cache holds
        the prompt up to that gap and then those runs, whole, for the next prompt to
        keep (a cursor that moves on during a long gap loses nothing). Returns how many
        tokens before that gap came from the cache."""
        memory = self._memory
        kept = tokens[:stopped_at]
        for run in runs:
            if run.new >= stopped_at:
                if run.new != len(kept):
                    llama_cpp.llama_memory_seq_add(memory, 0, run.new, run.new + run.length,
                                                   len(kept) - run.new)
                kept += tokens[run.new:run.new + run.length]
        llama_cpp.llama_memory_seq_rm(memory, 0, len(kept), -1)
        self.llm.input_ids[:len(kept)] = kept
        self.llm.n_tokens = self.prompt_len = len(kept)
        return sum(run.length for run in runs if run.new < stopped_at)

    def _plan(self, tokens: list[int]) -> list[kv_plan.Run]:
        """What the cache keeps for `tokens`. A run kept beyond the common prefix (moved,
        or in place after a gap) was computed after other text than now precedes it:
        close to a fresh evaluation, not equal to it. Where evaluating those runs again
        takes at most `exact_ms` (on a GPU, thousands of tokens) only the common prefix
        is kept and the result is exact."""
        old = self.llm.input_ids[:self.prompt_len].tolist() if self.kv_reuse else []
        runs = kv_plan.plan(old, tokens, kv_plan.MIN_KEPT_RUN if self._can_shift else 0)
        prefix = [run for run in runs if run.new == run.old == 0]  # the common prefix: exact
        approximate = sum(run.length for run in runs) - sum(run.length for run in prefix)
        ms_per_token = self.speed.ms_per_token
        if approximate and ms_per_token is not None \
                and approximate * ms_per_token <= self.exact_ms:
            return prefix
        return runs

    def _fill_gap(self, tokens: list[int], start: int, end: int,
                  cancel: threading.Event) -> bool:
        """Evaluate tokens[start:end] below cells already in place. llama.cpp appends to
        a sequence only after its last position, so the gap is decoded in the scratch
        sequence, which holds only what comes before it, and then given to sequence 0."""
        memory = self._memory
        llama_cpp.llama_memory_seq_rm(memory, SCRATCH, -1, -1)
        llama_cpp.llama_memory_seq_cp(memory, 0, SCRATCH, 0, start)
        try:
            if self._decode(SCRATCH, tokens[start:end], start, cancel) < end - start:
                return False
            llama_cpp.llama_memory_seq_cp(memory, SCRATCH, 0, start, end)
            return True
        finally:
            llama_cpp.llama_memory_seq_rm(memory, SCRATCH, -1, -1)

    def _decode(self, seq: int, tokens: list[int], first: int, cancel: threading.Event,
                between: Callable[[], None] | None = None) -> int:
        """Evaluate `tokens` into sequence `seq` from position `first` on, a chunk at a
        time, without logits but for the last token's where `between` is given (the
        chat's: then called before each chunk); returns how many were evaluated before a
        cancellation."""
        batch = llama_cpp.llama_batch_init(PROMPT_CHUNK, 0, 1)
        try:
            for done in range(0, len(tokens), PROMPT_CHUNK):
                if between is not None:
                    between()
                if cancel.is_set():
                    return done
                piece = tokens[done:done + PROMPT_CHUNK]
                batch.n_tokens = len(piece)
                for row, token in enumerate(piece):
                    batch.token[row], batch.pos[row] = token, first + done + row
                    batch.n_seq_id[row], batch.seq_id[row][0], batch.logits[row] = 1, seq, 0
                if between is not None and done + len(piece) == len(tokens):
                    batch.logits[len(piece) - 1] = 1
                if llama_cpp.llama_decode(self.llm._ctx.ctx, batch) != 0:
                    return done
            return len(tokens)
        finally:
            llama_cpp.llama_batch_free(batch)

    # -- the background sequence (see ladder.py) ---------------------------------------

    def fresh(self, tokens: list[int]) -> tuple[int, int]:
        """Tokens of `tokens` to evaluate from the main cache and from the background one."""
        main = len(tokens) - sum(run.length for run in self._plan(tokens))
        return main, len(tokens) - kv_plan.common_prefix(self.background, tokens)

    def trim_background(self, target: list[int]) -> None:
        """Keep of the background what `target` (all but its last token) starts with."""
        keep = kv_plan.common_prefix(self.background, target[:-1])
        llama_cpp.llama_memory_seq_rm(self._memory, BACKGROUND, keep, -1)
        del self.background[keep:]

    def background_has_room(self) -> bool:
        """Whether another chunk fits beside the main cache."""
        return self.llm.n_tokens + len(self.background) + PROMPT_CHUNK <= self.cells

    def grow_background(self, tokens: list[int], cancel: threading.Event) -> int:
        """Evaluate `tokens` after what the background holds; returns how many were
        evaluated before a cancellation."""
        done = self._decode(BACKGROUND, tokens, len(self.background), cancel)
        self.background += tokens[:done]
        return done

    def promote(self) -> None:
        """The background sequence becomes the main cache."""
        memory = self._memory
        llama_cpp.llama_memory_seq_rm(memory, 0, -1, -1)
        llama_cpp.llama_memory_seq_cp(memory, BACKGROUND, 0, -1, -1)
        llama_cpp.llama_memory_seq_rm(memory, BACKGROUND, -1, -1)
        count = len(self.background)
        self.llm.input_ids[:count] = self.background
        self.llm.n_tokens = self.prompt_len = count
        self.background = []

    def drop_background(self) -> None:
        if self.background:
            llama_cpp.llama_memory_seq_rm(self._memory, BACKGROUND, -1, -1)
            self.background = []

    # -- the chat sequence -------------------------------------------------------------

    def evaluate_chat(self, tokens: list[int], cancel: threading.Event,
                      between: Callable[[], None]) -> tuple[int, bool]:
        """Bring sequence CHAT to hold `tokens`, keeping the start the last conversation
        shares with them (the turns before the new question), `between` called before
        each chunk; returns (tokens kept, whether it finished: not cancelled, nor
        refused by llama.cpp). The last token's logits (last_logits) start the answer."""
        keep = kv_plan.common_prefix(self.chat, tokens[:-1])
        llama_cpp.llama_memory_seq_rm(self._memory, CHAT, keep, -1)
        del self.chat[keep:]
        done = self._decode(CHAT, tokens[keep:], keep, cancel, between)
        self.chat += tokens[keep:keep + done]
        return keep, keep + done == len(tokens)

    def close(self) -> None:
        """Free the context made here before llama-cpp-python frees the model."""
        self.llm._ctx.close()
