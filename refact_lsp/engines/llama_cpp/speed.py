"""How fast this machine evaluates prompts, as last measured (pure).

The KV cache reads it to tell where evaluating moved runs again is quick enough to be
exact, and the jump ladder to tell a jump and to size its background work.
"""

from __future__ import annotations

PROMPT_CHUNK = 64  # tokens evaluated between two looks at the cancel flag
BACKGROUND_CHUNK_MS = 100  # background work (warm-ups) yields to a request within about this


class PromptSpeed:
    """Prompt evaluation speed: None before the first evaluation long enough to tell."""

    def __init__(self) -> None:
        self.ms_per_token: float | None = None

    def measured(self, evaluated: int, seconds: float) -> None:
        """Remember how fast prompts are evaluated (from evaluations long enough to tell)."""
        if evaluated >= PROMPT_CHUNK:
            self.ms_per_token = 1000 * seconds / evaluated

    def background_chunk(self) -> int:
        """Tokens per chunk of background work: about BACKGROUND_CHUNK_MS of it, so that a
        request that comes waits at most that long for the chunk in progress (64 tokens
        take 0.4 s on two cores; 16 evaluate at 80% of their speed)."""
        if not self.ms_per_token:
            return PROMPT_CHUNK
        return max(16, min(PROMPT_CHUNK, int(BACKGROUND_CHUNK_MS / self.ms_per_token)))
