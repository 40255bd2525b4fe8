"""What a new prompt keeps of the cached one (pure: token lists in, runs out)."""

from __future__ import annotations

from refact_lsp.engines.kv_plan import Run, dropped, gaps, plan

A, B, C = list(range(100, 140)), list(range(200, 240)), list(range(300, 340))
FIM = [1, 2, 3]  # stand-ins for the special tokens between the texts


def test_the_common_prefix_is_kept_in_place_and_the_last_token_never() -> None:
    assert plan(A + B, A + B, 32) == [Run(0, 0, len(A + B) - 1)]
    assert plan(A, A + [7], 0) == [Run(0, 0, len(A))]


def test_runs_are_kept_wherever_the_new_prompt_has_them() -> None:
    # A cursor that jumped: text moved from the suffix side to the prefix side.
    old = [FIM[0]] + A + [FIM[1]] + B + C + [FIM[2]]
    new = [FIM[0]] + A + B + [FIM[1]] + C + [FIM[2]]
    runs = plan(old, new, 32)
    assert runs[:2] == [Run(0, 0, 1 + len(A)), Run(1 + len(A), 2 + len(A), len(B))]
    kept = sum(run.length for run in runs)
    assert kept == len(new) - 2  # all but the moved marker and the last token
    for run in runs:
        assert old[run.old:run.old + run.length] == new[run.new:run.new + run.length]


def test_runs_go_back_to_front_and_each_cached_token_is_used_once() -> None:
    runs = plan(B + A, A + B + A + [9], 32)
    assert [(run.new, run.old) for run in runs] == [(0, len(B)), (len(A), 0)]
    assert sum(run.length for run in runs) == len(A + B)


def test_short_runs_are_evaluated_again_and_zero_keeps_the_prefix_only() -> None:
    assert plan(A[:20] + B, B + A[:20] + [9], 32) == [Run(0, 20, len(B))]
    assert plan(A + B, [5] + A + B, 0) == []


def test_what_is_dropped_and_what_is_left_to_evaluate() -> None:
    runs = [Run(0, 0, 10), Run(10, 30, 20), Run(40, 60, 5)]
    assert dropped(runs, 80) == [(10, 30), (50, 60), (65, 80)]
    assert gaps(runs, 50) == [(30, 40), (45, 50)]
