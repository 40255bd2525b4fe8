"""The real server as an editor drives it: a subprocess spoken to over LSP on stdio."""

from __future__ import annotations

import sys
import time
from typing import Any

from lsprotocol import types
from pygls.lsp.client import LanguageClient

from benchmarks.humaneval_infill.tasks import Task


class Editor:
    """One server process; each task is opened as a document, completed and closed."""

    def __init__(self, model: str, settings: dict[str, Any]) -> None:
        self.model = model
        self.settings = settings
        self.client = LanguageClient("humaneval-infill", "1")
        self.count = 0

    async def start(self) -> None:
        await self.client.start_io(sys.executable, "-m", "refact_lsp.cli",
                                   "--model", self.model)
        await self.client.initialize_async(types.InitializeParams(
            capabilities=types.ClientCapabilities(
                text_document=types.TextDocumentClientCapabilities(
                    inline_completion=types.InlineCompletionClientCapabilities())),
            initialization_options=self.settings))
        self.client.initialized(types.InitializedParams())

    async def complete(self, task: Task) -> tuple[str, float]:
        """The document after accepting the first inline item (unchanged where there is
        none), and the seconds from request to answer."""
        self.count += 1
        uri = f"file:///humaneval/task_{self.count}.py"
        self.client.text_document_did_open(types.DidOpenTextDocumentParams(
            types.TextDocumentItem(uri=uri, language_id="python", version=1,
                                   text=task.document)))
        started = time.perf_counter()
        result = await self.client.text_document_inline_completion_async(
            types.InlineCompletionParams(
                text_document=types.TextDocumentIdentifier(uri),
                position=types.Position(task.line, task.character),
                context=types.InlineCompletionContext(
                    types.InlineCompletionTriggerKind.Automatic)))
        seconds = time.perf_counter() - started
        self.client.text_document_did_close(types.DidCloseTextDocumentParams(
            types.TextDocumentIdentifier(uri)))
        items = result.items if isinstance(result, types.InlineCompletionList) else result
        if not items:
            return task.document, seconds
        cursor = types.Position(task.line, task.character)
        return accept(task.document, items[0], cursor), seconds

    async def stop(self) -> None:
        await self.client.shutdown_async(None)
        self.client.exit(None)
        await self.client.stop()


def accept(text: str, item: types.InlineCompletionItem, cursor: types.Position) -> str:
    """Apply an inline item as an editor does: its text replaces its range, or is
    inserted at the cursor where it has none."""
    insert = item.insert_text if isinstance(item.insert_text, str) else item.insert_text.value
    rng = item.range or types.Range(cursor, cursor)
    start, end = _offset(text, rng.start), _offset(text, rng.end)
    return text[:start] + insert + text[end:]


def _offset(text: str, position: types.Position) -> int:
    """String index of an LSP position (UTF-16 columns)."""
    lines = text.split("\n")
    before = sum(len(line) + 1 for line in lines[:position.line])
    line = lines[position.line] if position.line < len(lines) else ""
    units = 0
    for index, char in enumerate(line):
        if units >= position.character:
            return before + index
        units += 2 if ord(char) > 0xFFFF else 1
    return before + len(line)
