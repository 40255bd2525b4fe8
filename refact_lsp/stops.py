"""When to complete, when to stop generating, and what of the output to keep.

Three steps, all pure:
1. `decide` looks at the cursor before generating: no completion, one line or a block.
2. `Stopper` is called after every generated token and ends generation as soon as the
   output has run past what belongs at the cursor, so no token is wasted.
3. `finish` trims the output against the text after the cursor and says which range of
   the line the suggestion replaces, so accepting it never doubles a character.

The generated text is "raw": where the cursor sits after only indentation, that
indentation is left out of the prompt (a model writes an indented line as one token
more naturally than it continues one) and the model is expected to write it again;
`Plan.heal` holds it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass

NONE, SINGLE, MULTI = "none", "single", "multi"
WORD = re.compile(r"\w")
BLOCK_OPENERS = (":", "{", "(", "[", "=>", "->", " do", " then", "=")
REPEATS_TO_STOP = 3


@dataclass(frozen=True)
class Plan:
    """What to generate at this cursor, decided before generating."""

    mode: str  # none | single | multi
    reason: str
    heal: str = ""  # indentation left out of the prompt that the output must start with
    min_indent: int = 0  # lines indented less than this end a block completion
    max_lines: int = 8
    line_suffix: str = ""
    next_lines: tuple[str, ...] = ()  # the first non-blank lines after the cursor's line
    time_budget_ms: int = 1000


def indent_width(line: str) -> int:
    stripped = line.lstrip(" \t")
    return len(line[:len(line) - len(stripped)].expandtabs(4))


def decide(line_prefix: str, line_suffix: str, suffix: str, situation: str = "code", *,
           max_lines: int = 8, time_budget_ms: int = 1000,
           complete_in_comments: bool = False) -> Plan:
    """Choose no completion, a single line, or a block, from the cursor's surroundings."""
    next_lines = tuple(line for line in suffix.split("\n")[1:] if line.strip())[:3]
    base = dict(line_suffix=line_suffix, next_lines=next_lines, max_lines=max_lines,
                time_budget_ms=time_budget_ms)
    if situation == "comment" and not complete_in_comments:
        return Plan(NONE, "inside a comment", **base)
    if line_prefix and WORD.match(line_prefix[-1]) and line_suffix and WORD.match(line_suffix[0]):
        return Plan(NONE, "inside an identifier", **base)
    heal = line_prefix if line_prefix and not line_prefix.strip() else ""
    if line_suffix.strip():
        return Plan(SINGLE, "code follows the cursor on its line", heal=heal, **base)
    stripped = line_prefix.rstrip()
    indent = indent_width(line_prefix)
    if stripped.endswith(BLOCK_OPENERS):
        return Plan(MULTI, "after a block opener", heal=heal, min_indent=indent + 1, **base)
    return Plan(MULTI, "at the end of a line", heal=heal, min_indent=indent, **base)


def visible(plan: Plan, raw: str) -> str | None:
    """The output as it would be inserted at the cursor; None where it leaves the cursor's
    indentation (the model wants code at another level than the person put the cursor)."""
    if not plan.heal:
        return raw
    if raw.startswith(plan.heal):
        return raw[len(plan.heal):]
    if plan.heal.startswith(raw):
        return ""
    return None


def cut_index(plan: Plan, text: str) -> int | None:
    """Where the output stops belonging at the cursor, or None while it still may.

    `text` is the visible output; the last line may be incomplete.
    """
    lines = text.split("\n")
    complete = len(lines) - 1
    if plan.mode == SINGLE:
        return len(lines[0]) if complete >= 1 else None
    position = len(lines[0]) + 1
    seen: list[str] = []
    for number, line in enumerate(lines[1:], start=1):
        is_complete = number < complete
        content = line.strip()
        stop = False
        if content:
            stop = (indent_width(line) < plan.min_indent
                    or (plan.next_lines and content == plan.next_lines[0].strip())
                    or number >= plan.max_lines)
            if is_complete:
                seen.append(content)
                stop = stop or seen[-REPEATS_TO_STOP:] == [content] * REPEATS_TO_STOP
        elif is_complete:
            stop = True  # a blank line ends a block
        if stop:
            return position - 1
        position += len(line) + 1
    if lines[0].strip() and plan.next_lines and lines[0].strip() == plan.next_lines[0].strip():
        return 0
    return None


class Stopper:
    """Called with the raw output after every token; True ends generation."""

    def __init__(self, plan: Plan, clock: Callable[[], float] = time.monotonic) -> None:
        self.plan = plan
        self.clock = clock
        self.deadline = clock() + plan.time_budget_ms / 1000
        self.length_at_deadline: int | None = None

    def __call__(self, raw: str) -> bool:
        text = visible(self.plan, raw)
        if text is None:
            return True
        if cut_index(self.plan, text) is not None:
            return True
        if self.length_at_deadline is None and self.clock() >= self.deadline:
            self.length_at_deadline = len(text)
        # Past the time budget, finish the line being written and stop (t_max_predict_ms).
        return self.length_at_deadline is not None and "\n" in text[self.length_at_deadline:]


@dataclass(frozen=True)
class Suggestion:
    text: str
    replaces_line_suffix: bool  # the text stands for the rest of the cursor's line too


def finish(plan: Plan, raw: str, complete: bool) -> Suggestion | None:
    """The suggestion to show, or None. `complete` is False when generation was cut by a
    limit (tokens, time) rather than ending by itself: a trailing partial line is dropped."""
    text = visible(plan, raw)
    if text is None or plan.mode == NONE:
        return None
    index = cut_index(plan, text)
    if index is not None:
        text = text[:index]
    elif not complete and "\n" in text:
        text = text[:text.rindex("\n")]
    text = text.rstrip()
    if plan.mode == SINGLE:
        text = text.split("\n")[0]
        return _fit_line(text, plan.line_suffix)
    if not text.strip():
        return None
    return Suggestion(text, replaces_line_suffix=False)


def _fit_line(text: str, line_suffix: str) -> Suggestion | None:
    """Make a one-line suggestion agree with the text already right of the cursor."""
    rest = line_suffix.strip()
    if not text.strip():
        return None
    if rest and _is_subsequence(rest, text):
        # The output rewrote the rest of the line (keeping all of it): replace that rest.
        return Suggestion(text, replaces_line_suffix=True)
    overlap = _overlap(text, line_suffix)
    if overlap:
        text = text[:-overlap].rstrip() if text[:-overlap].strip() else ""
    return Suggestion(text, replaces_line_suffix=False) if text.strip() else None


def _is_subsequence(needle: str, haystack: str) -> bool:
    chars = iter(haystack)
    return all(char in chars for char in needle)


def _overlap(text: str, line_suffix: str) -> int:
    """Length of the longest end of `text` that the line already continues with."""
    for size in range(min(len(text), len(line_suffix)), 0, -1):
        if text.endswith(line_suffix[:size]) and not WORD.search(line_suffix[:size]):
            return size
    return 0
