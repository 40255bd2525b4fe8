"""Code actions that ask the chat model about a piece of code, and edits from its answers.

Pure: from a file's text and a range (string offsets) to the messages for the model, and
from the model's answer to the replacement text. The server turns offsets into LSP
positions and the replacement into a WorkspaceEdit.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from enum import Enum

from tree_sitter import QueryCursor

from refact_lsp.chat import Message, Role
from refact_lsp.documents import Document


class CodeAction(str, Enum):
    EXPLAIN = "explain"
    DOCSTRING = "docstring"
    TYPE_HINTS = "typeHints"
    ASK = "ask"

    @property
    def title(self) -> str:
        return _TITLES[self]

    @property
    def edits_code(self) -> bool:
        """Whether the answer replaces the code (else it is text for the person)."""
        return self in (CodeAction.DOCSTRING, CodeAction.TYPE_HINTS)


_TITLES = {
    CodeAction.EXPLAIN: "Explain this code",
    CodeAction.DOCSTRING: "Write a docstring",
    CodeAction.TYPE_HINTS: "Add type hints",
    CodeAction.ASK: "Ask about this...",
}

_ONLY_CODE = ("Answer with the whole code in one fenced code block, changed only by "
              "{change}, and nothing else.")
_REQUESTS = {
    CodeAction.EXPLAIN: "Explain what this {language} code from {path} does.",
    CodeAction.DOCSTRING: "Write a docstring for this {language} code from {path}. "
                          + _ONLY_CODE.format(change="the new docstring"),
    CodeAction.TYPE_HINTS: "Add type hints to this {language} code from {path}. "
                           + _ONLY_CODE.format(change="the type hints"),
}


@dataclass(frozen=True)
class Target:
    """The code an action is about: `text[start:end]` of the file at `path`."""

    text: str  # the whole file
    start: int
    end: int
    path: str
    language: str  # the LSP languageId, also the fence's info string

    @property
    def code(self) -> str:
        return self.text[self.start:self.end]

    @property
    def line_start(self) -> int:
        """Where the code's place begins: the start of its first line where only
        indentation comes before it there (so that the model sees, and the edit
        replaces, whole lines), else the target's start."""
        line_start = self.text.rfind("\n", 0, self.start) + 1
        return self.start if self.text[line_start:self.start].strip() else line_start


@dataclass(frozen=True)
class Edit:
    """Replace `text[start:end]` of the target's file with `new_text`."""

    start: int
    end: int
    new_text: str


def messages_for(action: CodeAction, target: Target, question: str = "") -> list[Message]:
    """One user message: the request and the code, dedented and fenced. No system
    message: some templates refuse one, and each format brings its own default."""
    if action is CodeAction.ASK:
        if not question.strip():
            raise ValueError("'Ask about this...' needs a question")
        request = f"{question.strip()}\n\nThe code, {target.language} from {target.path}:"
    else:
        request = _REQUESTS[action].format(language=target.language, path=target.path)
    code = textwrap.dedent(_lf(target.text[target.line_start:target.end])).strip("\n")
    return [Message(Role.USER, f"{request}\n\n{_fenced(code, target.language)}")]


def _fenced(code: str, language: str) -> str:
    """A fence longer than any run of backticks in the code, so the code cannot close it."""
    longest = max((len(run) for run in re.findall(r"`+", code)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{language}\n{code}\n{fence}"


def function_at(document: Document, offset: int) -> tuple[int, int] | None:
    """The whole lines of the innermost definition around `offset` (with its decorators),
    for an action at a cursor without a selection; None outside any definition or in a
    file without a syntax tree."""
    tree = document.tree()
    if tree is None or document.language is None:
        return None
    text = document.text
    at = len(text[:offset].encode("utf-8", "surrogatepass"))
    cursor = QueryCursor(document.language.query)
    cursor.set_byte_range(max(at - 1, 0), at + 1)
    nodes = [node for node in cursor.captures(tree.root_node).get("definition", ())
             if node.start_byte <= at <= node.end_byte]
    if not nodes:
        return None
    node = min(nodes, key=lambda node: node.end_byte - node.start_byte)
    while node.parent is not None and node.parent in nodes:  # a decorated definition
        node = node.parent
    data = text.encode("utf-8", "surrogatepass")
    start = len(data[:node.start_byte].decode("utf-8", "surrogatepass"))
    end = len(data[:node.end_byte].decode("utf-8", "surrogatepass"))
    line_end = text.find("\n", end)
    return text.rfind("\n", 0, start) + 1, len(text) if line_end < 0 else line_end + 1


# -- answers to edits ------------------------------------------------------------------

_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})[^\n]*\n(.*?)(?:^[ \t]*\1[`~]*[ \t]*$|\Z)",
                    re.MULTILINE | re.DOTALL)


def has_code_block(answer: str) -> bool:
    """Whether the answer has a fenced code block."""
    return _FENCE.search(_lf(answer)) is not None


def code_from_answer(answer: str) -> str:
    """Only the code of an answer: its first fenced block, else the whole answer;
    dedented, without blank lines around it, lines ending in `\\n`."""
    answer = _lf(answer)
    match = _FENCE.search(answer)
    code = match.group(2) if match else answer
    return textwrap.dedent(code).strip("\n").rstrip()


def code_edit(target: Target, answer: str) -> Edit | None:
    """The edit that puts the answer's code in place of the target's: indented as the
    target's first line, with the target's line endings, ending in a line break where
    the target did. None for an answer without code: an empty edit would delete it."""
    code = code_from_answer(answer)
    if not code.strip():
        return None
    text, start = target.text, target.line_start
    first_line = text.rfind("\n", 0, start) + 1
    indent = re.match(r"[ \t]*", text[first_line:]).group()
    lines = [indent + line if line.strip() else "" for line in code.split("\n")]
    if start > first_line:  # the target starts after code on its line
        lines[0] = lines[0][len(indent):]
    selected = target.code
    newline = "\r\n" if "\r\n" in (selected if "\n" in selected else text) else "\n"
    new_text = newline.join(lines) + (newline if selected.endswith("\n") else "")
    return Edit(start, target.end, new_text)


def _lf(text: str) -> str:
    return text.replace("\r\n", "\n")
