"""The real server's copy of a document stays right under any sequence of edits.

Random incremental edits (and whole-text ones) go to the real server process as
didChange messages, one or several changes a message; after each message the server's
own text and syntax tree, read back with `refact/documentText`, must equal a reference
applied apart from the server and a fresh parse of that text. test_documents.py checks
the Document class alone; this checks what the server actually holds.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tree_sitter import Parser

from refact_lsp.documents import Position
from refact_lsp.languages import language_for
from tests.support.raw_client import RawServer, tiny_server
from tests.test_documents import positions, reference_offset, texts

pytestmark = pytest.mark.model  # starts the server or loads a model (conftest.py)

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "200"))  # more for a longer local run
LANGUAGES = {"python": "py", "javascript": "js"}
WHOLE = None  # a change without a range: the whole text

changes = st.tuples(positions, positions, texts) | st.tuples(st.just(WHOLE), st.just(WHOLE),
                                                             texts)
# Edits, grouped into didChange messages of one to three changes each.
messages = st.lists(st.lists(changes, min_size=1, max_size=3), min_size=1, max_size=8)
uris = (f"file:///work/edited-{n}" for n in itertools.count())


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RawServer]:
    server = tiny_server(tmp_path_factory.mktemp("documents"))
    yield server
    assert server.close() == 0


def as_change(start: Position | None, end: Position | None, text: str) -> dict[str, Any]:
    if start is None or end is None:
        return {"text": text}
    return {"range": {"start": {"line": start.line, "character": start.character},
                      "end": {"line": end.line, "character": end.character}}, "text": text}


def apply(text: str, start: Position | None, end: Position | None, new_text: str) -> str:
    """The reference: test_documents.py's offsets, applied to a plain string."""
    if start is None or end is None:
        return new_text
    a, b = sorted((reference_offset(text, start), reference_offset(text, end)))
    return text[:a] + new_text + text[b:]


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(initial=texts, edits=messages, language=st.sampled_from(sorted(LANGUAGES)))
def test_the_servers_text_and_tree_follow_every_edit(
        server: RawServer, initial: str, edits: list[list[tuple[Any, Any, str]]],
        language: str) -> None:
    uri = f"{next(uris)}.{LANGUAGES[language]}"
    ts_language = language_for(language, uri)
    assert ts_language is not None
    parser = Parser(ts_language.ts_language)
    server.open_document(uri, initial, language)
    expected = initial
    for version, message in enumerate(edits, 2):
        server.notify("textDocument/didChange", {
            "textDocument": {"uri": uri, "version": version},
            "contentChanges": [as_change(*change) for change in message]})
        for change in message:
            expected = apply(expected, *change)
        copy = server.request("refact/documentText",
                              {"textDocument": {"uri": uri}, "tree": True})["result"]
        assert copy["version"] == version
        assert copy["text"] == expected
        fresh = parser.parse(expected.encode("utf-8", "surrogatepass"))
        assert copy["tree"] == str(fresh.root_node)
    server.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
    closed = server.request("refact/documentText", {"textDocument": {"uri": uri}})
    assert closed["result"] is None
