"""Prompt-lookup drafts (pure): what is proposed, where it stops, what is accepted."""

from __future__ import annotations

from refact_lsp.engines.lookup import DraftSource, accepted


def test_the_tokens_after_the_longest_matching_tail_are_proposed() -> None:
    source = DraftSource([[1, 2, 3, 4, 5, 6, 7], [9, 2, 3, 8, 8]])
    assert source.propose([0, 2, 3]) == [8, 8]  # the newest occurrence of (2, 3)
    assert source.propose([1, 2, 3]) == [4, 5, 6, 7]  # the longer tail (1, 2, 3) wins
    assert source.propose([4, 5], limit=2) == [6, 7]
    assert source.propose([42, 43]) == [] and source.propose([5]) == []


def test_no_draft_crosses_from_one_sequence_into_the_next() -> None:
    source = DraftSource([[1, 2, 3], [4, 5, 6]])
    assert source.propose([1, 2]) == [3]
    assert source.propose([2, 3]) == []  # what followed was another file
    assert source.propose([3, 4]) == []  # no n-gram spans the join


def test_generated_tokens_are_looked_up_but_never_propose_themselves() -> None:
    source = DraftSource([[10, 11, 12]])
    source.add([])  # the generation, a sequence of its own
    source.extend([20, 21, 22, 23])
    assert source.propose([20, 21]) == [22, 23]
    assert source.propose([22, 23]) == []  # its only occurrence is the tail itself
    source.extend([20, 21])
    assert source.propose([20, 21]) == [22, 23, 20, 21]


def test_a_draft_holds_up_to_the_first_disagreement() -> None:
    assert accepted([5, 6, 7], [5, 6, 9, 7]) == 2
    assert accepted([5, 6], [5, 6, 1]) == 2
    assert accepted([5], [4]) == 0 and accepted([], [1]) == 0
