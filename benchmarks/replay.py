"""A person typing, replayed against the real server over LSP: shared by the benchmarks.

`function_blocks` picks function bodies to type again; `keys` turns lines into
keystrokes the way an editor sends them (Enter indents the next line at once);
`Editor` is one editor session: an LSP server process, documents, and inline
completion requests of which a newer one cancels the older with `$/cancelRequest`.
"""

from __future__ import annotations

import ast
import asyncio
import math
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pygls.lsp.client import LanguageClient

STATS_METHOD = "refact/stats"


@dataclass(frozen=True)
class Block:
    """Lines of a module that a person types again, at line `start` of the rest."""

    path: Path
    start: int
    lines: list[str]


def function_blocks(path: Path, min_lines: int = 3, max_lines: int = 8) -> list[Block]:
    """Function bodies (after any docstring) of min_lines to max_lines lines, in order."""
    source = path.read_text().split("\n")
    found = []
    for node in ast.walk(ast.parse("\n".join(source))):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        body = node.body[1:] if _is_docstring(node.body[0]) else node.body
        if not body:
            continue
        start, end = body[0].lineno - 1, node.end_lineno or 0
        lines = source[start:end]
        if min_lines <= len(lines) <= max_lines and all(line.strip() for line in lines):
            found.append(Block(path, start, lines))
    return sorted(found, key=lambda block: block.start)


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank percentile: a value that was measured."""
    ranked = sorted(values)
    return ranked[max(0, math.ceil(q * len(ranked)) - 1)]


def proc_status(pid: int, field: str) -> int:
    """A number from /proc/PID/status (VmHWM, VmRSS in kB; Threads)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def memory_mb(pid: int, field: str = "VmHWM") -> float:
    """A process's memory figure (VmHWM: peak resident; VmRSS: now), in MB."""
    return proc_status(pid, field) / 1024


def _is_docstring(node: ast.stmt) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) \
        and isinstance(node.value.value, str)


def keys(lines: list[str]) -> Iterator[str]:
    """Keystrokes that type `lines` on a fresh line: the indentation at once (editors
    indent), then each character; Enter between lines brings the next indentation."""
    for number, text in enumerate(lines):
        indent = text[:len(text) - len(text.lstrip())]
        if number:
            yield "\n" + indent
        elif indent:
            yield indent
        yield from text[len(indent):]


def without(block: Block, text: str) -> str:
    """The module text with the block's lines replaced by one empty line."""
    lines = text.split("\n")
    lines[block.start:block.start + len(block.lines)] = [""]
    return "\n".join(lines)


async def start_server(client: LanguageClient, *args: str) -> asyncio.Task[None]:
    """Start the server (`refact_lsp.cli` with `args`) for `client`, and relay its stderr
    (its log) to ours as it comes: pygls pipes it and reads none of it, so a server that
    logged more than a pipe holds (64 KiB: seconds with `-v`) would block at its next line.
    Keep the task returned until the server stops."""
    await client.start_io(sys.executable, "-m", "refact_lsp.cli", *args, env=dict(os.environ))
    stream = client._server.stderr  # the process pygls started

    async def relay() -> None:
        while line := await stream.readline():
            sys.stderr.buffer.write(line)
            sys.stderr.flush()

    return asyncio.create_task(relay())


class Editor:
    """One editor session with its own server process."""

    def __init__(self, server_args: list[str], options: dict[str, Any],
                 name: str = "replay") -> None:
        self.server_args = server_args
        self.options = options
        self.client = LanguageClient(name, "1")
        self.messages: list[str] = []
        self.client.feature(types.WINDOW_SHOW_MESSAGE)(
            lambda params: self.messages.append(params.message))
        self.pending: tuple[str, asyncio.Task[Any]] | None = None
        self._unanswered: set[asyncio.Task[Any]] = set()  # asked soon, answer not read yet
        self.cancelled = 0
        self.failed = 0
        self._ids = 0

    async def start(self, workspace: Path | None = None) -> None:
        """Start the server; `workspace` is the folder opened (rootUri), none by default."""
        self._log = await start_server(self.client, *self.server_args)
        capabilities = types.ClientCapabilities(
            text_document=types.TextDocumentClientCapabilities(
                inline_completion=types.InlineCompletionClientCapabilities()))
        folders = [types.WorkspaceFolder(workspace.as_uri(), workspace.name)] \
            if workspace else None
        await self.client.initialize_async(types.InitializeParams(
            capabilities=capabilities, initialization_options=self.options,
            root_uri=workspace.as_uri() if workspace else None, workspace_folders=folders))
        self.client.initialized(types.InitializedParams())

    @property
    def pid(self) -> int:
        return self.client._server.pid  # the server process pygls started

    def peak_rss_mb(self) -> float:
        """The server's peak resident memory, in MB."""
        return memory_mb(self.pid, "VmHWM")

    def rss_mb(self) -> float:
        return memory_mb(self.pid, "VmRSS")

    def open(self, uri: str, text: str, language_id: str = "python") -> None:
        self.client.text_document_did_open(types.DidOpenTextDocumentParams(
            types.TextDocumentItem(uri, language_id, 1, text)))

    def close(self, uri: str) -> None:
        self.client.text_document_did_close(types.DidCloseTextDocumentParams(
            types.TextDocumentIdentifier(uri)))

    def insert(self, uri: str, version: int, at: types.Position, text: str) -> None:
        self.client.text_document_did_change(types.DidChangeTextDocumentParams(
            types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            [types.TextDocumentContentChangePartial(types.Range(at, at), text)]))

    def ask_soon(self, uri: str, position: types.Position) -> None:
        """Ask without waiting, cancelling the previous request if still unanswered."""
        self.cancel_pending()
        self._ids += 1
        msg_id = f"replay-{self._ids}"
        task = asyncio.ensure_future(self.ask(uri, position, msg_id))
        self._unanswered.add(task)
        task.add_done_callback(self._unanswered.discard)
        self.pending = (msg_id, task)

    def cancel_pending(self) -> None:
        if self.pending and not self.pending[1].done():
            self.client.protocol.notify(types.CANCEL_REQUEST,
                                        types.CancelParams(id=self.pending[0]))
            self.cancelled += 1
        self.pending = None

    async def ask(self, uri: str, position: types.Position, msg_id: str | None = None,
                  trigger: types.InlineCompletionTriggerKind =
                  types.InlineCompletionTriggerKind.Automatic
                  ) -> types.InlineCompletionList | None:
        """Automatic: as an editor asks while the person types; Invoked: a key press."""
        params = types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri=uri), position=position,
            context=types.InlineCompletionContext(trigger_kind=trigger))
        try:
            return await self.client.protocol.send_request_async(
                types.TEXT_DOCUMENT_INLINE_COMPLETION, params, msg_id=msg_id)
        except JsonRpcException as exc:
            if exc.code != types.LSPErrorCodes.RequestCancelled:
                self.failed += 1
            return None

    async def timed_ask(self, uri: str, position: types.Position,
                        patience: float | None = None) -> tuple[float, str]:
        """Wait for a suggestion as a person pausing does: (seconds waited, first item).
        After `patience` seconds the person types on without it (the request is left
        for the next keystroke to cancel) and the item is empty."""
        started = time.perf_counter()
        self.ask_soon(uri, position)
        assert self.pending is not None
        task = self.pending[1]
        await asyncio.wait({task}, timeout=patience)
        waited = time.perf_counter() - started
        result = task.result() if task.done() else None
        text = ""
        if result and result.items:
            insert = result.items[0].insert_text
            text = insert if isinstance(insert, str) else insert.value
        return waited, text

    async def stats(self) -> dict[str, Any]:
        result = await self.client.protocol.send_request_async(STATS_METHOD, None)
        return _plain(result)

    async def stop(self) -> None:
        self.cancel_pending()
        await asyncio.gather(*self._unanswered)  # each answered, or answered as cancelled
        await self.client.shutdown_async(None)
        self.client.exit(None)
        await self.client.stop()


def shown_evidence(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any] | None:
    """What the model said of the suggestion a request showed (confidence.py), from the
    server's stats before and after it; None where the request did not reach the model
    (an answer from the suggestion cache)."""
    return after["shown_evidence"] if after["generations"] > before["generations"] else None


def _plain(value: Any) -> Any:
    """pygls hands back an unknown method's result as namedtuples: make it dicts."""
    if hasattr(value, "_asdict"):
        return {key: _plain(item) for key, item in value._asdict().items()}
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value
