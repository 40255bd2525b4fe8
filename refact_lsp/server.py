"""The LSP layer: thin pygls handlers around documents, settings and the completer.

Handlers run on the protocol's event loop; inference runs on one worker thread. Messages
to the client from other threads go through `RefactLanguageServer.send_soon`. Over stdio,
messages are read by `framing.MessageReader` on a thread of their own.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import ctypes
import dataclasses
import enum
import functools
import ipaddress
import json
import logging
import os
import re
import socket
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any, BinaryIO

from lsprotocol import types
from pygls.exceptions import (
    FeatureNotificationError,
    FeatureRequestError,
    JsonRpcException,
    JsonRpcInvalidRequest,
)
from pygls.io_ import StdoutWriter
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol, lsp_method
from pygls.protocol.json_rpc import RPCRequest

from refact_lsp import __version__
from refact_lsp.completion import Completer, Job, Result, Worker
from refact_lsp.config import Settings, editor_settings
from refact_lsp.documents import Document, Position
from refact_lsp.engines import create_engine
from refact_lsp.engines.base import EngineError, EngineUnavailable
from refact_lsp.framing import Broken, MessageReader
from refact_lsp.models import ModelError
from refact_lsp.secrets import SECRETS
from refact_lsp.text import word_before

log = logging.getLogger(__name__)

STATS_METHOD = "refact/stats"
DOCUMENT_TEXT_METHOD = "refact/documentText"
WARM_DELAY_S = 0.3  # idle time after an edit before the next prompt is evaluated ahead
GIVE_BACK_CHARS = 1 << 20  # closing a document this large returns freed memory at once

# Settings whose change needs the engine loaded again (and jumpPromptMs turned on or
# off: the room for smaller windows is made at load; other changes of it and of
# jumpStartMs apply at once).
ENGINE_SETTINGS = ("model", "cache_dir", "template", "n_ctx", "n_threads", "n_gpu_layers",
                   "flash_attn", "kv_reuse", "candidates", "engine")
MAX_UINTEGER = 2**31 - 1  # LSP's largest line or character number
# The start of an HTTP request, as a browser sends it (TCP mode refuses such a connection).
HTTP_REQUEST_LINE = re.compile(rb"^(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS|CONNECT|TRACE) ")
HTTP_SNIFF_BYTES = 64
HTTP_SNIFF_S = 5.0


class RefactProtocol(LanguageServerProtocol):
    """pygls's protocol, changed so that every request gets an answer.

    A request whose params fail to parse gets InvalidParams, JSON that is not a JSON-RPC
    2.0 message gets InvalidRequest, and so do a request after `shutdown`, one whose id
    is neither a number nor a string and one for a notification's method; a request
    before `initialize` gets ServerNotInitialized (pygls would leave them unanswered, or
    fail on them, and the editor would wait forever). A
    didChange with negative positions is clamped like any other out-of-range position
    rather than dropped (a dropped edit leaves the server's text wrong for good). A
    cancel for a request already answered is ignored quietly. And pygls's own copy of
    every open document is not kept: `RefactLanguageServer.documents` is the one copy.
    """

    def structure_message(self, data: dict[str, Any]) -> Any:
        if "method" in data and not isinstance(data["method"], str):
            error = JsonRpcInvalidRequest("the method must be a string")
            if "id" in data:
                self._send_response(_request_id(data), error=error.to_response_error())
            raise error
        if "jsonrpc" in data and "method" in data:
            data.setdefault("params", None)  # optional in JSON-RPC; pygls's types need it
            if data["method"] == types.TEXT_DOCUMENT_DID_CHANGE:
                _clamp_change_positions(data["params"])
        try:
            message = super().structure_message(data)
        except JsonRpcException as exc:
            if "id" in data and "method" in data:
                self._send_response(_request_id(data), error=exc.to_response_error())
            raise
        if "jsonrpc" in data and "id" in data and "method" in data \
                and not hasattr(message, "id"):  # pygls would take it as the notification
            error = JsonRpcInvalidRequest(f"{data['method']} is a notification: it takes no id")
            self._send_response(_request_id(data), error=error.to_response_error())
            raise error
        return message

    def handle_message(self, message: Any) -> None:
        if getattr(message, "jsonrpc", None) != self.VERSION:
            log.warning("not a JSON-RPC 2.0 message: %s", type(message).__name__)
            self.send_error(_request_id(message), types.ErrorCodes.InvalidRequest,
                            "Invalid request: not a JSON-RPC 2.0 message")
            return
        if isinstance(message, RPCRequest) and _request_id(message) is None:
            self.send_error(None, types.ErrorCodes.InvalidRequest,
                            "Invalid request: an id must be a number or a string")
            return
        if self._shutdown and isinstance(message, RPCRequest):
            self.send_error(message.id, types.ErrorCodes.InvalidRequest,
                            "Invalid request: the server is shut down")
            return
        method = getattr(message, "method", None)
        if self._workspace is None and method not in (None, types.INITIALIZE, types.EXIT):
            # Before initialize, as LSP says: requests get an error, notifications are
            # dropped (run now, they would fail, and a completion would wait for ever).
            if isinstance(message, RPCRequest):
                self.send_error(message.id, types.ErrorCodes.ServerNotInitialized,
                                "Server not initialized: send initialize first")
            else:
                log.warning("dropped %s: it came before initialize", method)
            return
        super().handle_message(message)

    def _handle_cancel_notification(self, msg_id: Any) -> None:
        """A cancel that comes after the answer is the usual race of typing, not worth
        a warning a keystroke (pygls warns)."""
        if isinstance(msg_id, (int, str)) and msg_id in self._request_futures:
            super()._handle_cancel_notification(msg_id)

    def send_error(self, msg_id: int | str | None, code: int, message: str) -> None:
        """A JSON-RPC error answer. An unknown id goes out as null, as JSON-RPC asks
        (lsprotocol's ResponseErrorMessage would leave the id out)."""
        self._send_data({"jsonrpc": self.VERSION, "id": msg_id,
                         "error": {"code": int(code), "message": message}})

    def answer_unreadable(self, reason: str) -> None:
        """Bytes that were not a message: JSON-RPC's parse error, with id null."""
        log.warning("unreadable message from the editor: %s", reason)
        self.send_error(None, types.ErrorCodes.ParseError, f"Parse error: {reason}")

    # Plain calls, not pygls's generator handlers: pygls keeps the future of a generator
    # handler run for a notification for good, one per keystroke.

    @lsp_method(types.TEXT_DOCUMENT_DID_OPEN)
    def lsp_text_document__did_open(self, params: types.DidOpenTextDocumentParams) -> None:
        self.fm.features[types.TEXT_DOCUMENT_DID_OPEN](params)

    @lsp_method(types.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(self, params: types.DidChangeTextDocumentParams
                                      ) -> None:
        self.fm.features[types.TEXT_DOCUMENT_DID_CHANGE](params)

    @lsp_method(types.TEXT_DOCUMENT_DID_CLOSE)
    def lsp_text_document__did_close(self, params: types.DidCloseTextDocumentParams) -> None:
        self.fm.features[types.TEXT_DOCUMENT_DID_CLOSE](params)


class RefactLanguageServer(LanguageServer):
    def __init__(self, settings: Settings) -> None:
        super().__init__("refact-lsp", __version__, protocol_cls=RefactProtocol,
                         text_document_sync_kind=types.TextDocumentSyncKind.Incremental)
        SECRETS.remember([settings.engine.api_key])
        self.settings = settings
        self.documents: dict[str, Document] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        self._completer: concurrent.futures.Future[Completer] | None = None
        self._worker: Worker | None = None
        self._load_lock = threading.Lock()
        self._shown_error: str | None = None
        self._warm_timers: dict[str, asyncio.TimerHandle] = {}

    # -- reading messages ----------------------------------------------------------------

    def start_io(self, stdin: BinaryIO | None = None, stdout: BinaryIO | None = None) -> None:
        """pygls's stdio server, with `framing.MessageReader` in place of pygls's read
        loop, which never answers again after one badly framed message."""
        self._stop_event = threading.Event()
        self.protocol.set_writer(StdoutWriter(stdout or _own_stdout()))
        # The file descriptor, not sys.stdin: a thread blocked in a buffered read holds
        # its lock, and the interpreter's exit would then abort waiting for it.
        read = stdin.read1 if stdin is not None else functools.partial(os.read, 0)
        try:
            asyncio.run(self._serve(MessageReader(read)))
        except BrokenPipeError:
            log.error("the editor closed the connection")
        except (KeyboardInterrupt, SystemExit):
            pass
        finally:
            self.shutdown()

    def start_tcp(self, host: str, port: int) -> None:
        """One editor connection on host:port, read by the same `MessageReader` as stdio
        (pygls's TCP mode has its read loop); the server ends with the connection."""
        if not _is_loopback(host):
            log.warning("listening on %s: any machine that reaches it can use this server "
                        "and read the code it is sent (TCP mode has no authentication; it "
                        "is meant for debugging on 127.0.0.1)", host)
        with socket.create_server((host, port)) as listener:
            log.info("listening on %s:%d", *listener.getsockname()[:2])
            while True:
                connection, peer = listener.accept()
                opening = _opening(connection)
                if opening is Opening.LSP:
                    break
                if opening is Opening.HTTP:
                    log.warning("refused a connection from %s:%d: it spoke HTTP (a web "
                                "page?), not LSP", *peer[:2])
        log.info("connected to %s:%d", *peer[:2])
        with connection, connection.makefile("rb") as incoming, \
                connection.makefile("wb") as outgoing:
            self.start_io(incoming, outgoing)

    async def _serve(self, reader: MessageReader) -> None:
        """Hand each message the reader finds on its thread to `receive`, in order,
        until the input ends."""
        loop = asyncio.get_running_loop()
        ended: asyncio.Future[None] = loop.create_future()

        def read_all() -> None:
            try:
                while (item := reader.next()) is not None:
                    loop.call_soon_threadsafe(self.receive, item)
            except Exception:
                log.exception("reading messages failed")
            finally:
                if not loop.is_closed():
                    loop.call_soon_threadsafe(lambda: ended.done() or ended.set_result(None))

        threading.Thread(target=read_all, name="refact-lsp-stdin", daemon=True).start()
        await ended

    def receive(self, item: bytes | Broken) -> None:
        """Handle one message body on the event loop. Invalid UTF-8 is replaced, as
        editors' own decoders do; what is not JSON gets a parse error."""
        if isinstance(item, Broken):
            self.protocol.answer_unreadable(item.reason)
            return
        try:
            text = item.decode("utf-8")
        except UnicodeDecodeError as exc:
            log.warning("a message with invalid UTF-8 (%s); replaced", exc.reason)
            text = item.decode("utf-8", "replace")
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as exc:
            self.protocol.answer_unreadable(f"not JSON ({type(exc).__name__}: {exc})")
            return
        try:
            # The top level only: as an object_hook, pygls's structuring also fires on
            # nested objects that merely look like messages and loses the request.
            message = self.protocol.structure_message(data) if isinstance(data, dict) \
                else data
        except JsonRpcException:
            return  # params that do not parse: answered in structure_message when a request
        try:
            self.protocol.handle_message(message)
        except Exception:
            log.exception("handling a message failed")

    def report_server_error(self, error: Exception, source: Any) -> None:
        """Errors pygls catches go to the log, never a popup for each message. A
        notification handler that failed (an edit may be lost) is told to the person."""
        if source is FeatureNotificationError:
            log.error("%s\n%s", error, getattr(error, "data", None) or "")
            self.show_error(f"internal error: {error}; details in the log")
        elif source is not FeatureRequestError:  # those are answered, and pygls logs them
            log.error("%s", error)

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
        message = SECRETS.redact(message)
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
        with self._load_lock:
            current = self._completer is future
            if current:
                self._worker = Worker(functools.partial(self._infer, completer))
        if not current:  # the settings changed while it loaded: a newer load serves
            log.info("closed %s: the settings changed while it loaded", engine.description)
            engine.close()
            progress.end("superseded")
            future.set_exception(EngineError("superseded by a settings change"))
            return
        self._shown_error = None
        log.info("ready: %s", engine.description)
        progress.end(f"Ready: {engine.description}")
        future.set_result(completer)
        self.send_soon(self._warm_newest)

    def _warm_newest(self) -> None:
        """Warm the document opened last: a didOpen that came while the model loaded (as
        the first ones do) found nothing to warm."""
        if self.documents:
            self.warm_opened(next(reversed(self.documents)))

    def warm_opened(self, uri: str) -> None:
        """Warm a document just opened. The cursor is not known yet: the end keeps the
        longest prompt start for any cursor."""
        document = self.documents[uri]
        self.warm_soon(uri, document.position_at(len(document.text)), delay=0)

    def _infer(self, completer: Completer, job: Job) -> Result | None:
        """Inference on the worker thread. A shared engine that stops answering, or
        answers nonsense, is told to the person once and gives empty answers until it
        is back."""
        try:
            result = completer.run(job)
        except EngineError as exc:
            self.show_error(str(exc))
            return None
        except Exception as exc:  # an engine's answer of an unexpected shape, say
            log.exception("completion failed")
            self.show_error(f"completion failed ({type(exc).__name__}: {exc}); "
                            "details in the log")
            return None
        if not job.warm_only:  # a real request reached the engine: working again, and
            self._shown_error = None  # the next failure is news (a warm-up proves nothing)
        return result

    def loaded_completer(self) -> Completer | None:
        """The completer if the engine has loaded; None while it loads or where it failed."""
        future = self._completer
        if future is None or not future.done() or future.exception() is not None:
            return None
        return future.result()

    async def completer(self) -> Completer | None:
        """The ready completer, waiting for it to load; None where loading failed.

        The load is shared: a request cancelled while it waits must not cancel the load
        (wrap_future alone would, and every later request would fail)."""
        future = self.load_engine()
        try:
            return await asyncio.shield(asyncio.wrap_future(future))
        except Exception:  # ModelError, EngineError, or anything a native library raised
            return None

    def apply_settings(self, values: Any) -> None:
        values = editor_settings(values)
        SECRETS.remember(_api_keys(values))  # before a problem quotes one
        settings, problems = self.settings.updated(values)
        for problem in problems:
            log.warning("%s", problem)
        old, self.settings = self.settings, settings
        reload = (any(getattr(settings, name) != getattr(old, name)
                      for name in ENGINE_SETTINGS)
                  or (settings.jump_prompt_ms > 0) != (old.jump_prompt_ms > 0))
        if reload and self._completer is not None:
            self.unload_engine()
            self.load_engine()
        elif (completer := self.loaded_completer()) is not None:
            completer.settings = settings
            completer.engine.jump(settings.jump_prompt_ms, settings.jump_start_ms)

    def unload_engine(self) -> None:
        """Close the engine and its worker; a load still in flight closes its own."""
        with self._load_lock:
            old, worker = self.loaded_completer(), self._worker
            self._completer, self._worker = None, None
        if worker:
            worker.close()
        if old is not None:
            old.engine.close()

    # -- completion ----------------------------------------------------------------------

    async def suggest(self, uri: str, position: types.Position) -> Result | None:
        """The suggestion at a position, or None (unknown document, no model, cancelled)."""
        self.cancel_warm(uri)
        completer = await self.completer()
        document = self.documents.get(uri)
        if completer is None or document is None or self._worker is None:
            return None
        prepared = completer.prepare(document, Position(position.line, position.character),
                                     self._others(uri))
        if isinstance(prepared, Result):
            return prepared
        result = await self._run(prepared)
        if result is not None and result.generation is not None \
                and result.generation.short_window:
            # Served from a smaller window after a jump: while the person reads it, the
            # cache climbs on toward the full window (the next keystroke stops that).
            self.warm_soon(uri, prepared.start, delay=0)
        return result

    def _others(self, uri: str) -> list[Document]:
        """The open documents other than `uri` (their snippets may join its prompt)."""
        return [doc for key, doc in self.documents.items() if key != uri]

    def warm_soon(self, uri: str, position: Position, delay: float = WARM_DELAY_S) -> None:
        """After `delay` seconds without edits or requests for `uri`, evaluate the prompt
        at `position` in the background so the next request there starts warm."""
        self.cancel_warm(uri)
        if self.loop is not None:
            self._warm_timers[uri] = self.loop.call_later(delay, self._warm, uri, position)

    def _warm(self, uri: str, position: Position) -> None:
        self._warm_timers.pop(uri, None)
        completer, document = self.loaded_completer(), self.documents.get(uri)
        if completer is None or document is None or self._worker is None:
            return
        job = completer.prepare(document, position, self._others(uri), warm=True)
        if isinstance(job, Job):
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
    ls.warm_opened(item.uri)


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
        if (completer := ls.loaded_completer()) is not None:
            completer.forget(document.uri)
        size = len(document.text)
        document.close()
        if size >= GIVE_BACK_CHARS:
            _give_back_memory()


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
    cursor = document.offset_at(result.start)
    line_start = document.offset_at(Position(result.start.line, 0))
    word = word_before(document.text[line_start:cursor])
    start = document.position_at(cursor - len(word))
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


def document_text(ls: RefactLanguageServer, params: Any) -> dict[str, Any] | None:
    """`refact/documentText` {textDocument: {uri}, tree?: bool}: the server's copy of an
    open document (and its syntax tree as an S-expression), so that tests can check it
    against the editor's; null where the document is not open."""
    text_document = getattr(params, "textDocument", None)
    document = ls.documents.get(str(getattr(text_document, "uri", "")))
    if document is None:
        return None
    tree = document.tree() if getattr(params, "tree", False) else None
    return {"version": document.version, "text": document.text,
            "tree": str(tree.root_node) if tree is not None else None}


def shutdown(ls: RefactLanguageServer, params: Any) -> None:
    ls.unload_engine()


def _range(start: Position, end: Position) -> types.Range:
    return types.Range(types.Position(start.line, start.character),
                       types.Position(end.line, end.character))


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL(None).malloc_trim  # glibc's
    except (OSError, AttributeError):
        return None  # another C library: nothing to do


def _give_back_memory() -> None:
    """Hand the heap's free memory back to the system. glibc keeps what a big document
    and its syntax tree used, and a long session that opened a few would stay that
    large for good."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def _own_stdout() -> BinaryIO:
    """The protocol's own copy of stdout; file descriptor 1 itself then goes to stderr.

    Native code writes to fd 1, or points it elsewhere for a while: llama-cpp-python
    sends it to /dev/null while a model loads, and every message the server sent
    meanwhile was lost. Neither may touch the messages."""
    sys.stdout.flush()
    protocol_out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    return protocol_out


def _api_keys(values: Mapping[str, Any]) -> Iterator[str]:
    """The strings given as engine.apiKey (whatever its spelling, even of a wrong type)."""
    engine = values.get("engine")
    for key, value in engine.items() if isinstance(engine, Mapping) else ():
        if re.sub(r"[_-]", "", str(key)).lower() == "apikey":
            items = value if isinstance(value, (list, tuple)) else [value]
            yield from (str(item) for item in items if item is not None)


def _request_id(message: Any) -> int | str | None:
    """The id of what looks like a request (it has a method member, valid or not), for
    its error answer; None where there is none (a response has no method)."""
    if isinstance(message, dict):
        msg_id, is_request = message.get("id"), "method" in message
    else:
        msg_id, is_request = getattr(message, "id", None), hasattr(message, "method")
    if not is_request or isinstance(msg_id, bool) or not isinstance(msg_id, (int, str)):
        return None
    return msg_id


def _clamp_change_positions(params: Any) -> None:
    """Bring a didChange's positions into LSP's range, in place, as Document reads them:
    a line before the first is the start of the text, a character before the first the
    start of its line, and larger numbers than LSP allows the ends."""
    changes = params.get("contentChanges") if isinstance(params, dict) else None
    for change in changes if isinstance(changes, list) else ():
        edges = change.get("range") if isinstance(change, dict) else None
        for edge in edges.values() if isinstance(edges, dict) else ():
            if isinstance(edge, dict) and _is_int(edge.get("line")) \
                    and _is_int(edge.get("character")):
                if edge["line"] < 0:
                    edge["line"] = edge["character"] = 0
                edge["line"] = min(edge["line"], MAX_UINTEGER)
                edge["character"] = max(0, min(edge["character"], MAX_UINTEGER))


def _is_loopback(host: str) -> bool:
    try:
        return all(ipaddress.ip_address(info[4][0]).is_loopback
                   for info in socket.getaddrinfo(host, None))
    except (OSError, ValueError):
        return False


class Opening(enum.Enum):
    """How a TCP connection starts."""

    LSP = "lsp"  # LSP's headers, or nothing yet: an editor
    HTTP = "http"  # an HTTP request line: refused
    CLOSED = "closed"  # closed before it said anything: a port probe, skipped


def _opening(connection: socket.socket) -> Opening:
    """How `connection` starts, waiting for its first bytes at most HTTP_SNIFF_S (an
    editor sends its initialize at once). A browser's page can post to a port on
    127.0.0.1, and the body would be taken for an LSP message: a connection that starts
    with an HTTP request line (`POST / HTTP/1.1`) is answered 403 and closed, and so is
    one closed before it said anything."""
    connection.settimeout(HTTP_SNIFF_S)
    try:
        head = connection.recv(HTTP_SNIFF_BYTES, socket.MSG_PEEK)
    except (TimeoutError, OSError):
        return Opening.LSP  # silent so far: the editor speaks first when it is ready
    finally:
        connection.settimeout(None)
    if head and not HTTP_REQUEST_LINE.match(head):
        return Opening.LSP
    if head:
        with contextlib.suppress(OSError):
            connection.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n"
                               b"Connection: close\r\n\r\n")
    connection.close()
    return Opening.HTTP if head else Opening.CLOSED


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


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
    (DOCUMENT_TEXT_METHOD, document_text, None),
]
