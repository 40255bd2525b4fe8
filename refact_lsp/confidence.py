"""Whether a suggestion is worth showing, from what the model says of it (pure).

A wrong suggestion costs the person a read and a rejection; an empty one costs nothing.
The model's own token probabilities tell which answers it was unsure of: the mean and
the least log-probability of the tokens that wrote what would be shown (not of the text
the stop rules cut away), and whether the answer came from a smaller window after a
jump (less context, more often wrong at the same probabilities). `score` folds them into
one number in (0, 1), an estimate of the chance that the suggestion is right, and the
`minConfidence` setting withholds suggestions below it (0, the default: show everything).

The weights are fitted (benchmarks/confidence_fit.py) on HumanEval single-line and
random-span answers of one sample (seed 1, 127 shown suggestions, 2026-12-03), and the
threshold that withholds at most a twentieth of the right ones there is 0.28
(`CALIBRATED`). On another sample (seed 0) that threshold withheld 15 of 60 wrong
suggestions and 1 of 70 right ones. Smaller windows turned out no worse at the same
probabilities (their weight is small and noisy). The gate stays off by default until it
is calibrated on real code, not only on HumanEval.
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


WEIGHTS = Weights(bias=1.18, mean_logprob=3.75, min_logprob=1.23, short_window=0.35)
CALIBRATED = 0.28  # a `minConfidence` that keeps 95% of the right suggestions (above)


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
