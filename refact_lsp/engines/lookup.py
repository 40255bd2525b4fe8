"""Draft tokens looked up in the text the model already has (prompt-lookup decoding; pure).

Code repeats itself: names, arguments, whole lines of the code after the cursor. Where the
last few tokens of the prompt and the generation so far occurred before (in the prompt, in
what was generated), the tokens that followed them then are a good guess of what comes
next. The engine checks such a draft in one batch and keeps the tokens the model would
have chosen anyway: with greedy decoding the output is the same, in fewer decode steps.
This is llama.cpp's `ngram` speculation and Copilot's "prompt lookup".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

MAX_NGRAM = 4  # the longest context matched
MIN_NGRAM = 2  # the shortest: one token matches too often to be worth a draft
MAX_DRAFT = 8  # tokens proposed at once
SEPARATOR = -1  # between two sequences: no n-gram and no draft spans it


class DraftSource:
    """Token sequences to look drafts up in, indexed by their n-grams; the most recent
    occurrence of an n-gram that has a token after it wins."""

    def __init__(self, sequences: Iterable[Sequence[int]] = ()) -> None:
        self._tokens: list[int] = []
        self._after: dict[tuple[int, ...], int] = {}  # n-gram -> position after it
        self._indexed = 0  # n-grams ending before this position are indexed
        for sequence in sequences:
            self.add(sequence)

    def add(self, tokens: Sequence[int]) -> None:
        """A new sequence (an open file, the prompt)."""
        if self._tokens:
            self._tokens.append(SEPARATOR)
        self.extend(tokens)

    def extend(self, tokens: Sequence[int]) -> None:
        """More tokens of the last sequence (the ones just generated)."""
        self._tokens.extend(tokens)
        # An n-gram is indexed once a token follows it: the tail of what was generated
        # must find an earlier occurrence, not itself.
        for end in range(max(self._indexed, MIN_NGRAM), len(self._tokens)):
            for size in range(MIN_NGRAM, min(MAX_NGRAM, end) + 1):
                gram = tuple(self._tokens[end - size:end])
                if SEPARATOR in gram:
                    break
                self._after[gram] = end
        self._indexed = max(self._indexed, len(self._tokens))

    def propose(self, context: Sequence[int], limit: int = MAX_DRAFT) -> list[int]:
        """The tokens that followed the longest tail of `context` seen before, at most
        `limit`; empty where no tail of MIN_NGRAM tokens or more was seen."""
        for size in range(min(MAX_NGRAM, len(context)), MIN_NGRAM - 1, -1):
            after = self._after.get(tuple(context[len(context) - size:]))
            if after is None:
                continue
            draft = self._tokens[after:after + limit]
            if SEPARATOR in draft:
                draft = draft[:draft.index(SEPARATOR)]
            if draft:
                return draft
        return []


def accepted(draft: Sequence[int], chosen: Sequence[int]) -> int:
    """How many draft tokens the model confirms: `chosen[i]` is the token the model picks
    after the context and `draft[:i]`; the draft holds up to the first disagreement."""
    count = 0
    while count < len(draft) and count < len(chosen) and draft[count] == chosen[count]:
        count += 1
    return count
