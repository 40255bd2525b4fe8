"""When to complete, when to stop generating, and what of the output to keep.

Three steps, all pure (no editor, no engine):
1. `decide` looks at the cursor before generating: no completion, one line or a block.
2. `Stopper` is called after every generated token and ends generation as soon as the
   output has run past what belongs at the cursor, so no token is wasted.
3. `finish` trims the output: what repeats the text after the cursor goes, and of the
   cuts at line ends the longest that leaves the file's parse with no new syntax errors
   is kept (SAFIM, Gong et al. 2024). A one-line suggestion says which range of its line
   it replaces, so accepting it never doubles a character.

The generated text is "raw": where the cursor sits after only indentation, that
indentation is left out of the prompt (a model writes an indented line as one token
more naturally than it continues one) and the model is expected to write it again;
`Plan.heal` holds it.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from tree_sitter import Language, Node, Parser

from refact_lsp.context import Situation
from refact_lsp.text import LINE_END, StrEnum, is_word_char, line_around


class Mode(StrEnum):
    """What to generate at a cursor."""

    NONE = "none"  # nothing: show no suggestion
    SINGLE = "single"  # the rest of one line
    MULTI = "multi"  # a block of lines


class Trigger(StrEnum):
    """How a request came: typed (the editor asks by itself) or asked for by the person."""

    AUTOMATIC = "automatic"
    INVOKED = "invoked"  # a key or command: the person wants a suggestion right there


BLOCK_OPENERS = (":", "{", "(", "[", "=>", "->", " do", " then", "=")
OPENERS, CLOSERS = "([{", ")]}"
JUMP = re.compile(r"(return|raise|break|continue|throw|goto)\b")
LOOP = re.compile(r"(\S.{1,15}?)\1{7,}$")  # a short piece written eight times in a row
SUFFIX_LINES = 6  # lines after the cursor that the output is compared with
ANCHOR_CHARS = 12  # the start of the code after the cursor that a bridge must write
# A comment that only stands for code ("# ...", "// …"): a small model's way of not knowing.
PLACEHOLDER = re.compile(r"\s*(#|//|--|;|/\*)\s*(\.\.\.|…)+\s*(\*/)?\s*")


@dataclass(frozen=True)
class Plan:
    """What to generate at this cursor, decided before generating."""

    mode: Mode
    reason: str
    situation: Situation = Situation.CODE  # as context.py found it
    before: str = ""  # the file's text before the cursor (the context window)
    after: str = ""  # the file's text after the cursor
    heal: str = ""  # indentation left out of the prompt that the output must start with
    min_indent: int = 0  # lines indented less than this end a block completion
    blank_line_ends: bool = True  # a blank line ends the completion
    # Mid-line, asked for: where no single line fits, the completion may run over lines
    # until it meets the code after the cursor (a bridge), and is cut where it does.
    bridges: bool = False
    max_lines: int = 8
    provisional: bool = False  # a smaller window's: one line where one parses (provisional)
    time_budget_ms: int = 1000
    language: Language | None = None  # the grammar that syntax-checks a suggestion

    @functools.cached_property
    def line_suffix(self) -> str:
        return line_around(self.before, self.after)[1]

    @functools.cached_property
    def line_prefix(self) -> str:
        return line_around(self.before, self.after)[0]

    @functools.cached_property
    def anchor(self) -> str:
        """The start of the text after the cursor, which a bridge ends by writing."""
        return self.after[:ANCHOR_CHARS]

    @functools.cached_property
    def next_lines(self) -> tuple[str, ...]:
        """The first non-blank lines after the cursor's line, stripped."""
        lines = (line.strip() for line in LINE_END.split(self.after)[1:])
        return tuple(line for line in lines if line)[:SUFFIX_LINES]

    @functools.cached_property
    def next_indent(self) -> int | None:
        return _next_indent(self.after)

    def indent_of(self, lines: list[str], number: int) -> int:
        """Indentation of line `number` of the visible output, as it will be in the file."""
        if number > 0:
            return indent_width(lines[number])
        prefix = self.line_prefix
        return indent_width(prefix + lines[0] if not prefix.strip() else prefix)


def _next_indent(after: str) -> int | None:
    """Indentation of the first non-blank line after the cursor's line, if any."""
    line = next((line for line in LINE_END.split(after)[1:] if line.strip()), None)
    return None if line is None else indent_width(line)


def indent_width(line: str) -> int:
    """Columns of the line's leading whitespace, a tab counting as four."""
    stripped = line.lstrip(" \t")
    return len(line[:len(line) - len(stripped)].expandtabs(4))


def decide(before: str, after: str, situation: Situation = Situation.CODE, *,
           max_lines: int = 8,
           time_budget_ms: int = 1000, complete_in_comments: bool = False,
           language: Language | None = None, trigger: Trigger = Trigger.AUTOMATIC) -> Plan:
    """Choose no completion, a single line, or a block, from the cursor's surroundings.

    `before` and `after` are the file's text around the cursor (windows of it will do).
    While typing, a cursor in a comment, inside a word or in the indentation of a line
    of code gets nothing (the person is editing, not writing); asked for there, it gets
    the rest of the line.
    """
    line_prefix, line_suffix = line_around(before, after)
    base = dict(situation=situation, before=before, after=after, max_lines=max_lines,
                time_budget_ms=time_budget_ms, language=language)
    typing = trigger == Trigger.AUTOMATIC
    if typing and situation == Situation.COMMENT and not complete_in_comments:
        return Plan(Mode.NONE, "inside a comment", **base)
    if typing and line_prefix and is_word_char(line_prefix[-1]) and line_suffix \
            and is_word_char(line_suffix[0]):
        return Plan(Mode.NONE, "inside an identifier", **base)
    if typing and not line_prefix.strip() and line_suffix.strip():
        return Plan(Mode.NONE, "in the indentation of a line of code", **base)
    heal = line_prefix if line_prefix and not line_prefix.strip() else ""
    if line_suffix.strip() or situation in (Situation.COMMENT, Situation.STRING):
        return Plan(Mode.SINGLE, "the line goes on after the cursor", heal=heal,
                    bridges=not typing and any(map(is_word_char, line_suffix)), **base)
    indent = indent_width(line_prefix)
    following = _next_indent(after) or 0
    # Where code follows in the same definition, the completion is one part of it and a
    # blank line ends it; at the end of a definition, blank lines may separate its parts.
    multi = dict(base, heal=heal, blank_line_ends=following > 0)
    if line_prefix.rstrip().endswith(BLOCK_OPENERS):
        return Plan(Mode.MULTI, "after a block opener", min_indent=indent + 1, **multi)
    if line_prefix.strip():
        return Plan(Mode.MULTI, "at the end of a statement: its continuation lines",
                    min_indent=indent + 1, **multi)
    if following < indent:
        return Plan(Mode.MULTI, "at the end of a block, down to the code after it",
                    min_indent=max(1, following), **multi)
    return Plan(Mode.MULTI, "on an empty line", min_indent=indent, **multi)


def visible(plan: Plan, raw: str) -> str | None:
    """The output as it would be inserted at the cursor; None where it does not start
    at the cursor's indentation exactly (the model wants code at another level than the
    person put the cursor, or a blank line first). Given the indentation in the prompt,
    a model may still write some more: the first line starts at the cursor all the same.
    In the indentation of a line of code (asked for there) the cursor need not be at a
    level: the model's indentation goes on from it."""
    if not plan.heal:
        indented = plan.line_prefix and not plan.line_prefix.strip()
        return raw.lstrip(" \t") if indented else raw
    if raw.startswith(plan.heal):
        text = raw[len(plan.heal):]
        deeper = text[:1] in (" ", "\t")
        return None if deeper and not plan.line_suffix.strip() else text
    if plan.heal.startswith(raw):
        return ""
    return None


def repeated_line(plan: Plan, raw: str) -> str:
    """The line after the cursor's, where the output's first line is that line again
    (the model took the hole for empty: `_repeats_suffix` cuts it to nothing); "" where
    it is not."""
    text = visible(plan, raw)
    first = text.split("\n")[0].strip() if text else ""
    return first if first and _repeats_suffix(plan, first, 0) else ""


def unhealed(plan: Plan) -> Plan:
    """The plan for a prompt that ends with the cursor's indentation.

    Left to write the indentation itself, a model does better where it agrees with the
    cursor (measured on HumanEval infilling), but sometimes it wants another level, a
    blank line first, or writes nothing that fits. Given the indentation it then often
    writes the right line, so where the healed prompt gives nothing, ask again with this.
    """
    return dataclasses.replace(plan, heal="")


def provisional(plan: Plan) -> Plan:
    """The plan for a smaller window's answer after a jump: its first line alone where
    that line parses alone (a block's opening line does not, and goes on as before).
    Its suggestion is replaced once a larger window is ready; more lines written from
    so little context were rarely right and cost the wait (on a cold open of real code,
    about a second of the two)."""
    return dataclasses.replace(plan, provisional=True)


def cut_index(plan: Plan, text: str) -> int | None:
    """Where the output stops belonging at the cursor, or None while it still may.

    `text` is the visible output; its last line may be incomplete. The rules are the
    ones that a line decides as soon as it is written, so generation can stop there.
    """
    lines = text.split("\n")
    if plan.mode == Mode.SINGLE:
        return len(lines[0]) if len(lines) > 1 else None
    position = 0
    for number, line in enumerate(lines):
        complete = number < len(lines) - 1
        if _ends_block(plan, lines, number, complete):
            return max(0, position - 1)
        position += len(line) + 1
    return None


def _ends_block(plan: Plan, lines: list[str], number: int, complete: bool) -> bool:
    """Whether line `number` (and what follows) no longer belongs to the completion."""
    line = lines[number]
    content = line.strip()
    loop = LOOP.search(line)
    if loop and len(set(loop.group(1))) > 1:  # not a ruler such as "# ======"
        return True
    if not content:
        return complete and number > 0 and plan.blank_line_ends
    if complete and _repeats_suffix(plan, content, number):
        return True
    if number == 0:
        return False
    indent = indent_width(line)
    if indent < plan.min_indent or number >= plan.max_lines:
        return True
    above = lines[number - 1]  # the same line twice is a loop
    return complete and content == above.strip() and indent == plan.indent_of(lines, number - 1)


def _repeats_suffix(plan: Plan, content: str, number: int) -> bool:
    """Whether a written line is one that follows the cursor already: the model has run
    out of the hole and goes on with the code after it. The first line counts only where
    it is the very next line; later ones also where they are any of the next few (the
    model skipped some). Near copies do not count: neighbouring lines of code are often
    alike (measured: stopping at them lost more multi-line tasks than it won)."""
    lines = plan.next_lines if number > 0 else plan.next_lines[:1]
    return content in lines


class Stopper:
    """Called with the raw output after every token; True ends generation.

    The time budget counts from the first token, as llama.cpp's t_max_predict_ms does:
    once it is spent, the line being written is finished and generation stops.
    """

    def __init__(self, plan: Plan, clock: Callable[[], float] = time.monotonic) -> None:
        self.plan = plan
        self.clock = clock
        self.deadline: float | None = None
        self.length_at_deadline: int | None = None
        self.first_line_fits: bool | None = None  # known once the first line is written

    def _first_line_fits(self, text: str) -> bool:
        """Whether the output's first line, once written, is a suggestion alone."""
        if self.first_line_fits is None:
            self.first_line_fits = _one_line(self.plan, text.split("\n")[0]) is not None
        return self.first_line_fits

    def _provisional_ends(self, text: str) -> bool:
        """Whether a smaller window's answer ends: its first line is written and is a
        suggestion alone (stops.provisional)."""
        return self.plan.provisional and "\n" in text and self._first_line_fits(text)

    def _bridging(self, text: str) -> bool:
        """Whether generation goes on past the first line to meet the code after the
        cursor: the plan allows it and the first line alone would show nothing."""
        return self.plan.bridges and "\n" in text and not self._first_line_fits(text)

    def __call__(self, raw: str) -> bool:
        text = visible(self.plan, raw)
        if text is None:
            return True
        if self._bridging(text):
            if _meets(self.plan, text) is not None or text.count("\n") >= self.plan.max_lines:
                return True
        elif cut_index(self.plan, text) is not None or self._provisional_ends(text):
            return True
        now = self.clock()
        if self.deadline is None:
            self.deadline = now + self.plan.time_budget_ms / 1000
        if self.length_at_deadline is None and now >= self.deadline:
            self.length_at_deadline = len(text)
        if self.length_at_deadline is None or "\n" not in text[self.length_at_deadline:]:
            return False
        return self.plan.mode != Mode.MULTI or _statement_ends(text[:text.rindex("\n")])


def _statement_ends(text: str) -> bool:
    """Whether a block completion may be cut after `text`: its last line does not open a
    block whose body is still to come, and its brackets are closed. (Cut there, a `for`
    without its body or half a call would still parse against the code after it.)"""
    last = text.rsplit("\n", 1)[-1].rstrip()
    if last.endswith(BLOCK_OPENERS) or last.endswith(("\\", ",")):
        return False
    return sum(text.count(c) for c in OPENERS) <= sum(text.count(c) for c in CLOSERS)


@dataclass(frozen=True)
class Suggestion:
    text: str
    replaces_line_suffix: bool  # the text stands for the rest of the cursor's line too


def finish(plan: Plan, raw: str, ended: bool) -> Suggestion | None:
    """The suggestion to show, or None. `ended` is True where the model ended the text
    itself; otherwise a trailing partial line is dropped."""
    text = visible(plan, raw)
    if text is None or plan.mode == Mode.NONE:
        return None
    if plan.mode == Mode.SINGLE:
        return _one_line(plan, text.split("\n")[0]) or _bridge(plan, text)
    index = cut_index(plan, text + "\n" if ended else text)  # its end ends its last line
    if index is not None:
        text = text[:index]
    elif not ended and "\n" in text:
        text = text[:text.rindex("\n")]
    text = text.rstrip()
    suggestion = Suggestion(_drop_closers(text, plan.after), replaces_line_suffix=False)
    return _shown(_parsable(plan, suggestion))


def _one_line(plan: Plan, line: str) -> Suggestion | None:
    """A one-line suggestion that agrees with the rest of the line and parses."""
    suggestion = _fit_line(line.rstrip(), plan.line_suffix)
    return _shown(_parsable(plan, suggestion) if suggestion else None)


def _meets(plan: Plan, text: str) -> int | None:
    """Where the output starts writing the text after the cursor, if it does."""
    index = text.find(plan.anchor) if plan.anchor.strip() else -1
    return index if index > 0 else None


def _bridge(plan: Plan, text: str) -> Suggestion | None:
    """The output up to where it meets the code after the cursor, where the plan lets a
    completion run over lines and the file parses no worse with it."""
    end = _meets(plan, text) if plan.bridges else None
    if end is None or not text[:end].strip():
        return None
    suggestion = Suggestion(text[:end], replaces_line_suffix=False)
    if plan.language is not None:
        parser = Parser(plan.language)
        if _errors(parser, plan, suggestion.text, plan.after) > \
                _errors(parser, plan, "", plan.after):
            return None
    return _shown(suggestion)


def _shown(suggestion: Suggestion | None) -> Suggestion | None:
    """None for a placeholder for code, which is nothing to show, and for code that
    starts with one: the placeholder is what the person would see at the cursor."""
    if suggestion is None:
        return None
    lines = [line for line in suggestion.text.split("\n") if line.strip()]
    return None if not lines or PLACEHOLDER.fullmatch(lines[0]) else suggestion


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
        if text.endswith(line_suffix[:size]) \
                and not any(map(is_word_char, line_suffix[:size])):
            return size
    return 0


def _drop_closers(text: str, after: str) -> str:
    """Without the closing brackets at its end that it did not open and that the code
    after the cursor already has (the model closed what was closed)."""
    while text and text[-1] in CLOSERS and after.lstrip().startswith(text[-1]):
        closer = text[-1]
        opener = OPENERS[CLOSERS.index(closer)]
        if text.count(closer) <= text.count(opener):
            break
        text = text[:-1].rstrip()
    return text


def _parsable(plan: Plan, suggestion: Suggestion) -> Suggestion | None:
    """The longest cut of the suggestion at a line end that meets the code after the
    cursor with the right indentation and, where the language has a grammar, leaves the
    fewest syntax errors in the file, no more than it had without it. None where no cut
    is clean."""
    lines = suggestion.text.split("\n")
    sizes = [size for size in range(len(lines), 0, -1) if lines[size - 1].strip()
             and (plan.mode == Mode.SINGLE or _fits_indentation(plan, lines, size))]
    cuts = ["\n".join(lines[:size]) for size in sizes]
    if not cuts or plan.language is None:
        return Suggestion(cuts[0], suggestion.replaces_line_suffix) if cuts else None
    replaced = plan.line_suffix if suggestion.replaces_line_suffix else ""
    after = plan.after[len(replaced):]
    parser = Parser(plan.language)
    counts = [_errors(parser, plan, cut, after) for cut in cuts]
    fewest = min(counts)
    if fewest > _errors(parser, plan, replaced, after):
        return None
    return Suggestion(cuts[counts.index(fewest)], suggestion.replaces_line_suffix)


def _fits_indentation(plan: Plan, lines: list[str], size: int) -> bool:
    """Whether the first `size` lines meet the code after the cursor as a block should:
    a block opened on the last line has its body after the cursor, code after the cursor
    that is indented deeper has its opener on the last line, and a last line that jumps
    away (`return`, `break`...) is not followed by code of its own block, which it would
    leave unreachable. (Tree-sitter's Python grammar forgives all three; Python does not,
    or the tests do.)"""
    last, indent, following = lines[size - 1].strip(), plan.indent_of(lines, size - 1), \
        plan.next_indent
    if JUMP.match(last) and following == indent:
        return False
    return last.endswith(BLOCK_OPENERS) == (following is not None and following > indent)


def _errors(parser: Parser, plan: Plan, middle: str, after: str) -> int:
    """Syntax errors in the file with `middle` between the text before the cursor and
    `after`."""
    source = (plan.before + middle + after).encode("utf-8", "surrogatepass")
    return _count_errors(parser.parse(source).root_node)


def _count_errors(node: Node) -> int:
    """ERROR and MISSING nodes in the tree under `node`. A node with an error under it
    that none of its children shows holds a MISSING token the bindings do not list
    (Python's `_newline` between two statements run together): one."""
    if not node.has_error and not node.is_missing:
        return 0
    found = (1 if node.is_error or node.is_missing else 0) \
        + sum(_count_errors(child) for child in node.children)
    return max(found, 1)
