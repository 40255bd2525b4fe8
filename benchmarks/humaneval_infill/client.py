"""The real server as an editor drives it: a subprocess spoken to over LSP on stdio."""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

from lsprotocol import types
from pygls.lsp.client import LanguageClient

from benchmarks.humaneval_infill.tasks import Task

STATS = "refact/stats"


class Editor:
    """One server process; each task is opened as a document, completed and closed.

    With `think_s` > 0 a task is met as in an editor: the file is open (without the
    hole's line) for that long, then Enter is pressed on the line above the hole (the
    editor indents the new line) and the completion is asked for at once. With 0 the
    file is opened with the hole and asked about at once: a cold start.
    """

    def __init__(self, model: str, settings: dict[str, Any], think_s: float) -> None:
        self.model = model
        self.settings = settings
        self.think_s = think_s
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

    async def complete(self, task: Task) -> tuple[str, float, int]:
        """The document after accepting the first inline item (unchanged where there is
        none), the seconds from request to answer, and the tokens generated for it."""
        self.count += 1
        uri = f"file:///humaneval/task_{self.count}.py"
        if self.think_s > 0:
            self._open(uri, task.before_enter)
            await asyncio.sleep(self.think_s)
            above = task.document.split("\n")[task.line - 1]
            enter = types.Position(task.line - 1, len(above))
            self.client.text_document_did_change(types.DidChangeTextDocumentParams(
                types.VersionedTextDocumentIdentifier(uri=uri, version=2),
                [types.TextDocumentContentChangePartial(
                    range=types.Range(enter, enter),
                    text="\n" + task.document.split("\n")[task.line])]))
        else:
            self._open(uri, task.document)
        generated = await self._generated_tokens()
        started = time.perf_counter()
        result = await self.client.text_document_inline_completion_async(
            types.InlineCompletionParams(
                text_document=types.TextDocumentIdentifier(uri),
                position=types.Position(task.line, task.character),
                context=types.InlineCompletionContext(
                    types.InlineCompletionTriggerKind.Automatic)))
        seconds = time.perf_counter() - started
        tokens = await self._generated_tokens() - generated
        self.client.text_document_did_close(types.DidCloseTextDocumentParams(
            types.TextDocumentIdentifier(uri)))
        items = result.items if isinstance(result, types.InlineCompletionList) else result
        if not items:
            return task.document, seconds, tokens
        cursor = types.Position(task.line, task.character)
        return accept(task.document, items[0], cursor), seconds, tokens

    def _open(self, uri: str, text: str) -> None:
        self.client.text_document_did_open(types.DidOpenTextDocumentParams(
            types.TextDocumentItem(uri=uri, language_id="python", version=1, text=text)))

    async def _generated_tokens(self) -> int:
        """The server's count of tokens generated so far (`refact/stats`)."""
        stats = await self.client.protocol.send_request_async(STATS, {})
        return int(getattr(stats, "generated_tokens", 0))

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
