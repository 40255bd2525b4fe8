"""The jump ladder's policy (refact_lsp/engines/llama_cpp/ladder.py) on a fake KV cache
and a fake clock: which window serves after a jump, what grows behind it and for how
long. No model: tokens are characters, evaluating one costs `ms_per_token` of fake time.
(tests/test_latency.py runs the same ladder on the real model.)"""

from __future__ import annotations

import random
import string
import threading

import pytest

from refact_lsp.engines.base import GenerationRequest
from refact_lsp.engines.llama_cpp.ladder import GROW_MS, JumpLadder
from refact_lsp.engines.llama_cpp.speed import PromptSpeed
from refact_lsp.prompts import Prompt
from tests.support.fake_cache import FakeCache, FakeClock, char_tokens, text_prompt

FILE = "".join(random.Random(0).choices(string.ascii_letters, k=3000))
RUNGS = (100, 250, 400, 800)  # the smaller windows: the file's last characters


class Setup:
    """A ladder on a fake cache (empty, as after a jump to code it does not hold)."""

    def __init__(self, ms_per_token: float = 1.0, jump_ms: float = 300,
                 jump_start_ms: float = 1000) -> None:
        self.clock = FakeClock()
        self.cache = FakeCache(self.clock, ms_per_token)
        self.tokenized: list[Prompt] = []
        self.choose_s = 0.0  # fake seconds the last request spent before generating
        speed = PromptSpeed()
        speed.ms_per_token = ms_per_token
        self.ladder = JumpLadder(self.cache, self.tokenize, speed, jump_ms, jump_start_ms,
                                 clock=self.clock)

    def tokenize(self, prompt: Prompt) -> list[int]:
        self.tokenized.append(prompt)
        return char_tokens(prompt)

    def ask(self, text: str = FILE, rungs: tuple[int, ...] = RUNGS, awaited: bool = False
            ) -> tuple[list[int], bool, int]:
        """A request for `text` with its last `rungs` characters as smaller windows,
        served as the engine serves it: the window chosen is evaluated into the cache."""
        request = GenerationRequest(text_prompt(text), max_tokens=16,
                                    should_stop=lambda generated: False, awaited=awaited,
                                    short_prompts=tuple(text_prompt(text[-size:])
                                                        for size in rungs))
        started = self.clock()
        tokens, short, grown = self.ladder.choose(char_tokens(request.prompt), request)
        self.choose_s = self.clock() - started
        self.cache.evaluate(tokens, threading.Event())
        return tokens, short, grown

    def warm(self, cancel: threading.Event | None = None) -> int:
        return self.ladder.warm(char_tokens(text_prompt(FILE)),
                                [text_prompt(FILE[-size:]) for size in RUNGS],
                                cancel or threading.Event())


def window(size: int) -> list[int]:
    return char_tokens(text_prompt(FILE[-size:]))


FULL = char_tokens(text_prompt(FILE))


@pytest.mark.parametrize("ms_per_token, jump_ms", [(0.1, 300), (1.0, 0), (None, 300)],
                         ids=["starts-in-time", "ladder-off", "speed-unknown"])
def test_without_a_jump_the_full_window_serves(ms_per_token, jump_ms) -> None:
    setup = Setup(jump_ms=jump_ms)
    setup.ladder.speed.ms_per_token = ms_per_token  # 3000 tokens at 0.1 ms: within 1000 ms
    assert setup.ask() == (FULL, False, 0)
    assert not setup.ladder.climbing
    assert setup.tokenized == []  # the common case plans nothing: no rung is tokenized


def test_after_a_jump_the_largest_rung_that_starts_within_jump_ms_serves() -> None:
    setup = Setup()  # 3000 tokens would take 3 s: more than jump_start_ms
    assert setup.ask() == (window(250), True, 0)  # 400 tokens take more than 300 ms
    assert setup.ladder.climbing and setup.cache.background == []
    # None starts in time: the smallest serves.
    assert Setup(jump_ms=50).ask() == (window(100), True, 0)
    # A window that does not fit beside the full cache with its generation is no rung.
    assert Setup(jump_ms=2000).ask(rungs=(100, 800, 1600)) == (window(800), True, 0)


def test_an_awaited_request_grows_nothing_first() -> None:
    setup = Setup()
    setup.ask()
    assert setup.ask(awaited=True) == (window(250), True, 0)
    assert setup.cache.grown == [] and setup.choose_s == 0
    # Not awaited, the same request grows the next window first.
    assert setup.ask()[2] > 0


def test_growth_before_generating_is_bounded_by_grow_ms() -> None:
    setup = Setup(jump_ms=280)
    setup.ask()  # the jump: the 250-token window is served, and now cached
    tokens, short, grown = setup.ask()
    assert (tokens, short) == (window(250), True)
    # A chunk, one cut to end at GROW_MS and, where the cut left a moment (under a
    # token's time), one of the smallest size (8 tokens): at most GROW_MS and 8 tokens.
    assert setup.cache.grown[0] == 64 and all(size < 64 for size in setup.cache.grown[1:])
    assert GROW_MS - 1 <= grown <= GROW_MS + 8
    assert setup.cache.background == window(400)[:grown]
    assert GROW_MS / 1000 <= setup.choose_s <= (GROW_MS + 8) / 1000
    # Where what grew brings the next window within jump_ms, that one serves from it.
    setup = Setup(jump_ms=300)
    setup.ask()
    tokens, short, grown = setup.ask()
    assert (tokens, short) == (window(400), True) and setup.cache.promoted == [grown]


def test_growth_before_generating_evaluates_at_least_one_chunk() -> None:
    setup = Setup(ms_per_token=50)  # a busy machine: 8 tokens take 400 ms
    assert setup.ask() == (window(100), True, 0)
    assert setup.ask() == (window(100), True, 8)
    assert setup.choose_s == pytest.approx(0.4)  # more than GROW_MS: it still climbs


def test_warm_climbs_rung_by_rung_to_the_full_window() -> None:
    setup = Setup()
    setup.ask()
    assert setup.warm() == 399 + 799 + 2999 + 1  # each rung but its last token, then that
    assert setup.cache.promoted == [399, 799, 2999]
    assert setup.cache.main == FULL and setup.cache.background == []
    assert not setup.ladder.climbing
    assert setup.ask() == (FULL, False, 0)


def test_a_cancelled_warm_keeps_its_progress() -> None:
    setup = Setup()
    setup.ask()
    setup.cache.cancel_after = 600  # a keystroke while the 800-token window grows
    grown = setup.warm()
    assert grown == 399 + 256 and setup.cache.promoted == [399]
    assert setup.cache.background == window(800)[:256]
    setup.cache.cancel_after = None
    setup.cache.grown.clear()
    assert setup.warm() == (799 - 256) + 2999 + 1  # on from where it was cancelled
    assert setup.cache.promoted == [399, 799, 2999]


def test_once_climbing_the_full_window_returns_only_when_it_starts_as_quickly_as_a_rung(
        ) -> None:
    setup = Setup()
    setup.ask()
    setup.cache.background = FULL[:2500]  # 500 tokens away: under jump_start_ms
    assert setup.ask(awaited=True) == (window(250), True, 0)  # but over jump_ms
    fresh = Setup()  # the same caches, off the ladder: the full window serves
    fresh.cache.main, fresh.cache.background = list(setup.cache.main), FULL[:2500]
    assert fresh.ask(awaited=True) == (FULL, False, 0)
    setup.cache.background = FULL[:2900]  # 100 tokens away: as quick as a rung
    assert setup.ask(awaited=True) == (FULL, False, 0)
    assert setup.cache.promoted == [2900] and not setup.ladder.climbing


def test_the_prompt_speed_follows_a_busy_machine_and_ignores_one_short_chunk() -> None:
    """A moving estimate from the real evaluations: the first measurement sets it, a
    too-short one is ignored, one chunk moves it a little, whole windows most of the way."""
    speed = PromptSpeed()
    speed.measured(10, 1.0)  # too short to tell
    assert speed.ms_per_token is None
    speed.measured(3000, 3.0)  # quiet: 1 ms a token
    assert speed.ms_per_token == pytest.approx(1.0)
    speed.measured(64, 64 * 0.010)  # one chunk slowed by a hiccup: 10 ms a token
    assert 1.5 < speed.ms_per_token < 2.5
    speed.measured(3000, 3.0)  # quiet again
    assert speed.ms_per_token < 1.2
    for _ in range(3):  # another program took a core: 2 ms a token, window after window
        speed.measured(3000, 6.0)
    assert speed.ms_per_token == pytest.approx(2.0, rel=0.02)
