"""The gate's calibration on benchmark logs (benchmarks/confidence_fit.py): the fit
learns which evidence goes with right answers, and the threshold keeps its promise on
the log it was chosen on."""

from __future__ import annotations

import json
import random
from pathlib import Path

from benchmarks import cold_open
from benchmarks.confidence_fit import REAL_CODE, fit, gate, read, threshold
from benchmarks.humaneval_infill.__main__ import SERVER
from refact_lsp.confidence import Evidence


def _log(path: Path, count: int, seed: int) -> Path:
    """Answers whose chance of being right grows with their mean log-probability; some
    not shown, some from the cache (no evidence), and the raw model's lines between."""
    rng = random.Random(seed)
    lines = []
    for number in range(count):
        mean = -rng.random() * 2
        right = rng.random() < 1 / (1 + pow(2.718, -(2 + 3 * mean)))
        evidence = {"mean_logprob": mean, "min_logprob": 2 * mean, "tokens": 5,
                    "short_window": False}
        shown = number % 10 != 0
        lines.append({"system": SERVER, "task": f"HumanEval/{number}/single/L3",
                      "passed": right and shown, "middle": "x" if shown else "",
                      "evidence": evidence if shown and number % 7 else None})
        lines.append({"system": "raw model, first line", "task": "HumanEval/0/single/L3",
                      "passed": True, "middle": "x"})
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def test_the_fit_learns_that_surer_answers_are_right_more_often(tmp_path: Path) -> None:
    asked = read([_log(tmp_path / "fit.jsonl", 600, 0)])
    assert len(asked) == 600 and sum(not item.shown for item in asked) == 60
    weights = fit(asked)
    assert weights.mean_logprob + 2 * weights.min_logprob > 1  # surer: more likely right
    chosen = threshold(asked, weights, max_right_lost=0.05)
    assert 0 < chosen < 1
    off, on = gate(asked, weights, 0.0), gate(asked, weights, chosen)
    assert off.withheld_right == off.withheld_wrong == 0 and off.shown == 540
    right = sum(item.right for item in asked if item.shown)
    assert on.withheld_right <= 0.05 * right < on.withheld_wrong
    assert on.shown + on.withheld_right + on.withheld_wrong == off.shown
    cached = sum(item.shown and item.evidence is None for item in asked)
    assert on.shown >= cached  # no evidence: always shown


def test_a_real_code_log_is_read_right_where_the_first_line_is_the_authors(
        tmp_path: Path) -> None:
    evidence = {"mean_logprob": -0.2, "min_logprob": -0.9, "tokens": 6, "short_window": True}
    lines = [{"system": cold_open.SERVER, "shown": True, "exact": True, "evidence": evidence},
             {"system": cold_open.SERVER, "shown": True, "exact": False, "evidence": None},
             {"system": cold_open.SERVER, "shown": False, "exact": False, "evidence": None},
             {"system": cold_open.RAW, "shown": True, "exact": True, "evidence": None}]
    path = tmp_path / "cold.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    asked = read([path])
    assert [(item.kind, item.shown, item.right) for item in asked] == [
        (REAL_CODE, True, True), (REAL_CODE, True, False), (REAL_CODE, False, False)]
    assert asked[0].evidence == Evidence(-0.2, -0.9, 6, short_window=True)
