"""Acceptance counts: shown, accepted whole or in part, per language, bounded memory, and
the totals file that several servers add to."""

from __future__ import annotations

import json
import threading

from refact_lsp import acceptance
from refact_lsp.acceptance import Acceptance, Counts, Tally, add_to_totals, read_totals


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_suggestion_counts_once_shown_however_many_alternatives_it_has() -> None:
    counts = Acceptance()
    ids = counts.shown("python", ["return x", "return y", "pass"])
    assert len(set(ids)) == 3
    assert counts.shown("python", []) == []  # nothing shown: nothing counted
    assert counts.tally.total == Counts(shown=1)
    assert counts.accepted(ids[1]) and counts.accepted(ids[0])  # the second changes nothing
    assert counts.tally.total == Counts(shown=1, accepted=1, accepted_chars=8)


def test_partial_accepts_count_once_and_their_characters_as_they_grow() -> None:
    counts = Acceptance()
    [item] = counts.shown("go", ["fmt.Println(x)"])
    assert counts.partially_accepted(item, 4)  # "fmt."
    assert counts.partially_accepted(item, 12)
    assert counts.partially_accepted(item, 3)  # less than before: no change
    assert counts.tally.total == Counts(shown=1, partially_accepted=1, accepted_chars=12)
    assert counts.tally.as_json()["byLanguage"]["go"]["partiallyAccepted"] == 1


def test_a_partial_accept_that_reaches_the_whole_text_is_an_accept() -> None:
    counts = Acceptance()
    [first] = counts.shown("python", ["abc"])
    counts.partially_accepted(first, 1)
    counts.partially_accepted(first, 99)  # past the end: the whole text
    [second] = counts.shown("rust", ["xyz"])
    counts.partially_accepted(second, 3)
    counts.accepted(second)  # after the whole was taken: nothing more
    assert counts.tally.total == Counts(shown=2, accepted=2, accepted_chars=6)
    assert counts.tally.by_language["python"] == Counts(shown=1, accepted=1, accepted_chars=3)


def test_unknown_old_and_malformed_ids_count_nothing() -> None:
    counts = Acceptance(remembered=2)
    [oldest] = counts.shown("python", ["a"])
    counts.shown("python", ["b"])
    newest, _ = counts.shown("python", ["c", "d"])
    for item in (oldest, "", "x.y", newest + "0", newest[:-1] + "7", newest[:-1] + "\u0660",
                 newest.rpartition(".")[0], "../etc"):
        assert not counts.accepted(item)
        assert not counts.partially_accepted(item, 1)
    assert not counts.partially_accepted(newest, 0) and not counts.partially_accepted(newest, -5)
    assert counts.tally.total == Counts(shown=3)
    assert len(counts._shown) == 2  # bounded memory


def test_another_runs_ids_name_nothing_here() -> None:
    [item] = Acceptance().shown("python", ["a"])
    assert not Acceptance().accepted(item)


def test_languages_past_the_limit_are_counted_together(monkeypatch) -> None:
    monkeypatch.setattr(acceptance, "MAX_LANGUAGES", 2)
    counts = Acceptance()
    for language in ("python", "go", "rust", "zig", ""):
        counts.shown(language, ["x"])
    assert counts.tally.by_language == {"python": Counts(shown=1), "go": Counts(shown=1),
                                        "other": Counts(shown=3)}


def test_totals_are_saved_when_due_and_add_up_across_servers(tmp_path) -> None:
    path = tmp_path / "cache" / acceptance.TOTALS_FILE
    clock = Clock()
    first, second = Acceptance(clock=clock), Acceptance(clock=clock)
    item = first.shown("python", ["return 1"])[0]
    first.accepted(item)
    assert not first.save_due()  # saved at most once a minute
    clock.now += acceptance.SAVE_EVERY_S
    assert first.save_due()
    first.save(path)
    assert not first.save_due()  # nothing new
    [part] = second.shown("go", ["abcdef"])
    second.partially_accepted(part, 2)
    second.save(path)
    first.shown("python", ["x"])
    first.save(path)  # only what is new since the last save is added
    totals = read_totals(path)
    assert totals.total == Counts(shown=3, accepted=1, partially_accepted=1, accepted_chars=10)
    assert totals.by_language["go"] == Counts(shown=1, partially_accepted=1, accepted_chars=2)


def test_a_partial_accept_made_whole_after_a_save_moves_between_counts(tmp_path) -> None:
    path = tmp_path / acceptance.TOTALS_FILE
    counts = Acceptance()
    [item] = counts.shown("python", ["abcd"])
    counts.partially_accepted(item, 2)
    counts.save(path)
    counts.accepted(item)
    counts.save(path)
    assert read_totals(path).total == Counts(shown=1, accepted=1, accepted_chars=4)


def test_a_damaged_totals_file_reads_as_zeros_and_is_replaced(tmp_path) -> None:
    path = tmp_path / acceptance.TOTALS_FILE
    for content in ("{not json", "[1, 2]", '{"shown": "many", "byLanguage": 7}',
                    '{"shown": true, "accepted": 2}'):
        path.write_text(content)
        assert read_totals(path).total.shown == 0
    assert read_totals(tmp_path / "none.json") == Tally()
    add_to_totals(path, Tally(Counts(shown=1)))
    assert json.loads(path.read_text())["shown"] == 1
    assert json.loads(path.read_text())["accepted"] == 2  # what could be read is kept


def test_servers_adding_at_once_lose_nothing(tmp_path) -> None:
    path = tmp_path / acceptance.TOTALS_FILE
    threads = [threading.Thread(target=lambda: [add_to_totals(
        path, Tally(Counts(shown=1), {"c": Counts(shown=1)})) for _ in range(20)])
        for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert read_totals(path).total.shown == 80
    assert read_totals(path).by_language["c"].shown == 80
