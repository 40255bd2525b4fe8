"""Prefix and suffix windows around the cursor, within token budgets, cut where the syntax allows.

Pure: from a document's text and tree and a cursor offset to the text the model sees.

Cost. Only the text near the cursor is looked at. Token counts are taken line by line and
remembered, so on a keystroke only the cursor's line is counted anew, and the tree is asked
about single points (a query over a one-byte range costs microseconds). Nothing here grows
with the file beyond the window, except one encoding of the text before the cursor in files
that are not pure ASCII.

Budgets. A window's count is the sum of its lines' counts. That bounds the real count for
any `CountTokens` that does not grow when two texts are joined at a line start, which holds
for BPE tokenizers (their pre-tokenizers split after a line break) and for character-ratio
estimates alike.

Syntax. A window starts, and ends, at the start of a line that sits directly in a block or
at the top level (a statement, definition or comment begins there): never inside a
statement, a string or a comment. Where none fits, it falls back to any line start, and
inside a single over-long line to a place between two words. Where the window cuts through
the definitions around the cursor, or leaves out the imports, an outline of their first
lines comes before it.

Stability. With suffix-first prompts the KV cache stays valid while the suffix and the start
of the prefix stay put. The text is divided into grid cells of fixed size, counted from the
start of the file for the prefix and from its end for the suffix: distances that typing at
the cursor does not change. Each cell is represented by its least indented boundary, and a
window reaches the farthest representative the budget allows, so it moves by a cell at a
time, and only when the budget forces it. Boundaries come from the syntax tree, which a
half-typed line can change far away; so an edge of the last window that still fits is
kept (`keep`).
"""

from __future__ import annotations

import functools
import re
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import NamedTuple

from tree_sitter import Node, QueryCursor, Tree

from refact_lsp.documents import Document
from refact_lsp.languages import Capture
from refact_lsp.text import LINE_BREAK, StrEnum, is_word_char, jaccard, line_start

CountTokens = Callable[[str], int]



class Situation(StrEnum):
    """What the cursor is in, for the stop rules and for deciding not to complete."""

    CODE = "code"  # anywhere else
    COMMENT = "comment"  # inside a comment, or at the end of a line comment
    STRING = "string"  # inside a string literal
    IDENTIFIER = "identifier"  # right after (or inside) a word being typed
    EMPTY_BLOCK = "empty_block"  # on a blank line in a block that has no statements yet
    ARGUMENTS = "arguments"  # inside a call's argument list


REACH_CHARS_PER_TOKEN = 8  # a window never reaches further than this per token of its budget
CELL_CHARS_PER_TOKEN = 1  # grid cell size per budget token: a fifth to a third of a window
MIN_CELL_CHARS = 64
OUTLINE_SHARE = 4  # the outline takes at most a quarter of the prefix budget
HEADER_MAX_CHARS = 400  # a longer signature is shown by its first line
IMPORT_SCAN_CHARS = 16_384  # imports are looked for at the left margin of the file's head
IMPORT_DEPTH = 2  # ... among the root's children and grandchildren
COUNT_CACHE_SIZE = 1 << 15
MAX_CACHED_CHARS = 1024  # token counts of longer pieces are not remembered
MAX_SPAN_CHARS = 1 << 16  # a definition is looked at this far after the cursor at most
MIN_SIBLING_TOKENS = 24  # room a definition window leaves for one like it (_sibling)
SIBLING_REACH_CHARS = 1 << 15  # ... which is looked for this far before the window,
SIBLING_HEADROOM = 4  # ... leaving a quarter of the budget to typing (the window is held)
WORD = re.compile(r"\w+")

_OVER = sys.maxsize  # the cost of a cut past the budget
_INDENT = re.compile(r"[ \t]*")
_NON_SPACE = re.compile(r"\S")
_IDENTIFIER_END = re.compile(r"[^\W\d]\w*$")
_CLOSERS = ")]}"
_CONTAINERS = frozenset(Capture) - {Capture.NAME}


@dataclass(frozen=True)
class Context:
    """What the model sees around the cursor.

    `prefix` is `outline` followed by the document's text from `start` to the cursor;
    `suffix` is the text from the cursor to `end`.
    """

    prefix: str
    suffix: str
    line_prefix: str  # the cursor's line before the cursor (always the real text)
    line_suffix: str  # the cursor's line after the cursor
    situation: Situation = Situation.CODE
    outline: str = ""  # imports and enclosing signatures the window cut off
    start: int = 0
    end: int = 0
    # Where the definition it was made inside starts (`enclosing`); None outside any.
    definition: int | None = None


def build(document: Document, offset: int, count_tokens: CountTokens, prefix_budget: int,
          suffix_budget: int, *, keep: tuple[int, int] | None = None,
          enclosing: bool = False, sibling: bool = False) -> Context:
    """The context at string index `offset`; budgets are in `count_tokens` tokens.

    Counts are remembered for the `count_tokens` last passed (compared with `==`, so the
    same engine's bound method matches): pass the same one on every call.

    `keep` is the last window of this document, as (start, end counted from the file's
    end): typing at the cursor changes neither. An edge of it that still fits the budget
    at a line start is kept where the syntax would now choose a nearer one: a half-typed
    line (an open string or bracket) can change how the parser sees code far away, and a
    window that shrank for one keystroke costs the KV cache the text it dropped.

    With `enclosing`, the windows stay inside the definition the cursor is in (its
    signature first), as much of it as the budgets allow, and the outline brings the
    imports and the signatures around it: a small window of the code that matters, not
    of the last lines before the cursor. With `sibling` too, the room a short definition
    leaves holds the definition most like it from earlier in the file.
    """
    text = document.text
    offset = max(0, min(offset, len(text)))
    count = _counts.counter(count_tokens)
    tree = document.tree()
    syntax = _Syntax(document, tree, offset) if tree is not None else None
    keep_start, keep_end = (keep[0], len(text) - keep[1]) if keep else (None, None)
    span = syntax.definition_span(offset) if enclosing and syntax is not None else None
    start, outline = _prefix_window(text, offset, prefix_budget, count, count_tokens, syntax,
                                    keep_start, span, sibling)
    end = _suffix_window(text, offset, suffix_budget, count, count_tokens, syntax, keep_end,
                         span)
    line_prefix, line_suffix = _cursor_line(text, offset)
    situation = _situation(text, offset, line_prefix, line_suffix, syntax)
    return Context(prefix=outline + text[start:offset], suffix=text[offset:end],
                   line_prefix=line_prefix, line_suffix=line_suffix, situation=situation,
                   outline=outline, start=start, end=end,
                   definition=span[0] if span is not None else None)


class _CountCache:
    """Token counts of lines and outline parts, which repeat from one keystroke to the next.

    Kept for one `count_tokens` at a time, the current model's, so that a model that was
    replaced is not held on to.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._current: tuple[CountTokens, CountTokens] | None = None  # (source, cached)

    def counter(self, count_tokens: CountTokens) -> CountTokens:
        with self._lock:
            if self._current is None or self._current[0] != count_tokens:
                cached = functools.lru_cache(maxsize=COUNT_CACHE_SIZE)(count_tokens)

                def count(text: str) -> int:
                    """Long pieces (a keystroke in a long line makes a new one each time)
                    are counted, not kept: the cache would hold megabytes of them."""
                    return count_tokens(text) if len(text) > MAX_CACHED_CHARS \
                        else cached(text)

                count.cache_info = cached.cache_info  # type: ignore[attr-defined]
                self._current = (count_tokens, count)
            return self._current[1]


_counts = _CountCache()


def counter(count_tokens: CountTokens) -> CountTokens:
    """`count_tokens` with the counts of short pieces remembered (the cache `build` uses),
    for whoever counts the same lines again (the repository's snippets)."""
    return _counts.counter(count_tokens)


def _cursor_line(text: str, offset: int) -> tuple[str, str]:
    """The cursor's line before and after it."""
    match = LINE_BREAK.search(text, offset)
    return text[line_start(text, offset):offset], text[offset:match.start() if match
                                                        else len(text)]


# -- syntax lookups --------------------------------------------------------------------


class _Syntax:
    """Point lookups in one document's tree, around one cursor.

    Tree-sitter counts UTF-8 bytes; for ASCII text those are string indexes. Otherwise the
    text before the cursor is encoded once and other places are converted relative to it.
    """

    def __init__(self, document: Document, tree: Tree, cursor: int) -> None:
        assert document.language is not None
        self.language = document.language
        self.text = document.text
        self.root = tree.root_node
        self._cursor = cursor
        self._head = None if self.text.isascii() else self.text[:cursor].encode(
            "utf-8", "surrogatepass")
        self.cursor_byte = cursor if self._head is None else len(self._head)
        self._boundaries: dict[int, bool] = {}

    def byte(self, index: int) -> int:
        """The byte offset of a string index, converted from the nearer of file start and
        cursor."""
        if self._head is None:
            return index
        if index <= self._cursor // 2:
            return _utf8_len(self.text[:index])
        if index <= self._cursor:
            return self.cursor_byte - _utf8_len(self.text[index:self._cursor])
        return self.cursor_byte + _utf8_len(self.text[self._cursor:index])

    def char(self, byte: int) -> int:
        """The string index of a byte offset at or before the cursor."""
        if self._head is None:
            return byte
        if byte <= self.cursor_byte // 2:
            return len(self._head[:byte].decode("utf-8", "surrogatepass"))
        return self._cursor - len(self._head[byte:].decode("utf-8", "surrogatepass"))

    def captures(self, start_byte: int, end_byte: int, depth: int | None = None
                 ) -> dict[str, list[Node]]:
        """The query's captures that intersect a byte range (starting at most `depth`
        levels below the root)."""
        cursor = QueryCursor(self.language.query)
        cursor.set_byte_range(start_byte, max(end_byte, start_byte + 1))
        if depth is not None:
            cursor.set_max_start_depth(depth)
        return cursor.captures(self.root)

    def is_boundary(self, line_start: int) -> bool:
        """Whether a window may start or end at this line: whether the line sits directly
        in a block or at the top level, rather than inside a statement, string or comment.
        A statement with a syntax error inside counts as a block: a half-typed line can
        turn what follows it into an error region, and the lines there must keep their
        standing while the person types."""
        known = self._boundaries.get(line_start)
        if known is None:
            known = self._boundaries[line_start] = self._line_is_boundary(line_start)
        return known

    def _line_is_boundary(self, line_start: int) -> bool:
        at = self.byte(_INDENT.match(self.text, line_start).end())
        innermost: tuple[str, Node] | None = None
        for name, nodes in self.captures(at, at + 1).items():
            if name not in _CONTAINERS:
                continue
            for node in nodes:
                opens = name == Capture.BLOCK and _opens_with_statement(node)
                if (node.start_byte < at or opens) and (
                        innermost is None or _within(node, innermost[1])):
                    innermost = (name, node)
        return innermost is None or innermost[0] == Capture.BLOCK or innermost[1].has_error

    def enclosing(self, index: int) -> list[tuple[Node, Node]]:
        """(definition, body) pairs around a string index, outermost first."""
        at = self.byte(index)
        found = self.captures(at, at + 1)
        blocks = [node for node in found.get(Capture.BLOCK, ())
                  if node.start_byte <= at < node.end_byte]
        bodies: dict[tuple[int, int], tuple[Node, Node]] = {}
        for definition in sorted(found.get(Capture.DEFINITION, ()),
                                 key=lambda node: node.start_byte):
            inside = [block for block in blocks if definition.start_byte < block.start_byte
                      and block.end_byte <= definition.end_byte]
            if inside:  # the outermost block inside is the body; an inner definition with the
                body = min(inside, key=lambda node: node.start_byte)  # same body wins
                bodies[(body.start_byte, body.end_byte)] = (definition, body)
        return sorted(bodies.values(), key=lambda pair: pair[0].start_byte)

    def definition_span(self, offset: int) -> tuple[int, int] | None:
        """The lines of the innermost definition around a cursor, as (the start of its
        first line, the start of the line after its last), or None at the top level.
        Enclosure is taken as in `_outline_parts`: a blank line after a function's last
        statement is still inside it."""
        pairs = self.enclosing(max(0, _end_of_text_before(self.text, offset) - 1))
        if not pairs:
            return None
        definition = pairs[-1][0]
        start = self.char(definition.start_byte)
        tail = self.text[self._cursor:self._cursor + MAX_SPAN_CHARS].encode(
            "utf-8", "surrogatepass")
        end = self._cursor + len(tail[:max(0, definition.end_byte - self.cursor_byte)]
                                 .decode("utf-8", "ignore"))
        after = self.text.find("\n", end)
        return line_start(self.text, start), len(self.text) if after < 0 else after + 1

    def imports(self, before: int) -> list[_Part]:
        """Imports at the left margin of the file's head that end before a string index."""
        limit = self.byte(before)
        found = self.captures(0, self.byte(min(before, IMPORT_SCAN_CHARS)), IMPORT_DEPTH)
        parts = {}
        for node in found.get(Capture.IMPORT, ()):
            if node.start_point.column == 0 and node.end_byte <= limit:
                start = self.char(node.start_byte)
                text = self.text[start:self.char(node.end_byte)].rstrip()
                parts[start] = _Part(start, start + len(text), text, signature=False)
        return sorted(parts.values(), key=lambda part: part.pos)

    def definitions(self, start: int, end: int) -> list[Node]:
        """The definitions that lie between two string indexes at or before the cursor."""
        low, high = self.byte(start), self.byte(end)
        return [node for node in self.captures(low, high).get(Capture.DEFINITION, ())
                if low <= node.start_byte and node.end_byte <= high]

    def header(self, definition: Node, body: Node) -> _Part:
        """A definition's signature: its lines up to the body, with the body's opening token."""
        start = self.char(definition.start_byte)
        line_start = self.text.rfind("\n", 0, start) + 1
        opener = body.child(0)
        end = self.char(opener.end_byte if opener is not None and not opener.is_named
                        else body.start_byte)
        text = self.text[line_start:end].rstrip()
        if len(text) > HEADER_MAX_CHARS:
            text = text.partition("\n")[0]
        return _Part(line_start, line_start + len(text), text, signature=True)


def _utf8_len(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def _opens_with_statement(block: Node) -> bool:
    """Whether a block begins with its first statement (as indented blocks do) rather than
    with an opening token such as `{`: a line that starts such a block is inside it."""
    first = block.child(0)
    return first is not None and first.is_named


def _within(node: Node, other: Node) -> bool:
    """Whether `node` lies inside `other` (syntax nodes nest, they never overlap)."""
    return node.start_byte > other.start_byte or (
        node.start_byte == other.start_byte and node.end_byte < other.end_byte)


# -- windows ---------------------------------------------------------------------------


class _Cut(NamedTuple):
    """A line start where a window may begin (prefix) or end (suffix)."""

    pos: int
    cost: int  # tokens between here and the cursor; _OVER past the budget
    indent: int | None  # leading whitespace; None on a blank line, -1 at the file's ends


class _Side:
    """One side of the cursor: its cuts, the test for boundaries and the cells' representatives."""

    def __init__(self, text: str, offset: int, budget: int, count: CountTokens,
                 syntax: _Syntax | None, forward: bool,
                 span: tuple[int, int] | None = None) -> None:
        self.text = text
        self.syntax = syntax
        self.cuts = _walk(text, offset, budget, count, forward, span)
        self.representatives = self._representatives(_cell(len(text), budget, forward),
                                                     forward)

    def is_boundary(self, cut: _Cut) -> bool:
        if cut.indent is None:
            return False
        if cut.indent < 0:
            return True
        if self.text[cut.pos + cut.indent] in _CLOSERS:
            return False
        return self.syntax is None or self.syntax.is_boundary(cut.pos)

    def _representatives(self, cell: Callable[[int], int], forward: bool) -> list[_Cut]:
        """Each grid cell's least indented boundary (of equals, the farthest from the
        cursor), nearest cell first, up to the first one past the budget."""
        cells: dict[int, list[_Cut]] = {}
        for cut in self.cuts:
            if cut.indent is not None:
                cells.setdefault(cell(cut.pos), []).append(cut)

        def rank(cut: _Cut) -> tuple[int, int]:
            return cut.indent or 0, -cut.pos if forward else cut.pos

        found = []
        for members in cells.values():
            best = min(members, key=rank)
            if not self.is_boundary(best):
                best = next(filter(self.is_boundary, sorted(members, key=rank)), None)
            if best is not None:
                found.append(best)
                if best.cost == _OVER:
                    break
        return found

    def choose(self, budget: int, keep: int | None = None) -> _Cut | None:
        """The farthest representative within budget; failing that, the farthest boundary
        within budget; failing that, the farthest line start within budget. A line start
        at `keep` within budget and farther than that is chosen instead."""
        chosen = self._choose(budget)
        kept = next((cut for cut in self.cuts if cut.pos == keep and cut.cost <= budget), None)
        if kept is not None and (chosen is None or kept.cost > chosen.cost):
            return kept
        return chosen

    def _choose(self, budget: int) -> _Cut | None:
        fitting = [cut for cut in self.representatives if cut.cost <= budget]
        if fitting:
            return fitting[-1]
        fitting = [cut for cut in self.cuts if cut.cost <= budget]
        if not fitting:
            return None
        return next(filter(self.is_boundary, reversed(fitting)), fitting[-1])


def _prefix_window(text: str, offset: int, budget: int, count: CountTokens,
                   count_tokens: CountTokens, syntax: _Syntax | None,
                   keep: int | None, span: tuple[int, int] | None = None,
                   sibling: bool = False) -> tuple[int, str]:
    """Where the prefix window starts (not before `span`'s start), and the outline of
    what it cut off."""
    side = _Side(text, offset, budget, count, syntax, forward=False, span=span)
    plain = side.choose(budget, keep)
    if plain is None:
        return _inside_line(text, offset, budget, count_tokens, forward=False), ""
    if syntax is None or plain.pos == 0:
        return plain.pos, ""
    parts = _outline_parts(syntax, offset)
    comment = syntax.language.line_comment
    reserve = min(budget // OUTLINE_SHARE, _outline_cost(
        text, [part for part in parts if part.end <= plain.pos], plain.pos, count, comment))
    cut = side.choose(budget - reserve, keep) if reserve else None
    start, chosen = (plain.pos, []) if cut is None else (cut.pos, _outline_within(
        text, parts, cut.pos, count, comment, reserve))
    if span is not None and sibling:  # a short definition leaves room: one like it
        room = budget - budget // SIBLING_HEADROOM - count(text[start:offset]) \
            - _outline_cost(text, chosen, start, count, comment)
        like = _sibling(syntax, span, start, room, count)
        chosen += [like] if like is not None else []
    return start, "".join(_outline_pieces(text, chosen, start, comment)) if chosen else ""


def _outline_within(text: str, parts: list[_Part], start: int, count: CountTokens,
                    comment: str, reserve: int) -> list[_Part]:
    """The outline parts before `start` that fit `reserve` tokens."""
    cut_off = [part for part in parts if part.end <= start]  # in file order
    chosen = [part for part in reversed(cut_off) if part.signature] + [
        part for part in cut_off if not part.signature]
    while chosen and _outline_cost(text, chosen, start, count, comment) > reserve:
        chosen.pop()  # imports go first, the last first; then the outermost signatures
    return chosen


def _sibling(syntax: _Syntax, span: tuple[int, int], before: int, room: int,
             count: CountTokens) -> _Part | None:
    """The definition most like the one around the cursor (by the words of their first
    lines, at least half shared; the nearest of equals) that ends before `before`, as
    many of its lines as fit `room` tokens (two at least): how the file writes such a
    thing, which a window of the definition alone does not show."""
    if room < MIN_SIBLING_TOKENS:
        return None
    text = syntax.text
    words = _first_line_words(text, span[0])
    best: tuple[float, int, int] | None = None
    for node in syntax.definitions(max(0, before - SIBLING_REACH_CHARS), before):
        start = line_start(text, syntax.char(node.start_byte))
        shared = jaccard(words, _first_line_words(text, start))
        if shared >= 0.5 and (best is None or (shared, start) > best[:2]):
            best = (shared, start, syntax.char(node.end_byte))
    if best is None:
        return None
    kept, cost = [], 0
    for line in text[best[1]:best[2]].split("\n"):
        cost += count(line + "\n")
        if cost > room:
            break
        kept.append(line)
    body = "\n".join(kept)
    return _Part(best[1], best[1] + len(body), body, signature=False) \
        if len(kept) >= 2 else None


def _first_line_words(text: str, start: int) -> frozenset[str]:
    end = text.find("\n", start)
    return frozenset(WORD.findall(text, start, len(text) if end < 0 else end))


def _suffix_window(text: str, offset: int, budget: int, count: CountTokens,
                   count_tokens: CountTokens, syntax: _Syntax | None, keep: int | None,
                   span: tuple[int, int] | None = None) -> int:
    """Where the suffix window ends (not after `span`'s end)."""
    side = _Side(text, offset, budget, count, syntax, forward=True, span=span)
    cut = side.choose(budget, keep)
    if cut is None:
        return _inside_line(text, offset, budget, count_tokens, forward=True)
    return cut.pos


def _walk(text: str, offset: int, budget: int, count: CountTokens, forward: bool,
          span: tuple[int, int] | None = None) -> list[_Cut]:
    """Line starts from the cursor outward, each with the tokens between it and the cursor,
    none outside `span` (line starts: the first and the one after the last line).

    Lines are counted until the budget is passed; then they go on, uncounted, to the end of
    that grid cell, so that the cell's representative is known. Empty where not even the
    cursor's line fits.
    """
    reach = REACH_CHARS_PER_TOKEN * max(budget, 0)
    bound = min(len(text), offset + reach) if forward else max(0, offset - reach)
    if span is not None:  # _next_line takes the line break at the bound itself, or before
        bound = min(bound, span[1]) if forward else max(bound, span[0] - 1, 0)
    cell = _cell(len(text), budget, forward)
    cuts: list[_Cut] = []
    cost, limit, pos = 0, None, offset
    while (step := _next_line(text, pos, bound, forward)) is not None:
        if limit is None:
            piece = text[pos:step] if forward else text[step:pos]
            cost += count(piece) if piece else 0
            if cost > budget:
                if not cuts:
                    return cuts
                limit = cell(cuts[-1].pos)
        if limit is not None and cell(step) != limit:
            break
        cuts.append(_Cut(step, cost if limit is None else _OVER, _indent(text, step)))
        pos = step
    return cuts


def _next_line(text: str, pos: int, bound: int, forward: bool) -> int | None:
    """The next line start from `pos` away from the cursor; None past `bound` or the file."""
    if forward:
        if pos >= len(text):
            return None
        newline = text.find("\n", pos, bound)
        if newline >= 0:
            return newline + 1
        return len(text) if bound == len(text) else None
    if pos <= 0:
        return None
    newline = text.rfind("\n", bound, pos - 1)
    if newline >= 0:
        return newline + 1
    return 0 if bound == 0 else None


def _cell(size: int, budget: int, forward: bool) -> Callable[[int], int]:
    """Grid cells counted from the file's start (prefix) or end (suffix)."""
    step = max(MIN_CELL_CHARS, CELL_CHARS_PER_TOKEN * budget)
    if forward:
        return lambda pos: (size - pos) // step
    return lambda pos: pos // step


def _indent(text: str, pos: int) -> int | None:
    """The width of a line's leading whitespace: None for a blank line, -1 at the start
    and the end of the file, which are boundaries before all others."""
    if pos in (0, len(text)):
        return -1
    end = _INDENT.match(text, pos).end()
    if end == len(text) or text[end] in "\r\n":
        return None
    return end - pos


def _inside_line(text: str, offset: int, budget: int, count_tokens: CountTokens,
                 forward: bool) -> int:
    """Where a window ends inside the cursor's line when not even that line fits: as far
    as the budget allows, moved to the nearest place between two words."""
    reach = REACH_CHARS_PER_TOKEN * max(budget, 0)
    if forward:
        match = LINE_BREAK.search(text, offset)
        piece = text[offset:min(match.start() if match else len(text), offset + reach)]
    else:
        piece = text[max(line_start(text, offset), offset - reach):offset]
    low, high = 0, len(piece)  # the longest length that fits, by bisection
    while low < high:
        middle = (low + high + 1) // 2
        if count_tokens(piece[:middle] if forward else piece[len(piece) - middle:]) <= budget:
            low = middle
        else:
            high = middle - 1
    pos = offset + low if forward else offset - low
    while offset != pos and 0 < pos < len(text) and is_word_char(text[pos - 1]) \
            and is_word_char(text[pos]):
        pos += -1 if forward else 1
    return pos


# -- outline ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Part:
    """A piece of the outline: an import or a signature, at [pos, end) in the document."""

    pos: int
    end: int
    text: str
    signature: bool  # signatures are kept before imports


def _outline_parts(syntax: _Syntax, offset: int) -> list[_Part]:
    """The imports and the signatures enclosing the cursor, in file order.

    Enclosure is taken at the last non-blank character before the cursor, so that a blank
    line after a function's last statement still counts as inside it.
    """
    headers = [syntax.header(definition, body) for definition, body
               in syntax.enclosing(max(0, _end_of_text_before(syntax.text, offset) - 1))]
    return syntax.imports(offset) + headers


def _outline_pieces(text: str, parts: Iterable[_Part], start: int, comment: str) -> list[str]:
    """Each part on its own lines, with a `...` comment wherever text is left out."""
    parts = sorted(parts, key=lambda part: part.pos)
    pieces = []
    for index, part in enumerate(parts):
        following = parts[index + 1].pos if index + 1 < len(parts) else start
        pieces.append(part.text + "\n")
        if _NON_SPACE.search(text, part.end, following):
            pieces.append(f"{_INDENT.match(text, following).group()}{comment} ...\n")
    return pieces


def _outline_cost(text: str, parts: Iterable[_Part], start: int, count: CountTokens,
                  comment: str) -> int:
    return sum(count(piece) for piece in _outline_pieces(text, parts, start, comment))


# -- situation -------------------------------------------------------------------------


def _situation(text: str, offset: int, line_prefix: str, line_suffix: str,
               syntax: _Syntax | None) -> Situation:
    """What the cursor is in."""
    found: dict[str, list[Node]] = {}
    if syntax is not None:
        at = syntax.cursor_byte
        found = syntax.captures(max(0, at - 1), at + 1)
        comment = syntax.language.line_comment.encode()
        for node in found.get(Capture.COMMENT, ()):
            if node.start_byte < at < node.end_byte or (
                    at == node.end_byte and node.text.startswith(comment)):
                return Situation.COMMENT
        if any(node.start_byte < at < node.end_byte for node in found.get(Capture.STRING, ())):
            return Situation.STRING
        if not (line_prefix + line_suffix).strip() and _in_empty_block(syntax, text, offset):
            return Situation.EMPTY_BLOCK
    if _IDENTIFIER_END.search(line_prefix):
        return Situation.IDENTIFIER
    if syntax is not None and any(_open_around(node, syntax.cursor_byte)
                                  for node in found.get(Capture.ARGUMENTS, ())):
        return Situation.ARGUMENTS
    return Situation.CODE


def _in_empty_block(syntax: _Syntax, text: str, offset: int) -> bool:
    """On a blank line, in a block without statements: between braces, in the empty
    indented block a header such as `def f():` just opened, or in a definition that has
    no body yet (`def f` ... `end`)."""
    before = _end_of_text_before(text, offset)
    after = _NON_SPACE.search(text, offset)
    low, high = syntax.byte(before), syntax.byte(after.start() if after else len(text))
    found = syntax.captures(max(0, low - 1), high + 1)
    blocks = found.get(Capture.BLOCK, [])
    if any(block.named_child_count == 0 and block.start_byte <= low and (
            block.end_byte >= high or block.start_byte == block.end_byte) for block in blocks):
        return True
    return any(definition.start_byte < low and high < definition.end_byte and not any(
        definition.start_byte < block.start_byte and block.end_byte <= definition.end_byte
        for block in blocks) for definition in found.get(Capture.DEFINITION, ()))


def _end_of_text_before(text: str, offset: int) -> int:
    """The index just after the last non-blank character before `offset` (0 if none)."""
    while offset > 0 and text[offset - 1].isspace():
        offset -= 1
    return offset


def _open_around(node: Node, at: int) -> bool:
    """Whether the byte offset is inside the node, or at its end with the closer missing."""
    if node.start_byte < at < node.end_byte:
        return True
    last = node.child(node.child_count - 1) if node.child_count else None
    return at == node.end_byte and last is not None and last.is_missing
