"""The embedded engine: loads the model and serves requests, one at a time.

A chat answer (`chat`) runs in a KV sequence of its own (kv_cache.CHAT, in cells of its
own) on the same model; between two of its tokens the engine is free again and the
caller may serve a completion (ChatRequest.between_tokens), so the two interleave
without evicting each other's cache.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

# llama_cpp before numpy (this module is the package's first): with numpy loaded first,
# a CUDA build of llama.cpp segfaults when it creates the model (seen on an H200).
import llama_cpp

from refact_lsp.chat import ChatTemplate, chat_template_for
from refact_lsp.engines.base import (
    ChatRequest,
    Engine,
    Generation,
    GenerationRequest,
    StopCheck,
    StopReason,
)
from refact_lsp.engines.cores import OtherLoad, physical_cores, threads_for
from refact_lsp.engines.llama_cpp.kv_cache import CHAT, EXACT_MS, MAX_CANDIDATES, KvCache
from refact_lsp.engines.llama_cpp.ladder import JUMP_ROOM, JumpLadder
from refact_lsp.engines.llama_cpp.sampling import sample
from refact_lsp.engines.llama_cpp.speed import PromptSpeed
from refact_lsp.engines.llama_cpp.vocab import Vocabulary
from refact_lsp.models import ModelError, check_gguf
from refact_lsp.prompts import FimTemplate, Prompt, detect_template

log = logging.getLogger(__name__)

CHAT_CELLS = 2048  # KV cells of the chat's own sequence: a question and its answer
MIN_CHAT_ANSWER = 64  # a question that leaves less room than this is refused


class LlamaCppEngine(Engine):
    serves_short_prompts = True

    def __init__(self, model_path: Path, *, n_ctx: int = 4096, n_threads: int | None = None,
                 n_gpu_layers: int = -1, flash_attn: bool = True,
                 template: FimTemplate | None = None, kv_reuse: bool = True,
                 candidates: int = 1, jump_ms: int = 0, jump_start_ms: int = 0,
                 exact_ms: float = EXACT_MS, chat_cells: int = CHAT_CELLS) -> None:
        """The context holds several sequences in one KV buffer (each may use all of
        n_ctx, see kv_cache.py): with `candidates` > 1 that many are decoded side by
        side, and with `jump_ms` > 0 a full window grows in the background while short
        ones serve where it would take longer than `jump_start_ms` (see ladder.py).
        `chat_cells` more cells hold a chat's question and answer (0: no chat)."""
        check_gguf(model_path)
        threads = n_threads or physical_cores()
        # Threads not set: as many as the cores other programs leave free (cores.py).
        self.threads, self._cores = threads, threads
        self._load = None if n_threads else OtherLoad()
        self.candidates = max(1, min(candidates, MAX_CANDIDATES))
        self.speed = PromptSpeed()
        try:
            with _quiet_stderr():
                self.llm = llama_cpp.Llama(
                    model_path=str(model_path), n_ctx=n_ctx, n_batch=512, n_ubatch=512,
                    n_threads=threads, n_threads_batch=threads, n_gpu_layers=n_gpu_layers,
                    flash_attn=flash_attn, verbose=False,
                )
            self.cache = KvCache(self.llm, n_ctx + (JUMP_ROOM if jump_ms > 0 else 0),
                                 self.speed, kv_reuse=kv_reuse, exact_ms=exact_ms,
                                 chat_cells=chat_cells)
        except (ValueError, RuntimeError, OSError) as exc:
            if "llama_context" in str(exc):  # the model loaded; its KV cache did not fit
                raise ModelError(f"llama.cpp cannot make a context of {n_ctx} tokens for "
                                 f"{model_path.name} (out of memory?); set a smaller nCtx"
                                 + (" or fewer candidates" if self.candidates > 1 else "")
                                 ) from None
            raise ModelError(f"llama.cpp cannot load model file {model_path}: {exc}") from None
        train_ctx = llama_cpp.llama_model_n_ctx_train(self.llm.model)
        if 0 < train_ctx < n_ctx:
            log.info("model was trained for %d tokens of context; using that", train_ctx)
        self.n_ctx = min(n_ctx, train_ctx) if train_ctx > 0 else n_ctx
        self.architecture = str(self.llm.metadata.get("general.architecture", ""))
        self.vocab = Vocabulary(self.llm)
        self.template = self._template(template, model_path)
        self.ladder = JumpLadder(self.cache, self.vocab.tokenize, self.speed, jump_ms,
                                 jump_start_ms)
        self.description = (f"{model_path.name} ({self.architecture}, template "
                            f"{self.template.name}, n_ctx {self.n_ctx}, "
                            f"gpu layers {n_gpu_layers if _gpu() else 0})")
        self._lock = threading.Lock()
        self._chat_template: ChatTemplate | None = None
        if jump_ms > 0:
            self.cache.measure_speed()
        if self._load is not None:
            self._load.start()

    def _template(self, template: FimTemplate | None, model_path: Path) -> FimTemplate:
        """The template given, or the one the model's special tokens tell; its stop
        tokens end a completion."""
        try:
            template = template or detect_template(self.vocab.has_token, self.architecture)
        except ValueError as exc:
            raise ModelError(f"model file {model_path}: {exc}") from None
        for token in template.specials:
            if not self.vocab.has_token(token):
                raise ModelError(f"model file {model_path} has no token {token} that "
                                 f"template {template.name!r} needs")
        self.vocab.stop_on(template.stops)
        return template

    @property
    def climbing(self) -> bool:
        return self.ladder.climbing

    @property
    def prompt_ms_per_token(self) -> float | None:
        """Prompt evaluation speed as last measured (None before the first)."""
        return self.speed.ms_per_token

    def has_token(self, text: str) -> bool:
        """True where `text` is a single special token of this model's vocabulary."""
        return self.vocab.has_token(text)

    def count_tokens(self, text: str) -> int:
        return self.vocab.count_tokens(text)

    def tokenize(self, prompt: Prompt) -> list[int]:
        return self.vocab.tokenize(prompt)

    def healing_start(self, text: str) -> int:
        """Where `text`, a prompt's end at the cursor, is cut for token healing: the start
        of its last token (the model re-writes it under a constraint, see healing.py)."""
        return self.vocab.healing_start(text)

    def _fit_threads(self) -> None:
        """Where threads were not set, leave out the cores other programs keep busy: a
        thread whose core is taken makes each of llama.cpp's barriers wait for it."""
        if self._load is None:
            return
        threads = threads_for(self._cores, self._load.taken)
        if threads != self.threads:
            log.info("llama.cpp threads %d -> %d: other programs keep %.1f cores busy",
                     self.threads, threads, self._load.taken)
            llama_cpp.llama_set_n_threads(self.llm.ctx, threads, threads)
            self.threads = threads

    def warm(self, prompt: Prompt, cancel: threading.Event,
             short_prompts: Sequence[Prompt] = ()) -> int:
        """Evaluate `prompt` ahead of the request; after a jump, the ladder of windows
        grows instead (see JumpLadder.warm)."""
        with self._lock:
            self._fit_threads()
            tokens = self.vocab.tokenize(prompt)
            if len(tokens) >= self.n_ctx:
                return 0
            return self.ladder.warm(tokens, short_prompts, cancel)

    def generate(self, request: GenerationRequest) -> Generation:
        with self._lock:
            self._fit_threads()
            started = time.perf_counter()
            tokens, short, grown = self.ladder.choose(self.vocab.tokenize(request.prompt),
                                                      request)
            chosen_ms = (time.perf_counter() - started) * 1000
            if short and request.short_window_stops:
                first, *more = request.short_window_stops
                request = dataclasses.replace(request, should_stop=first,
                                              more_stops=tuple(more))
            generation = self._generate(request, tokens)
            generation.short_window, generation.grown_tokens = short, grown
            generation.prompt_ms += chosen_ms  # the time to the first token: growth too
            return generation

    def _generate(self, request: GenerationRequest, tokens: list[int]) -> Generation:
        """The prompt evaluated into the cache (cancellable between chunks), then the
        first candidate and, with `candidates` > 1, more in the same batch."""
        checks = (request.should_stop, *request.more_stops)[:self.candidates]
        if len(tokens) + request.max_tokens * len(checks) > self.n_ctx:
            log.warning("prompt of %d tokens does not fit the context of %d",
                        len(tokens), self.n_ctx)
            return Generation("", StopReason.CONTEXT, prompt_tokens=len(tokens))
        started = time.perf_counter()
        reused, done = self.cache.evaluate(tokens, request.cancel)
        prompt_ms = (time.perf_counter() - started) * 1000
        result = Generation("", StopReason.CANCELLED, prompt_tokens=len(tokens),
                            reused_tokens=reused, prompt_ms=prompt_ms)
        if not done:
            return result
        main, *others = sample(self.cache, self.vocab, request, checks, tokens)
        result.text, result.stopped_by = main.text, main.stopped_by
        result.generated_tokens = main.generated_tokens + sum(
            other.generated_tokens for other in others)
        result.mean_logprob, result.token_logprobs = main.mean_logprob, main.token_logprobs
        result.drafted_tokens, result.accepted_tokens = main.drafted_tokens, \
            main.accepted_tokens
        result.alternatives = others
        result.generate_ms = (time.perf_counter() - started) * 1000 - prompt_ms
        return result

    def chat_template(self) -> ChatTemplate:
        """Refact's format for a Refact model, else the GGUF's own chat template (made
        once); ChatTemplateError for a model with neither."""
        if self._chat_template is None:
            vocab = self.vocab
            self._chat_template = chat_template_for(
                self.architecture, self.llm.metadata, vocab.has_token,
                bos_token=vocab.text_of(self.llm.token_bos()),
                eos_token=vocab.text_of(self.llm.token_eos()), adds_bos=vocab.adds_bos)
        return self._chat_template

    def chat(self, request: ChatRequest) -> Generation:
        """The answer, decoded by the completions' own loop (sampling.sample) in the
        chat's sequence; the lock is let go between tokens for `between_tokens`."""
        template = self.chat_template()
        prompt = template.render(request.messages)
        with self._lock:
            self._fit_threads()
            tokens = self.vocab.tokenize(prompt)
            room = self.cache.chat_cells - len(tokens)  # an answer longer is cut there
            if room < min(request.max_tokens, MIN_CHAT_ANSWER):
                log.warning("chat of %d tokens leaves no room for an answer in the chat's "
                            "%d cells", len(tokens), self.cache.chat_cells)
                return Generation("", StopReason.CONTEXT, prompt_tokens=len(tokens))
            started = time.perf_counter()
            pause = functools.partial(self._pause, request.between_tokens)
            reused, done = self.cache.evaluate_chat(tokens, request.cancel, pause)
            prompt_ms = (time.perf_counter() - started) * 1000
            if not done:
                return Generation("", StopReason.CANCELLED, prompt_tokens=len(tokens),
                                  reused_tokens=reused, prompt_ms=prompt_ms)
            check = _chat_check(template, request, pause)
            [generation] = sample(self.cache, self.vocab, GenerationRequest(
                prompt, min(request.max_tokens, room), check, request.cancel,
                temperature=request.temperature), [check], tokens, CHAT)
        generation.text = template.answer(generation.text)
        request.on_text(generation.text)  # the last report is the answer itself
        generation.prompt_tokens, generation.reused_tokens = len(tokens), reused
        generation.prompt_ms = prompt_ms
        generation.generate_ms = (time.perf_counter() - started) * 1000 - prompt_ms
        return generation

    def _pause(self, between_tokens: Callable[[], None]) -> None:
        """Run `between_tokens` with the engine free (the chat holds the lock otherwise)."""
        self._lock.release()
        try:
            between_tokens()
        finally:
            self._lock.acquire()

    def jump(self, prompt_ms: int, start_ms: int) -> None:
        """New times for the ladder; turning it on or off takes a new engine (its room
        in the KV cache is made at load)."""
        self.ladder.jump_ms, self.ladder.jump_start_ms = prompt_ms, start_ms

    def close(self) -> None:
        if self._load is not None:
            self._load.stop()
        with self._lock:
            self.cache.close()
            self.llm.close()


def _chat_check(template: ChatTemplate, request: ChatRequest,
                pause: Callable[[], None]) -> StopCheck:
    """The chat's stop check, asked after every token: it streams the answer so far,
    stops at the template's stop strings, and pauses for a waiting completion."""
    def check(text: str) -> bool:
        request.on_text(template.answer(text))
        if any(stop in text for stop in template.stops):
            return True
        pause()
        return False
    return check


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
