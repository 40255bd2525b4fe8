"""How fast this machine evaluates prompts now: a moving estimate (pure).

The KV cache reads it to tell where evaluating moved runs again is quick enough to be
exact, and the jump ladder to tell a jump and to size its background work. It is
measured from the real evaluations as they run, not fixed at load: when another program
takes a core, the estimate follows within a request or two, and the ladder plans for
the machine as it is.
"""

from __future__ import annotations

PROMPT_CHUNK = 64  # tokens evaluated between two looks at the cancel flag
SPEED_MEMORY_TOKENS = 512  # a new measurement of this many tokens weighs half
BACKGROUND_CHUNK_MS = 100  # background work (warm-ups) yields to a request within about this


class PromptSpeed:
    """Prompt evaluation speed: None before the first evaluation long enough to tell."""

    def __init__(self) -> None:
        self.ms_per_token: float | None = None

    def measured(self, evaluated: int, seconds: float) -> None:
        """Move the estimate towards a measurement (of an evaluation long enough to tell),
        by the measurement's weight: a chunk of 64 tokens moves it a ninth of the way, a
        whole window of 3,000 most of it."""
        if evaluated < PROMPT_CHUNK:
            return
        now = 1000 * seconds / evaluated
        if self.ms_per_token is None:
            self.ms_per_token = now
        else:
            weight = evaluated / (evaluated + SPEED_MEMORY_TOKENS)
            self.ms_per_token += weight * (now - self.ms_per_token)

    def background_chunk(self) -> int:
        """Tokens per chunk of background work: about BACKGROUND_CHUNK_MS of it, so that a
        request that comes waits at most that long for the chunk in progress (64 tokens
        take 0.4 s on two cores; 16 evaluate at 80% of their speed)."""
        if not self.ms_per_token:
            return PROMPT_CHUNK
        return max(16, min(PROMPT_CHUNK, int(BACKGROUND_CHUNK_MS / self.ms_per_token)))
