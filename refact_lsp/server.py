"""The LSP layer: thin pygls handlers around documents, settings and the completer.

Handlers run on the protocol's event loop; inference runs on one worker thread. Messages
to the client from other threads go through `RefactLanguageServer.send_soon`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import functools
import logging
import threading
from collections.abc import Callable
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol, lsp_method

from refact_lsp import __version__
from refact_lsp.completion import Completer, Job, Result, Worker
from refact_lsp.config import Settings, editor_settings
from refact_lsp.documents import Document, Position
from refact_lsp.engines import create_engine
from refact_lsp.engines.base import EngineError, EngineUnavailable
from refact_lsp.models import ModelError

log = logging.getLogger(__name__)

STATS_METHOD = "refact/stats"
WARM_DELAY_S = 0.3  # idle time after an edit before the next prompt is evaluated ahead

# Settings whose change needs the engine loaded again.
ENGINE_SETTINGS = ("model", "cache_dir", "template", "n_ctx", "n_threads", "n_gpu_layers",
                   "flash_attn", "kv_reuse", "engine")


class RefactProtocol(LanguageServerProtocol):
    """pygls's protocol, with two changes.

    A request whose params fail to parse gets an InvalidParams answer (pygls would leave
    it unanswered and the editor would wait forever), and pygls's own copy of every open
    document is not kept: `RefactLanguageServer.documents` is the one copy.
    """

    def structure_message(self, data: dict[str, Any]) -> Any:
        try:
            return super().structure_message(data)
        except JsonRpcException as exc:
            if isinstance(data, dict) and "id" in data and "method" in data:
                self._send_response(data["id"], error=exc.to_response_error())
            raise

    @lsp_method(types.TEXT_DOCUMENT_DID_OPEN)
    def lsp_text_document__did_open(self, params: types.DidOpenTextDocumentParams):
        yield self.fm.features[types.TEXT_DOCUMENT_DID_OPEN], (params,), None

    @lsp_method(types.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(self, params: types.DidChangeTextDocumentParams):
        yield self.fm.features[types.TEXT_DOCUMENT_DID_CHANGE], (params,), None

    @lsp_method(types.TEXT_DOCUMENT_DID_CLOSE)
    def lsp_text_document__did_close(self, params: types.DidCloseTextDocumentParams):
        yield self.fm.features[types.TEXT_DOCUMENT_DID_CLOSE], (params,), None


class RefactLanguageServer(LanguageServer):
    def __init__(self, settings: Settings) -> None:
        super().__init__("refact-lsp", __version__, protocol_cls=RefactProtocol,
                         text_document_sync_kind=types.TextDocumentSyncKind.Incremental)
        self.settings = settings
        self.documents: dict[str, Document] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        self._completer: concurrent.futures.Future[Completer] | None = None
        self._worker: Worker | None = None
        self._load_lock = threading.Lock()
        self._shown_error: str | None = None
        self._warm_timers: dict[str, asyncio.TimerHandle] = {}

    # -- messages from any thread ------------------------------------------------------

    def send_soon(self, send: Callable[[], None]) -> None:
        """Run `send` on the event loop: the writer is not thread-safe."""
        if self.loop is None or self.loop.is_closed():
            return
        if threading.current_thread() is threading.main_thread():
            send()
        else:
            self.loop.call_soon_threadsafe(send)

    def show_error(self, message: str) -> None:
        """Tell the person once per distinct problem; details go to the log."""
        log.error("%s", message)
        if message == self._shown_error:
            return
        self._shown_error = message
        self.send_soon(lambda: self.window_show_message(
            types.ShowMessageParams(types.MessageType.Error, f"refact-lsp: {message}")))

    # -- the engine ----------------------------------------------------------------------

    def load_engine(self) -> concurrent.futures.Future[Completer]:
        """Start loading the engine in the background (once per settings change)."""
        with self._load_lock:
            if self._completer is not None and not _unreachable(self._completer):
                return self._completer
            future: concurrent.futures.Future[Completer] = concurrent.futures.Future()
            self._completer = future
        threading.Thread(target=self._load, args=(future, self.settings),
                         name="refact-lsp-load", daemon=True).start()
        return future

    def _load(self, future: concurrent.futures.Future[Completer], settings: Settings) -> None:
        progress = EditorProgress(self)
        progress.begin(f"Loading model {settings.model}")
        try:
            engine = create_engine(settings, progress)
        except (ModelError, EngineError) as exc:
            progress.end("failed")
            self.show_error(str(exc))
            future.set_exception(exc)
            return
        except Exception as exc:  # anything else from a native library: never fatal
            log.exception("loading the engine failed")
            progress.end("failed")
            self.show_error(f"cannot load the model: {exc}")
            future.set_exception(exc)
            return
        completer = Completer(engine, settings)
        self._worker = Worker(functools.partial(self._infer, completer))
        self._shown_error = None
        log.info("ready: %s", engine.description)
        progress.end(f"Ready: {engine.description}")
        future.set_result(completer)

    def _infer(self, completer: Completer, job: Job) -> Result | None:
        """Inference on the worker thread. A shared engine that stops answering is told
        to the person once and gives empty answers until it is back."""
        try:
            result = completer.run(job)
        except EngineError as exc:
            self.show_error(str(exc))
            return None
        self._shown_error = None  # working again: the next failure is news
        return result

    async def completer(self) -> Completer | None:
        """The ready completer, waiting for it to load; None where loading failed."""
        future = self.load_engine()
        try:
            return await asyncio.wrap_future(future)
        except (ModelError, EngineError):
            return None
        except Exception:
            return None

    def apply_settings(self, values: Any) -> None:
        settings, problems = self.settings.updated(editor_settings(values))
        for problem in problems:
            log.warning("%s", problem)
        reload = any(getattr(settings, name) != getattr(self.settings, name)
                     for name in ENGINE_SETTINGS)
        self.settings = settings
        if reload and self._completer is not None:
            self.unload_engine()
            self.load_engine()
        elif self._completer is not None and self._completer.done() \
                and not self._completer.exception():
            self._completer.result().settings = settings

    def unload_engine(self) -> None:
        old, worker = self._completer, self._worker
        self._completer, self._worker = None, None
        if worker:
            worker.close()
        if old is not None and old.done() and not old.exception():
            old.result().engine.close()

    # -- completion ----------------------------------------------------------------------

    async def suggest(self, uri: str, position: types.Position) -> Result | None:
        """The suggestion at a position, or None (unknown document, no model, cancelled)."""
        self.cancel_warm(uri)
        completer = await self.completer()
        document = self.documents.get(uri)
        if completer is None or document is None or self._worker is None:
            return None
        others = [doc for key, doc in self.documents.items() if key != uri]
        prepared = completer.prepare(document, Position(position.line, position.character),
                                     others)
        if isinstance(prepared, Result):
            return prepared
        return await self._run(prepared)

    def warm_soon(self, uri: str, position: Position, delay: float = WARM_DELAY_S) -> None:
        """After `delay` seconds without edits or requests for `uri`, evaluate the prompt
        at `position` in the background so the next request there starts warm."""
        timer = self._warm_timers.pop(uri, None)
        if timer is not None:
            timer.cancel()
        if self.loop is not None:
            self._warm_timers[uri] = self.loop.call_later(delay, self._warm, uri, position)

    def _warm(self, uri: str, position: Position) -> None:
        self._warm_timers.pop(uri, None)
        future, document = self._completer, self.documents.get(uri)
        if future is None or not future.done() or future.exception() or document is None \
                or self._worker is None:
            return
        job = future.result().prepare(document, position)
        if isinstance(job, Job):
            job.warm_only = True
            self._worker.warm(job)

    def cancel_warm(self, uri: str) -> None:
        timer = self._warm_timers.pop(uri, None)
        if timer is not None:
            timer.cancel()

    async def _run(self, job: Job) -> Result | None:
        worker = self._worker
        assert worker is not None
        future = worker.submit(job.uri, job)
        try:
            result = await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            job.cancel.set()  # $/cancelRequest: stop the decode too
            raise
        document = self.documents.get(job.uri)
        if result is None or document is None or document.version != job.version:
            return None  # superseded, or the text moved on meanwhile
        return result


class EditorProgress:
    """Model download/load progress as `$/progress` where the client supports it.

    Nothing is sent on the token before the client has acknowledged its creation."""

    _count = 0

    def __init__(self, server: RefactLanguageServer) -> None:
        EditorProgress._count += 1
        self.server = server
        self.token = f"refact-lsp/load-model-{EditorProgress._count}"
        self.percent: int | None = None
        self.title = ""
        self.ready = False
        self.ended: str | None = None
        caps = server.protocol.client_capabilities
        window = caps.window if caps else None
        self.enabled = bool(window and window.work_done_progress)

    def _notify(self, value: Any) -> None:
        self.server.protocol.notify(types.PROGRESS,
                                    types.ProgressParams(token=self.token, value=value))

    def _created(self, *_: Any) -> None:
        self.ready = True
        self._notify(types.WorkDoneProgressBegin(title=self.title, percentage=0))
        if self.ended is not None:
            self._notify(types.WorkDoneProgressEnd(message=self.ended))

    def begin(self, title: str) -> None:
        self.title = title
        if self.enabled:
            create = types.WorkDoneProgressCreateParams(token=self.token)
            self.server.send_soon(lambda: self.server.protocol.send_request(
                types.WINDOW_WORK_DONE_PROGRESS_CREATE, create, self._created))

    def __call__(self, done: int, total: int | None, message: str) -> None:
        percent = int(done * 100 / total) if total else None
        if not self.ready or (percent is not None and percent == self.percent):
            return
        self.percent = percent
        value = types.WorkDoneProgressReport(message=message, percentage=percent)
        self.server.send_soon(lambda: self._notify(value))

    def end(self, message: str) -> None:
        if self.enabled:
            self.server.send_soon(lambda: self._end(message))

    def _end(self, message: str) -> None:
        if self.ready:
            self._notify(types.WorkDoneProgressEnd(message=message))
        else:
            self.ended = message  # sent once the client acknowledges the token


def create_server(settings: Settings) -> RefactLanguageServer:
    server = RefactLanguageServer(settings)
    for name, handler, options in HANDLERS:
        server.feature(name, options)(handler)
    return server


# -- handlers ------------------------------------------------------------------------------


def initialize(ls: RefactLanguageServer, params: types.InitializeParams) -> None:
    ls.loop = asyncio.get_running_loop() if _has_loop() else None
    if params.initialization_options is not None:
        ls.apply_settings(params.initialization_options)


def initialized(ls: RefactLanguageServer, params: types.InitializedParams) -> None:
    ls.loop = asyncio.get_running_loop() if _has_loop() else ls.loop
    ls.load_engine()


def did_open(ls: RefactLanguageServer, params: types.DidOpenTextDocumentParams) -> None:
    item = params.text_document
    document = Document(item.uri, item.text, item.version, item.language_id,
                        encoding=str(ls.workspace.position_encoding))
    ls.documents[item.uri] = document
    # The cursor is not known yet: the end keeps the longest prompt start for any cursor.
    ls.warm_soon(item.uri, document.position_at(len(document.text)), delay=0)


def did_change(ls: RefactLanguageServer, params: types.DidChangeTextDocumentParams) -> None:
    document = ls.documents.get(params.text_document.uri)
    if document is None:
        log.warning("change for a document that is not open: %s", params.text_document.uri)
        return
    if ls._worker is not None:
        ls._worker.supersede(document.uri)  # its answer would be for text that is gone
    for change in params.content_changes:
        if isinstance(change, types.TextDocumentContentChangePartial):
            start, end = change.range.start, change.range.end
            document.replace(Position(start.line, start.character),
                             Position(end.line, end.character), change.text)
        else:
            document.set_text(change.text)
    document.version = params.text_document.version
    if params.content_changes:
        change = params.content_changes[-1]
        end = change.range.start if isinstance(change, types.TextDocumentContentChangePartial) \
            else types.Position(0, 0)
        offset = document.offset_at(Position(end.line, end.character)) + len(change.text)
        ls.warm_soon(document.uri, document.position_at(offset))


def did_close(ls: RefactLanguageServer, params: types.DidCloseTextDocumentParams) -> None:
    document = ls.documents.pop(params.text_document.uri, None)
    ls.cancel_warm(params.text_document.uri)
    if document is not None:
        if ls._worker is not None:
            ls._worker.supersede(document.uri)
        if ls._completer is not None and ls._completer.done() \
                and not ls._completer.exception():
            ls._completer.result().forget(document.uri)
        document.close()


def did_change_configuration(ls: RefactLanguageServer,
                             params: types.DidChangeConfigurationParams) -> None:
    ls.apply_settings(params.settings)


async def inline_completion(ls: RefactLanguageServer, params: types.InlineCompletionParams
                            ) -> types.InlineCompletionList:
    result = await ls.suggest(params.text_document.uri, params.position)
    if result is None or not result.text:
        return types.InlineCompletionList(items=[])
    return types.InlineCompletionList(items=[types.InlineCompletionItem(
        insert_text=result.text, range=_range(result.start, result.end))])


async def completion(ls: RefactLanguageServer, params: types.CompletionParams
                     ) -> types.CompletionList:
    result = await ls.suggest(params.text_document.uri, params.position)
    document = ls.documents.get(params.text_document.uri)
    if result is None or not result.text or document is None:
        return types.CompletionList(is_incomplete=True, items=[])
    # Clients filter items by the word before the cursor: start the edit at that word.
    line = document.line_text(result.start.line)
    offset = document.offset_at(result.start) - document.offset_at(Position(result.start.line,
                                                                             0))
    word = _word_before(line[:offset])
    start = document.position_at(document.offset_at(result.start) - len(word))
    new_text = word + result.text
    label = new_text.strip().split("\n")[0][:80] or new_text
    return types.CompletionList(is_incomplete=True, items=[types.CompletionItem(
        label=label, kind=types.CompletionItemKind.Text, detail="refact-lsp",
        documentation=new_text,
        filter_text=new_text, sort_text="0", preselect=True,
        insert_text_format=types.InsertTextFormat.PlainText,
        text_edit=types.TextEdit(_range(Position(start.line, start.character), result.end),
                                 new_text))])


async def stats(ls: RefactLanguageServer, params: Any) -> dict[str, Any]:
    """`refact/stats`: what the caches saved, for benchmarks and curious people."""
    completer = await ls.completer()
    if completer is None:
        return {}
    values = dataclasses.asdict(completer.stats)
    values["engine"] = completer.engine.description
    return values


def shutdown(ls: RefactLanguageServer, params: Any) -> None:
    ls.unload_engine()


def _word_before(text: str) -> str:
    index = len(text)
    while index > 0 and (text[index - 1].isalnum() or text[index - 1] == "_"):
        index -= 1
    return text[index:]


def _range(start: Position, end: Position) -> types.Range:
    return types.Range(types.Position(start.line, start.character),
                       types.Position(end.line, end.character))


def _unreachable(future: concurrent.futures.Future[Completer]) -> bool:
    """A load that failed only because a shared engine was down: try it again."""
    return future.done() and isinstance(future.exception(), EngineUnavailable)


def _has_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


HANDLERS: list[tuple[str, Callable[..., Any], Any]] = [
    (types.INITIALIZE, initialize, None),
    (types.INITIALIZED, initialized, None),
    (types.TEXT_DOCUMENT_DID_OPEN, did_open, None),
    (types.TEXT_DOCUMENT_DID_CHANGE, did_change, None),
    (types.TEXT_DOCUMENT_DID_CLOSE, did_close, None),
    (types.WORKSPACE_DID_CHANGE_CONFIGURATION, did_change_configuration, None),
    (types.TEXT_DOCUMENT_INLINE_COMPLETION, inline_completion,
     types.InlineCompletionOptions()),
    (types.TEXT_DOCUMENT_COMPLETION, completion, types.CompletionOptions()),
    (types.SHUTDOWN, shutdown, None),
    (STATS_METHOD, stats, None),
]
