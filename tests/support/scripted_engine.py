"""A scripted engine for the model-free tier: a character tokenizer, canned generations
and a fake clock. It decodes its canned text one character (token) at a time through
the request's stop checks and cancel flag, as the real engines do, so that completion,
worker and service logic can be tested in milliseconds."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from refact_lsp.engines.base import (
    ChatRequest,
    Engine,
    Generation,
    GenerationRequest,
    StopReason,
)
from refact_lsp.prompts import TEMPLATES, FimTemplate, Prompt

Answer = Callable[[GenerationRequest], str]


@dataclass
class FakeClock:
    """Time that moves only when told to (`advance`), or by `per_token` each token."""

    now: float = 0.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class ScriptedEngine(Engine):
    """Answers each request with the next of `answers` (a text, or a function of the
    request), ended by the model (EOS) unless a stop check or the cancel flag ends it
    first. `logprobs` gives each answer's log-probability (each of its tokens'), in
    order; `alternatives` makes the engine sample candidates beside the first (their
    texts from `answers` too). `on_token` runs before each token: a test can cancel, or
    block, there. Chats are answered from `chat_answers`, a character a token,
    `chat_seconds_per_token` of real time each, with `between_tokens` called before
    every token."""

    answers: list[str | Answer] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    template: FimTemplate = TEMPLATES["qwen"]
    n_ctx: int = 4096
    clock: FakeClock = field(default_factory=FakeClock)
    seconds_per_token: float = 0.0
    on_token: Callable[[int], None] = lambda index: None
    candidates: bool = False
    description: str = "scripted engine"
    requests: list[GenerationRequest] = field(default_factory=list)
    warmed: list[Prompt] = field(default_factory=list)
    closed: bool = False
    short_window: bool = False  # each answer is from a smaller window (after a jump)
    climbing: bool = False  # smaller windows still serve (Engine.climbing)
    chat_answers: list[str] = field(default_factory=list)
    chats: list[ChatRequest] = field(default_factory=list)
    chat_seconds_per_token: float = 0.0

    def count_tokens(self, text: str) -> int:
        return len(text)

    def generate(self, request: GenerationRequest) -> Generation:
        self.requests.append(request)
        checks = request.short_window_stops if self.short_window and request.short_window_stops \
            else (request.should_stop, *request.more_stops)
        first = self._decode(request, checks[0])
        if self.candidates:
            first.alternatives = [self._decode(request, stop) for stop in checks[1:]]
        return first

    def _decode(self, request: GenerationRequest, stop: Callable[[str], bool]) -> Generation:
        answer = self.answers.pop(0) if self.answers else ""
        text = answer(request) if callable(answer) else answer
        logprob = self.logprobs.pop(0) if self.logprobs else -0.1
        generation = Generation("", StopReason.EOS, prompt_tokens=len(request.prompt.text),
                                mean_logprob=logprob, short_window=self.short_window)
        for index, char in enumerate(text[:request.max_tokens]):
            self.on_token(index)
            if request.cancel.is_set():
                generation.stopped_by = StopReason.CANCELLED
                return generation
            self.clock.advance(self.seconds_per_token)
            generation.text += char
            generation.generated_tokens += 1
            generation.token_logprobs.append((len(generation.text), logprob))
            if stop(generation.text):
                generation.stopped_by = StopReason.STOP
                return generation
        if len(text) > request.max_tokens:
            generation.stopped_by = StopReason.MAX_TOKENS
        return generation

    def chat(self, request: ChatRequest) -> Generation:
        self.chats.append(request)
        answer = self.chat_answers.pop(0) if self.chat_answers else ""
        generation = Generation("", StopReason.EOS)
        for index, char in enumerate(answer[:request.max_tokens]):
            request.between_tokens()
            self.on_token(index)
            if request.cancel.is_set():
                generation.stopped_by = StopReason.CANCELLED
                return generation
            time.sleep(self.chat_seconds_per_token)
            generation.text += char
            generation.generated_tokens += 1
            request.on_text(generation.text)
        if len(answer) > request.max_tokens:
            generation.stopped_by = StopReason.MAX_TOKENS
        return generation

    def warm(self, prompt: Prompt, cancel: threading.Event,
             short_prompts: Sequence[Prompt] = ()) -> int:
        self.warmed.append(prompt)
        return len(prompt.text)

    def close(self) -> None:
        self.closed = True
