"""Token healing (pure): backing up to a token boundary, and the prefix constraint."""

from __future__ import annotations

from refact_lsp.engines.healing import Healing, PieceIndex, backed_up

PIECES = [b"", b"self", b".", b"buf", b"buffer", b"buf_size", b"b", b"uf", b"f", b" ",
          b"(", b"fer", b"\n", b" x"]


def test_the_last_token_of_text_is_removed_but_not_whitespace_or_a_special_token() -> None:
    assert backed_up([1, 2, 3], PIECES) == ([1, 2], b"buf")
    assert backed_up([1, 2, 3, 9], PIECES) == ([1, 2, 3, 9], b"")  # ends in a space
    assert backed_up([1, 12], PIECES) == ([1, 12], b"")  # a line break
    assert backed_up([1, 0], PIECES) == ([1, 0], b"")  # a special token
    assert backed_up([1, 13], PIECES) == ([1], b" x")  # " xs" may continue " x"
    assert backed_up([1, 2, 3], PIECES, limit=2) == ([1], b".buf")


def test_the_first_tokens_must_write_the_removed_text_again() -> None:
    index = PieceIndex(PIECES)
    healing = Healing(b"buf", index)
    assert sorted(healing.allowed()) == [3, 4, 5, 6]  # buf, buffer, buf_size, b
    healing.wrote(b"b")
    assert healing.active and sorted(healing.allowed()) == [7]  # uf
    healing.wrote(b"uf")
    assert not healing.active
    done = Healing(b"buf", index)
    done.wrote(b"buffer")  # longer than what was removed: the constraint is met
    assert not done.active


def test_the_tokens_that_would_begin_a_line_whatever_their_whitespace() -> None:
    """What an avoided line rules out as the output's first word (GenerationRequest)."""
    index = PieceIndex([b"", b"re", b" return", b"    ", b"resp", b"x", b"return size!"])
    assert sorted(index.beginning(b"return size")) == [1, 2]  # not "resp", not spaces
