"""Whether a suggestion is worth showing, from what the model says of it (pure).

A wrong suggestion costs the person a read and a rejection; an empty one costs nothing.
The model's own token probabilities tell which answers it was unsure of: the mean and
the least log-probability of the tokens that wrote what would be shown (not of the text
the stop rules cut away), and whether the answer came from a smaller window after a
jump (less context, more often wrong at the same probabilities). `score` folds them into
one number in (0, 1), an estimate of the chance that the suggestion is right, and the
`minConfidence` setting withholds suggestions below it (0, the default: show everything).

The weights are fitted (benchmarks/confidence_fit.py) for qwen2.5-coder-0.5b on
HumanEval single-line answers and on real code opened cold (benchmarks/cold_open.py),
one sample each (seed 1, 169 shown suggestions, 2026-12-03), and the threshold that
withholds at most a twentieth of the right ones there is 0.19 (`CALIBRATED`). On the
other samples (seed 0) it withheld 32 of 54 wrong suggestions on real code for 1 of 14
right ones, and 3 of 21 wrong for 1 of 72 right on HumanEval: together 35 of 75 wrong
for 2 of 86 right. Random-span answers (a hole of random characters) it leaves alone:
their wrong ones are as sure as the right ones (they end where the hole's random end
is not). At the same probabilities an answer from a smaller window is right less often.
The gate is off by default: its weights hold for the model they were fitted on, and
Refact-1.6B's probabilities could not be measured.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Evidence:
    """What the model said of one suggestion."""

    mean_logprob: float  # over the tokens that wrote the shown text
    min_logprob: float
    tokens: int
    short_window: bool


@dataclass(frozen=True)
class Weights:
    """A logistic model of P(right | evidence)."""

    bias: float
    mean_logprob: float
    min_logprob: float
    short_window: float

    def score(self, evidence: Evidence) -> float:
        z = (self.bias + self.mean_logprob * evidence.mean_logprob
             + self.min_logprob * evidence.min_logprob
             + self.short_window * evidence.short_window)
        return 1 / (1 + math.exp(-max(-60.0, min(60.0, z))))


WEIGHTS = Weights(bias=2.90, mean_logprob=0.94, min_logprob=2.36, short_window=-1.73)
CALIBRATED = 0.19  # a `minConfidence` that keeps 95% of the right suggestions (above)


def evidence(token_logprobs: Sequence[tuple[int, float]], shown_chars: int,
             short_window: bool) -> Evidence | None:
    """The evidence for the first `shown_chars` characters of a raw output, from its
    tokens' (end, log-probability) pairs; None where the engine gave none."""
    used = [logprob for index, (end, logprob) in enumerate(token_logprobs)
            if index == 0 or token_logprobs[index - 1][0] < shown_chars]
    if not used or shown_chars <= 0:
        return None
    return Evidence(sum(used) / len(used), min(used), len(used), short_window)


def score(found: Evidence | None) -> float | None:
    """The estimated chance that the suggestion is right; None without evidence."""
    return WEIGHTS.score(found) if found is not None else None


def worth_showing(found: Evidence | None, min_confidence: float) -> bool:
    """Whether to show a suggestion: always without evidence (an engine that gives no
    probabilities) or with the gate off (`min_confidence` 0)."""
    chance = score(found)
    return min_confidence <= 0 or chance is None or chance >= min_confidence
