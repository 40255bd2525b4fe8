"""Code actions: the messages built from a selection or the function at the cursor, and the
code taken out of an answer and put in place (fences and prose dropped, indentation and
line endings of the place kept). No model: answers are written here."""

from __future__ import annotations

import textwrap

import pytest

from refact_lsp.chat import Role
from refact_lsp.code_actions import (
    CodeAction,
    Edit,
    Target,
    code_edit,
    code_from_answer,
    function_at,
    messages_for,
)
from refact_lsp.documents import Document

SOURCE = '''\
import os


class Point:
    def __init__(self, x, y):
        self.x = x
        self.y = y

    @property
    def norm(self):
        return (self.x ** 2 + self.y ** 2) ** 0.5


def main():
    print(Point(3, 4).norm)
'''

METHOD = '''\
    def __init__(self, x, y):
        self.x = x
        self.y = y
'''


def target(text: str, code: str, language: str = "python") -> Target:
    start = text.index(code)
    return Target(text, start, start + len(code), "src/shapes.py", language)


def apply(text: str, edit: Edit) -> str:
    return text[:edit.start] + edit.new_text + text[edit.end:]


def test_the_actions_are_a_fixed_set_with_titles():
    assert [action.title for action in CodeAction] == [
        "Explain this code", "Write a docstring", "Add type hints", "Ask about this..."]
    assert [action.edits_code for action in CodeAction] == [False, True, True, False]


# -- messages --------------------------------------------------------------------------


def test_a_request_is_one_user_message_with_the_code_dedented_and_fenced():
    messages = messages_for(CodeAction.DOCSTRING, target(SOURCE, METHOD))
    assert [m.role for m in messages] == [Role.USER]
    content = messages[0].content
    assert content.startswith("Write a docstring for this python code from src/shapes.py. ")
    assert content.endswith("\n\n```python\ndef __init__(self, x, y):\n    self.x = x\n"
                            "    self.y = y\n```")


def test_ask_puts_the_question_first_and_needs_one():
    content = messages_for(CodeAction.ASK, target(SOURCE, METHOD), " Why two fields? ")[0].content
    assert content.startswith("Why two fields?\n\nThe code, python from src/shapes.py:\n\n```")
    with pytest.raises(ValueError, match="needs a question"):
        messages_for(CodeAction.ASK, target(SOURCE, METHOD), "  ")


def test_code_with_backtick_fences_gets_a_longer_fence():
    text = 'doc = """\n```sh\nls\n```\n"""\n'
    content = messages_for(CodeAction.EXPLAIN, target(text, text, "markdown"))[0].content
    assert content.endswith("\n\n````markdown\n" + text.rstrip("\n") + "\n````")


def test_the_function_at_the_cursor_is_the_innermost_definition_in_whole_lines():
    document = Document("file:///src/shapes.py", SOURCE, language_id="python")
    start, end = function_at(document, SOURCE.index("self.y = y"))
    assert SOURCE[start:end] == METHOD


def test_the_function_at_the_cursor_has_its_decorators():
    document = Document("file:///src/shapes.py", SOURCE, language_id="python")
    start, end = function_at(document, SOURCE.index("** 0.5"))
    assert SOURCE[start:end].startswith("    @property\n    def norm(self):\n")


def test_no_function_outside_definitions_or_without_a_grammar():
    document = Document("file:///src/shapes.py", SOURCE, language_id="python")
    assert function_at(document, SOURCE.index("import os")) is None
    assert function_at(Document("file:///notes.txt", SOURCE), SOURCE.index("self.y")) is None


# -- answers ---------------------------------------------------------------------------


@pytest.mark.parametrize("answer", [
    "```python\ndef f():\n    return 1\n```",
    "Here is the code:\n\n```py\ndef f():\n    return 1\n```\n\nIt returns one.\n"
    "```python\nprint(f())\n```",
    "~~~\ndef f():\n    return 1\n~~~",
    "def f():\n    return 1\n",
    "\n\n    def f():\n        return 1\n\n",
    "1. The code:\n   ```python\n   def f():\n       return 1\n   ```",
    "```python\ndef f():\n    return 1\n",  # cut off before the closing fence
])
def test_the_code_is_the_first_fenced_block_or_else_the_whole_answer(answer):
    assert code_from_answer(answer) == "def f():\n    return 1"


def test_a_nested_method_keeps_the_indentation_of_its_place():
    answer = ('Sure! Here it is:\n```python\ndef __init__(self, x: float, y: float) -> None:\n'
              '    self.x = x\n\n    self.y = y\n```\nI added hints.')
    edit = code_edit(target(SOURCE, METHOD), answer)
    assert apply(SOURCE, edit) == SOURCE.replace(METHOD, (
        "    def __init__(self, x: float, y: float) -> None:\n"
        "        self.x = x\n\n        self.y = y\n"))


def test_an_answer_indented_as_the_original_is_not_indented_twice():
    answer = "```python\n" + METHOD.replace("self, x, y", "self, x: int, y: int") + "```"
    edit = code_edit(target(SOURCE, METHOD), answer)
    assert apply(SOURCE, edit) == SOURCE.replace("self, x, y", "self, x: int, y: int")


def test_a_selection_from_the_first_character_of_code_keeps_its_indentation():
    code = METHOD.lstrip(" ")
    assert messages_for(CodeAction.TYPE_HINTS, target(SOURCE, code))[0].content.endswith(
        "```python\ndef __init__(self, x, y):\n    self.x = x\n    self.y = y\n```")
    answer = "```python\n" + textwrap.dedent(METHOD).replace("x, y", "x, y, z") + "```"
    edit = code_edit(target(SOURCE, code), answer)
    assert edit.start == SOURCE.index(METHOD)
    assert apply(SOURCE, edit) == SOURCE.replace("x, y)", "x, y, z)")


def test_a_selection_inside_a_line_gets_no_indentation_before_its_first_line():
    code = "Point(3, 4).norm"
    edit = code_edit(target(SOURCE, code), "```python\nPoint(x=3, y=4).norm\n```")
    assert apply(SOURCE, edit) == SOURCE.replace(code, "Point(x=3, y=4).norm")


def test_a_selection_without_its_line_break_gets_none():
    code = METHOD.rstrip("\n")
    edit = code_edit(target(SOURCE, code), "```python\n" + code + "\n```")
    assert not edit.new_text.endswith("\n")
    assert apply(SOURCE, edit) == SOURCE


def test_crlf_files_get_crlf_lines():
    text = SOURCE.replace("\n", "\r\n")
    method = METHOD.replace("\n", "\r\n")
    answer = "```python\r\ndef __init__(self, x, y):\r\n    self.x = x\r\n    self.y = y\r\n```"
    edit = code_edit(target(text, method), answer)
    assert edit.new_text == method
    assert apply(text, edit) == text


def test_an_answer_without_code_is_no_edit():
    assert code_edit(target(SOURCE, METHOD), "") is None
    assert code_edit(target(SOURCE, METHOD), "```python\n\n```") is None
