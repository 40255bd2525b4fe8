"""Token healing: a prompt that ends inside a word is backed up to a token boundary, and
the first generated tokens are held to writing the removed text again (pure).

A cursor after `self.buf` leaves the prompt ending in the tokens `self`, `.`, `buf`; the
model was trained on `buffer` as one token and gives the right continuation orders of
magnitude less probability after the split. Removing the last token(s) and letting the
model choose among the tokens that start with the removed text (`buffer`, `buf_size`)
gives it back its own tokenization (Microsoft's guidance library and Sweep do the same).
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

MAX_PIECE_BYTES = 64  # no token's text is longer


class PieceIndex:
    """A vocabulary's token texts (bytes), sorted, for prefix lookups."""

    def __init__(self, pieces: Sequence[bytes]) -> None:
        """`pieces[token]` is the text of each token id (b"" for special tokens)."""
        order = sorted((piece, token) for token, piece in enumerate(pieces) if piece)
        self._sorted = [piece for piece, _ in order]
        self._tokens = [token for _, token in order]
        self._exact: dict[bytes, list[int]] = {}
        self._stripped: dict[bytes, list[int]] = {}  # by the text after their whitespace
        for piece, token in order:
            self._exact.setdefault(piece, []).append(token)
            if piece.lstrip():
                self._stripped.setdefault(piece.lstrip(), []).append(token)

    def consistent(self, remaining: bytes) -> list[int]:
        """The tokens that can come next while `remaining` is still to be written: those
        that start with it, and those that are a beginning of it."""
        low = bisect.bisect_left(self._sorted, remaining)
        high = bisect.bisect_left(self._sorted, remaining + b"\xff" * 8)
        tokens = self._tokens[low:high]
        for size in range(1, len(remaining)):
            tokens += self._exact.get(remaining[:size], ())
        return tokens

    def beginning(self, text: bytes) -> list[int]:
        """The tokens whose text, after any leading whitespace, is a beginning of `text`
        (those that would start writing it)."""
        return [token for size in range(1, min(len(text), MAX_PIECE_BYTES) + 1)
                for token in self._stripped.get(text[:size], ())]


class Healing:
    """The constraint for one generation: the text it must write first."""

    def __init__(self, removed: bytes, index: PieceIndex) -> None:
        self.remaining = removed
        self.index = index

    @property
    def active(self) -> bool:
        return bool(self.remaining)

    def allowed(self) -> list[int]:
        """The tokens the next step may take."""
        return self.index.consistent(self.remaining)

    def wrote(self, piece: bytes) -> None:
        """A token with text `piece` was taken."""
        self.remaining = self.remaining[len(piece):] if self.remaining.startswith(piece) \
            else b""


def backed_up(tokens: Sequence[int], pieces: Sequence[bytes], limit: int = 1
              ) -> tuple[list[int], bytes]:
    """The prompt's tokens without its last `limit` token(s) when they are text that a
    longer token could continue (ending in a letter, a digit or an operator: not in
    whitespace, and not a special token), and the text removed."""
    kept, removed = list(tokens), b""
    for _ in range(limit):
        if not kept:
            break
        piece = pieces[kept[-1]]
        if not piece or piece[-1:].isspace():
            break
        kept.pop()
        removed = piece + removed
    return kept, removed
