"""The confidence gate's arithmetic (pure)."""

from __future__ import annotations

from refact_lsp.confidence import CALIBRATED, Evidence, evidence, score, worth_showing


def test_evidence_covers_the_tokens_of_the_shown_text_only() -> None:
    tokens = [(4, -0.1), (9, -0.2), (12, -3.0), (20, -5.0)]
    found = evidence(tokens, 9, short_window=False)
    assert found == Evidence(mean_logprob=-0.15000000000000002, min_logprob=-0.2, tokens=2,
                             short_window=False)
    assert evidence(tokens, 10, False).tokens == 3  # a token that starts inside counts
    assert evidence([], 9, False) is None and evidence(tokens, 0, False) is None


def test_surer_answers_score_higher() -> None:
    sure = Evidence(-0.05, -0.3, 5, False)
    unsure = Evidence(-1.5, -6.0, 5, False)
    assert 0 < score(unsure) < CALIBRATED < score(sure) < 1
    assert score(Evidence(-0.05, -3.0, 5, False)) < score(sure)  # one unsure token counts


def test_the_gate_withholds_below_the_threshold_and_never_without_evidence() -> None:
    unsure = Evidence(-1.5, -6.0, 5, False)
    assert not worth_showing(unsure, 0.5)
    assert worth_showing(unsure, 0.0)  # off
    assert worth_showing(None, 0.99)  # an engine without probabilities
