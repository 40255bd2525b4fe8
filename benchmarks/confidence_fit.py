"""Calibrates the confidence gate (refact_lsp/confidence.py) on HumanEval infilling and
real-code logs, and reports what it would withhold on other logs.

    .venv/bin/python -m benchmarks.confidence_fit --fit A.jsonl [B.jsonl ...] \\
        [--report C.jsonl ...] [--max-right-lost 0.05]

The logs are `humaneval_infill --log` and `cold_open --log` files of the server with the
gate off: each shown suggestion carries what the model said of it (`evidence`: mean and
least token log-probability, whether a smaller window wrote it) and whether it
was right (the tests passed; on real code, the first line is the author's). `--fit`
fits the logistic weights on those and chooses the highest `minConfidence` that
withholds at most `--max-right-lost` of the right suggestions there; `--report` prints,
for each log, coverage (shown among asked) and precision (right among shown) without
and with that gate, and how many wrong and right suggestions it withholds. A suggestion
served from the suggestion cache carries no evidence and is always shown, as in the
server. Fit on one sample (a seed) and report on another.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks import cold_open
from benchmarks.humaneval_infill.__main__ import SERVER, log_lines
from refact_lsp.confidence import Evidence, Weights

REAL_CODE = "real code"


@dataclass(frozen=True)
class Asked:
    """One task asked of the server: shown or not, right or not, and the evidence."""

    kind: str
    shown: bool
    right: bool
    evidence: Evidence | None


def read(paths: Sequence[str | Path]) -> list[Asked]:
    """The server's answers in humaneval_infill logs (right: the tests pass) and in
    cold_open logs (kind "real code"; right: the first line is the author's)."""
    asked = []
    for line in log_lines(paths):
        entry = json.loads(line)
        found = entry.get("evidence")
        evidence = Evidence(found["mean_logprob"], found["min_logprob"], found["tokens"],
                            found["short_window"]) if found else None
        if entry["system"] == SERVER:
            asked.append(Asked(entry["task"].split("/")[2], bool(entry["middle"]),
                               entry["passed"], evidence))
        elif entry["system"] == cold_open.SERVER:
            asked.append(Asked(REAL_CODE, entry["shown"], entry["exact"], evidence))
    return asked


def _features(evidence: Evidence) -> list[float]:
    return [1.0, evidence.mean_logprob, evidence.min_logprob, float(evidence.short_window)]


def fit(asked: Sequence[Asked], l2: float = 1e-2) -> Weights:
    """Logistic regression of right on the evidence of the shown suggestions (Newton's
    method, a little L2 so that a feature that never varies stays at 0)."""
    sure = [item for item in asked if item.shown and item.evidence is not None]
    x = np.array([_features(item.evidence) for item in sure])  # type: ignore[arg-type]
    y = np.array([item.right for item in sure], dtype=float)
    w = np.zeros(x.shape[1])
    for _ in range(50):
        p = 1 / (1 + np.exp(-np.clip(x @ w, -60, 60)))
        gradient = x.T @ (p - y) + l2 * w
        hessian = (x.T * (p * (1 - p))) @ x + l2 * np.eye(len(w))
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return Weights(bias=float(w[0]), mean_logprob=float(w[1]), min_logprob=float(w[2]),
                   short_window=float(w[3]))


@dataclass(frozen=True)
class Gated:
    asked: int
    shown: int
    right: int
    withheld_wrong: int
    withheld_right: int

    def row(self) -> str:
        coverage = 100 * self.shown / max(1, self.asked)
        precision = 100 * self.right / max(1, self.shown)
        return (f"shown {self.shown:>4} of {self.asked:<4} ({coverage:5.1f}%)  right "
                f"{self.right:>4} ({precision:5.1f}% of shown)  withheld: "
                f"{self.withheld_wrong} wrong, {self.withheld_right} right")


def gate(asked: Sequence[Asked], weights: Weights, min_confidence: float) -> Gated:
    """What the gate at `min_confidence` leaves shown of these answers."""
    shown = right = withheld_wrong = withheld_right = 0
    for item in asked:
        if not item.shown:
            continue
        if item.evidence is not None and weights.score(item.evidence) < min_confidence:
            withheld_right += item.right
            withheld_wrong += not item.right
            continue
        shown += 1
        right += item.right
    return Gated(len(asked), shown, right, withheld_wrong, withheld_right)


def threshold(asked: Sequence[Asked], weights: Weights, max_right_lost: float) -> float:
    """The highest score threshold that withholds at most this share of the right
    suggestions (scores are tried where they occur)."""
    right = sum(item.right for item in asked if item.shown)
    best = 0.0
    for score in sorted({round(weights.score(item.evidence), 3) for item in asked
                         if item.shown and item.evidence is not None}):
        if gate(asked, weights, score).withheld_right > max_right_lost * right:
            break
        best = score
    return best


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fit", nargs="+", required=True, metavar="LOG")
    parser.add_argument("--report", nargs="*", default=[], metavar="LOG")
    parser.add_argument("--max-right-lost", type=float, default=0.05)
    args = parser.parse_args(argv)
    fitted = read(args.fit)
    weights = fit(fitted)
    chosen = threshold(fitted, weights, args.max_right_lost)
    print(f"fitted on {sum(item.evidence is not None for item in fitted)} shown suggestions "
          f"with evidence ({', '.join(map(str, args.fit))}):")
    print(f"  {weights}")
    print(f"  minConfidence {chosen:.3f}: withholds at most "
          f"{100 * args.max_right_lost:.0f}% of the right ones there")
    for path in [*args.fit, *args.report]:
        asked = read([path])
        for kind in dict.fromkeys(item.kind for item in asked):
            mine = [item for item in asked if item.kind == kind]
            print(f"\n{path} ({kind}{', fit' if path in args.fit else ''}):")
            print(f"  without the gate      {gate(mine, weights, 0.0).row()}")
            print(f"  minConfidence {chosen:.3f}   {gate(mine, weights, chosen).row()}")


if __name__ == "__main__":
    main()
