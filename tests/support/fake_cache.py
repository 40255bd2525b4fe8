"""A fake KV cache and a fake clock for the jump ladder (refact_lsp/engines/llama_cpp/
ladder.py), so that its policy is tested without a model, in milliseconds.

Tokens are characters (`char_tokens`). The fake cache keeps what the ladder's `Cache`
protocol promises on lists: the main cache reuses the common prefix of a new prompt
(no runs moved), every token evaluated costs `ms_per_token` of the fake clock, and a
cancellation is seen between two chunks, as in the real one.
"""

from __future__ import annotations

import threading

from refact_lsp.engines.kv_plan import common_prefix
from refact_lsp.engines.llama_cpp.speed import PROMPT_CHUNK
from refact_lsp.prompts import Prompt


def char_tokens(prompt: Prompt) -> list[int]:
    """A character tokenizer: a token per character, its code point."""
    return [ord(char) for char in prompt.text]


def text_prompt(text: str) -> Prompt:
    return Prompt(parts=((text, False),))


class FakeClock:
    """Seconds, as time.perf_counter; moves only when evaluation is paid for."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def spend(self, ms: float) -> None:
        self.now += ms / 1000


class FakeCache:
    def __init__(self, clock: FakeClock, ms_per_token: float, cells: int = 8192) -> None:
        self.clock = clock
        self.ms_per_token = ms_per_token
        self.cells = cells
        self.main: list[int] = []  # what the main cache holds: the last prompt
        self.background: list[int] = []
        self.grown: list[int] = []  # the size of each chunk evaluated into the background
        self.promoted: list[int] = []  # the size of each background promoted
        self.cancel_after: int | None = None  # grown tokens after which a person types

    @property
    def prompt_len(self) -> int:
        return len(self.main)

    def fresh(self, tokens: list[int]) -> tuple[int, int]:
        return (len(tokens) - common_prefix(self.main, tokens[:-1]),
                len(tokens) - common_prefix(self.background, tokens))

    def evaluate(self, tokens: list[int], cancel: threading.Event,
                 chunk: int = PROMPT_CHUNK) -> tuple[int, bool]:
        reused = common_prefix(self.main, tokens[:-1])
        del self.main[reused:]
        for start in range(reused, len(tokens), chunk):
            if cancel.is_set():
                break
            self._pay(tokens[start:start + chunk], self.main)
        return reused, self.main == tokens

    def trim_background(self, target: list[int]) -> None:
        del self.background[common_prefix(self.background, target[:-1]):]

    def background_has_room(self) -> bool:
        return len(self.main) + len(self.background) + PROMPT_CHUNK <= self.cells

    def grow_background(self, tokens: list[int], cancel: threading.Event) -> int:
        done = 0
        for start in range(0, len(tokens), PROMPT_CHUNK):
            if cancel.is_set():
                break
            done += self._pay(tokens[start:start + PROMPT_CHUNK], self.background)
        self.grown.append(done)
        if self.cancel_after is not None and sum(self.grown) >= self.cancel_after:
            cancel.set()
        return done

    def promote(self) -> None:
        self.promoted.append(len(self.background))
        self.main, self.background = self.background, []

    def drop_background(self) -> None:
        self.background = []

    def _pay(self, tokens: list[int], into: list[int]) -> int:
        self.clock.spend(len(tokens) * self.ms_per_token)
        into += tokens
        return len(tokens)
