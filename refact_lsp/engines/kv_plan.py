"""Which cached tokens a new prompt can keep, and where they go (pure).

A FIM prompt is the text around the cursor cut in two, so a jump of the cursor to
another function moves text from one side of the hole to the other but keeps almost all
of it. llama.cpp's server (`--cache-reuse`) keeps runs of cached tokens that a new prompt
repeats after a deletion, shifted left. Here a run is kept wherever the new prompt has it,
left or right of where it was and in any order; only the tokens between runs (the FIM
markers, the words at the cut) are evaluated afresh. A kept run's cells were computed
after other text than now comes before them: close to a fresh evaluation, not equal to it,
the trade llama.cpp's server makes too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

ANCHOR = 8  # runs are found from this many equal tokens on
MAX_ANCHORED = 32  # places tried per anchor (repetitive text has many)
MIN_KEPT_RUN = 32  # a shorter run of cached tokens is evaluated again, not moved


@dataclass(frozen=True)
class Run:
    """`length` cached tokens at position `old` that the new prompt has at `new`."""

    new: int
    old: int
    length: int


def plan(old: Sequence[int], new: Sequence[int], min_run: int) -> list[Run]:
    """Runs of `old` to keep for `new`, in the new prompt's order, none shorter than
    `min_run` except the common prefix, which is kept in place. Each cached token is used
    at most once; the new prompt's last token is never covered (its logits start the
    generation). With `min_run` 0 only the common prefix is kept."""
    old, new = list(old), list(new)
    end = len(new) - 1
    head = common_prefix(old, new[:end])
    runs = [Run(0, 0, head)] if head else []
    if min_run <= 0:
        return runs
    used = [False] * len(old)
    used[:head] = [True] * head
    anchors: dict[tuple[int, ...], list[int]] = {}
    for start in range(head, len(old) - ANCHOR + 1):
        anchors.setdefault(tuple(old[start:start + ANCHOR]), []).append(start)
    while head + max(min_run, ANCHOR) <= end:
        best = Run(head, 0, 0)
        for start in anchors.get(tuple(new[head:head + ANCHOR]), [])[:MAX_ANCHORED]:
            length = 0
            while (head + length < end and start + length < len(old)
                   and not used[start + length] and old[start + length] == new[head + length]):
                length += 1
            if length > best.length:
                best = Run(head, start, length)
        if best.length >= min_run:
            runs.append(best)
            used[best.old:best.old + best.length] = [True] * best.length
            head += best.length
        else:
            head += 1
    return runs


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """How many leading tokens `a` and `b` share."""
    for index, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return index
    return min(len(a), len(b))


def dropped(runs: Sequence[Run], cached: int) -> list[tuple[int, int]]:
    """The ranges of cache positions below `cached` that no run keeps."""
    return _uncovered(sorted((run.old, run.length) for run in runs), cached)


def gaps(runs: Sequence[Run], total: int) -> list[tuple[int, int]]:
    """The ranges of new-prompt positions below `total` that no run covers."""
    return _uncovered([(run.new, run.length) for run in runs], total)


def _uncovered(spans: Sequence[tuple[int, int]], end: int) -> list[tuple[int, int]]:
    """What (start, length) spans in order leave of range(end), as (start, stop) ranges."""
    ranges = []
    position = 0
    for start, length in spans:
        if start > position:
            ranges.append((position, start))
        position = start + length
    if position < end:
        ranges.append((position, end))
    return ranges
