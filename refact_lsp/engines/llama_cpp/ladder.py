"""After a jump: small windows first, each larger one grown in the background.

The full window serves unless it would take longer than `jump_start_ms` to start (at the
prompt speed last measured: the cursor jumped to code the cache does not hold). Then the
ladder serves: the request's smaller windows, smallest first, and then the full one; the
largest that starts within `jump_ms`, the smallest where none does. Meanwhile the next
larger one grows in the cache's background sequence, exactly, and becomes the main cache
once it holds it: quality climbs rung by rung to the full window.

The policy only: what the caches hold and what evaluating costs come from a `Cache` and
a clock, so that it is tested with fakes of both (tests/test_ladder.py).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from refact_lsp.engines.base import GenerationRequest
from refact_lsp.engines.kv_plan import MIN_KEPT_RUN
from refact_lsp.engines.llama_cpp.speed import PromptSpeed
from refact_lsp.prompts import Prompt

log = logging.getLogger(__name__)

GROW_MS = 100  # time a request typed in a smaller window spends growing the next first
JUMP_ROOM = 1536  # cells beside n_ctx for a smaller window and its generation


class Cache(Protocol):
    """What the ladder asks of a KV cache (kv_cache.KvCache)."""

    prompt_len: int  # tokens of the last prompt the main cache holds
    background: list[int]  # what the background sequence holds

    def fresh(self, tokens: list[int]) -> tuple[int, int]:
        """Tokens of `tokens` to evaluate from the main cache and from the background one."""

    def evaluate(self, tokens: list[int], cancel: threading.Event,
                 chunk: int) -> tuple[int, bool]:
        """Bring the main cache to hold `tokens`; returns (tokens reused, finished)."""

    def trim_background(self, target: list[int]) -> None: ...

    def background_has_room(self) -> bool: ...

    def grow_background(self, tokens: list[int], cancel: threading.Event) -> int: ...

    def promote(self) -> None: ...

    def drop_background(self) -> None: ...


class JumpLadder:
    def __init__(self, cache: Cache, tokenize: Callable[[Prompt], list[int]],
                 speed: PromptSpeed, jump_ms: float, jump_start_ms: float,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        """`clock` tells seconds, as time.perf_counter."""
        self.cache = cache
        self.tokenize = tokenize
        self.speed = speed
        self.jump_ms = jump_ms
        self.jump_start_ms = jump_start_ms
        self.clock = clock
        self.climbing = False  # smaller windows serve while larger ones grow

    def choose(self, full: list[int], request: GenerationRequest
               ) -> tuple[list[int], bool, int]:
        """The tokens to generate from, whether they are a smaller window's, and how many
        tokens of a larger window were evaluated first.

        A request typed inside a window already served spends GROW_MS on that growth
        first (a keystroke's request is mostly superseded before it could answer
        anyway); the first request after a jump does not, nor one a person likely
        waits for (`request.awaited`: at an empty line, where the growth goes on while
        the answer is read, see server.suggest).
        """
        if self._servable([full]) == 0:  # no jump: the common case plans nothing more
            self._serve(full, last=True)
            return full, False, 0
        ladder = [*self._rungs(request.short_prompts, full, request.max_tokens
                               * (1 + len(request.more_stops))), full]
        index, grown = self._servable(ladder), 0
        if 0 <= index < len(ladder) - 1 and not request.awaited \
                and self.cache.fresh(ladder[index])[0] <= MIN_KEPT_RUN:
            grown = self._grow(ladder[index + 1], request.cancel,
                               self.clock() + GROW_MS / 1000)
            index = self._servable(ladder)
        tokens = ladder[max(index, 0)]
        self._serve(tokens, last=tokens is full)
        if tokens is not full:
            log.debug("after a jump: a window of %d tokens of %d; %d evaluated behind it",
                      len(tokens), len(full), len(self.cache.background))
        return tokens, tokens is not full, grown

    def warm(self, tokens: list[int], short_prompts: Sequence[Prompt],
             cancel: threading.Event) -> int:
        """Evaluate `tokens` ahead of the request. Where they would not start within
        `jump_ms`, the ladder of windows grows in the background sequence, rung by rung,
        so that the window that serves meanwhile stays cached and a cancelled warm-up
        keeps its progress. Returns the number of tokens evaluated."""
        ladder = [*self._rungs(short_prompts, tokens, 0), tokens]
        grown = 0
        while (index := self._servable(ladder)) < len(ladder) - 1:
            self.climbing = True
            target = ladder[index + 1]
            grown += self._grow(target, cancel, math.inf)
            if len(self.cache.background) < len(target) - 1:
                return grown  # cancelled, or no cells left beside the main cache
            self.cache.promote()
        self._serve(tokens, last=True)
        reused, done = self.cache.evaluate(tokens, cancel, self.speed.background_chunk())
        return grown + (len(tokens) - reused if done else 0)

    def _rungs(self, prompts: Sequence[Prompt], full: list[int], room: int) -> list[list[int]]:
        """The smaller windows' tokens that fit beside a full cache, growing in size."""
        rungs: list[list[int]] = []
        for prompt in prompts:
            tokens = self.tokenize(prompt)
            if len(tokens) + room <= JUMP_ROOM and len(tokens) < len(full) \
                    and (not rungs or len(tokens) > len(rungs[-1])):
                rungs.append(tokens)
        return rungs

    def _servable(self, ladder: list[list[int]]) -> int:
        """The index of the largest window that either cache starts in time; -1 where
        none does. In time is within `jump_ms`, and for the full window (the last)
        within `jump_start_ms` unless smaller ones serve already: once on the ladder
        the full one returns only when it starts as quickly as a rung, so that a full
        window just under `jump_start_ms` away is not paid for in one wait."""
        ms_per_token = self.speed.ms_per_token
        if self.jump_ms <= 0 or ms_per_token is None:
            return len(ladder) - 1
        budget = self.jump_ms / ms_per_token
        start = budget if self.climbing else max(budget, self.jump_start_ms / ms_per_token)
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
        if len(tokens) - max(self.cache.prompt_len, len(self.cache.background)) > fresh:
            return False
        return min(self.cache.fresh(tokens)) <= fresh

    def _serve(self, tokens: list[int], last: bool) -> None:
        """Make the better cache for `tokens` the main one; with the `last` window
        (the full one) the background has nothing left to grow."""
        self.climbing = not last
        if not self.cache.background:
            return
        main, background = self.cache.fresh(tokens)
        if background < main:
            self.cache.promote()
        elif last:
            self.cache.drop_background()

    def _grow(self, target: list[int], cancel: threading.Event, until: float) -> int:
        """Evaluate more of `target` (all but its last token) into the background
        sequence, after what it already holds of it, a chunk at a time until `until`
        (a clock time; the last chunk is cut to end by then, and one chunk of at least
        8 tokens is evaluated however late: a busy machine still climbs), a
        cancellation, or the cells run out. Returns how many tokens it evaluated."""
        cache = self.cache
        cache.trim_background(target)
        grown = 0
        while len(cache.background) < len(target) - 1 \
                and ((now := self.clock()) < until or not grown) \
                and cache.background_has_room():
            size = self.speed.background_chunk()
            if until < math.inf and self.speed.ms_per_token:
                size = max(8, min(size, int((until - now) * 1000 / self.speed.ms_per_token)))
            start = len(cache.background)
            piece = target[start:min(len(target) - 1, start + size)]
            done = cache.grow_background(piece, cancel)
            self.speed.measured(done, self.clock() - now)
            grown += done
            if done < len(piece):
                break
        return grown
