"""The completion service: the engine's life, warm-ups and `suggest`, without LSP.

The language server and `refact-lsp complete` share it. It owns the engine (loaded in
the background, once per settings change, and again when a setting that needs a new
engine changes), the inference worker (one thread: the newest request for a document
wins, completion.Worker) and the warm-ups (the next prompt evaluated while the person
pauses). A problem is told to the person once (`tell`), until a real request worked.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import ctypes
import functools
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from refact_lsp.completion import Completer, Job, Result, Worker
from refact_lsp.config import Settings, editor_settings
from refact_lsp.documents import Document, Position
from refact_lsp.engines import create_engine
from refact_lsp.engines.base import EngineError, EngineUnavailable
from refact_lsp.models import ModelError
from refact_lsp.repository import WorkspaceContext
from refact_lsp.secrets import SECRETS, api_keys
from refact_lsp.stops import Trigger

log = logging.getLogger(__name__)

WARM_DELAY_S = 0.3  # idle time after an edit before the next prompt is evaluated ahead
GIVE_BACK_CHARS = 1 << 20  # closing a document this large returns freed memory at once


class LoadProgress(Protocol):
    """Where a model's download and load are shown (the editor's $/progress, a terminal)."""

    def begin(self, title: str) -> None: ...

    def __call__(self, done: int, total: int | None, message: str) -> None: ...

    def end(self, message: str) -> None: ...


class CompletionService:
    """Suggestions for the open documents, from the engine the settings ask for."""

    def __init__(self, settings: Settings, documents: Mapping[str, Document],
                 tell: Callable[[str], None],
                 progress: Callable[[], LoadProgress]) -> None:
        """`documents` is the caller's live map of open documents (read, never written);
        `tell` shows one line to the person; `progress` makes a reporter per load."""
        SECRETS.remember([settings.engine.api_key])
        self.settings = settings
        self.documents = documents
        self.loop: asyncio.AbstractEventLoop | None = None  # for warm-up timers
        self._tell = tell
        self._progress = progress
        self._completer: concurrent.futures.Future[Completer] | None = None
        self._worker: Worker | None = None
        self._load_lock = threading.Lock()
        self._shown_error: str | None = None
        self._warm_timers: dict[str, asyncio.TimerHandle] = {}
        self.workspace = WorkspaceContext(documents)

    # -- telling the person ----------------------------------------------------------------

    def show_error(self, message: str) -> None:
        """Tell the person once per distinct problem; details go to the log."""
        message = SECRETS.redact(message)
        log.error("%s", message)
        if message != self._shown_error:
            self._shown_error = message
            self._tell(message)

    # -- the engine --------------------------------------------------------------------------

    def load_engine(self) -> concurrent.futures.Future[Completer]:
        """Start loading the engine in the background (once per settings change; again
        after a shared engine was unreachable)."""
        with self._load_lock:
            if self._completer is not None and not _unreachable(self._completer):
                return self._completer
            future: concurrent.futures.Future[Completer] = concurrent.futures.Future()
            self._completer = future
        threading.Thread(target=self._load, args=(future, self.settings),
                         name="refact-lsp-load", daemon=True).start()
        return future

    def _load(self, future: concurrent.futures.Future[Completer], settings: Settings) -> None:
        progress = self._progress()
        progress.begin(f"Loading model {settings.model}")
        try:
            engine = create_engine(settings, progress)
        except Exception as exc:  # ModelError, EngineError, anything from a native library
            progress.end("failed")
            if not isinstance(exc, (ModelError, EngineError)):
                log.exception("loading the engine failed")
            self.show_error(str(exc) if isinstance(exc, (ModelError, EngineError))
                            else f"cannot load the model: {exc}")
            future.set_exception(exc)
            return
        completer = Completer(engine, settings, self.workspace.repository)
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
        self._soon(self._warm_newest)

    def _infer(self, completer: Completer, job: Job) -> Result | None:
        """Inference on the worker thread. A shared engine that stops answering, or
        answers nonsense, is told to the person once and gives empty answers until it
        is back."""
        try:
            with self.workspace.generating():
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

    def submit_long(self, key: str, job: Any) -> concurrent.futures.Future | None:
        """Put a long job (a chat answer) on the inference worker; None without one."""
        return self._worker.submit(key, job) if self._worker is not None else None

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

    def apply_settings(self, payload: Any) -> None:
        """Take an editor's settings payload; load the engine again where a setting that
        it was made with changed."""
        values = editor_settings(payload)
        SECRETS.remember(api_keys(values))  # before a problem quotes one
        settings, problems = self.settings.updated(values)
        for problem in problems:
            log.warning("%s", problem)
        old, self.settings = self.settings, settings
        if settings.needs_new_engine(old) and self._completer is not None:
            self.unload_engine()
            self.load_engine()
        elif (completer := self.loaded_completer()) is not None:
            completer.settings = settings
            completer.engine.jump(settings.jump_prompt_ms, settings.jump_start_ms)
        self._follow_workspace_setting()

    def close(self) -> None:
        """The engine and the workspace index go (shutdown)."""
        self.unload_engine()
        self.workspace.close()

    def unload_engine(self) -> None:
        """Close the engine and its worker; a load still in flight closes its own."""
        with self._load_lock:
            old, worker = self.loaded_completer(), self._worker
            self._completer, self._worker = None, None
        if worker:
            worker.close()
        if old is not None:
            old.engine.close()

    # -- documents ---------------------------------------------------------------------------

    def open_workspace(self, roots: list[str]) -> None:
        """The workspace folders (none: open documents only), indexed in the background
        while `workspaceContext` is on."""
        self.workspace.roots = roots
        self._follow_workspace_setting()

    def _follow_workspace_setting(self) -> None:
        """Start or drop the repository as `workspaceContext` says; the completer sees it."""
        self.workspace.follow(self.settings.workspace_context)
        if (completer := self.loaded_completer()) is not None:
            completer.repository = self.workspace.repository

    def opened(self, uri: str) -> None:
        """Warm a document just opened. The cursor is not known yet: the end keeps the
        longest prompt start for any cursor."""
        document = self.documents[uri]
        self.workspace.opened(document)
        self.warm_soon(uri, document.position_at(len(document.text)), delay=0)

    def edited(self, uri: str, cursor: Position) -> None:
        """An edit ended at `cursor`: a running request's answer would be for text that
        is gone; the prompt there is warmed after a pause."""
        if self._worker is not None:
            self._worker.supersede(uri)
        self.workspace.edited(self.documents[uri], cursor.line)
        self.warm_soon(uri, cursor)

    def saved(self, uri: str) -> None:
        self.workspace.saved(self.documents.get(uri), uri)

    def watched(self, uri: str, removed: bool) -> None:
        """A file changed on disk (workspace/didChangeWatchedFiles)."""
        self.workspace.watched(uri, removed)

    def closed(self, document: Document) -> None:
        """A closed document leaves nothing behind; a large one gives its memory back."""
        self.cancel_warm(document.uri)
        if self._worker is not None:
            self._worker.supersede(document.uri)
        self.workspace.closed(document)
        if (completer := self.loaded_completer()) is not None:
            completer.forget(document.uri)
        size = len(document.text)
        document.close()
        if size >= GIVE_BACK_CHARS:
            _give_back_memory()

    # -- completion ----------------------------------------------------------------------------

    async def suggest(self, uri: str, position: Position,
                      trigger: Trigger = Trigger.AUTOMATIC) -> Result | None:
        """The suggestion at a position, or None (unknown document, no model, cancelled)."""
        self.cancel_warm(uri)
        completer = await self.completer()
        if completer is None or self._worker is None:
            return None
        prepared = self._prepare(completer, uri, position, trigger)
        if not isinstance(prepared, Job):
            return prepared
        result = await self._run(prepared)
        if result is not None and result.generation is not None \
                and result.generation.short_window:
            # Served from a smaller window after a jump: while the person reads it, the
            # cache climbs on toward the full window (the next keystroke stops that).
            self.warm_soon(uri, prepared.start, delay=0)
        return result

    def complete_now(self, uri: str, position: Position) -> Result | None:
        """The suggestion at a position, on this thread, with an engine loaded for it
        and closed after (the command line: asked for). Raises ModelError or EngineError,
        for a person to read."""
        completer = Completer(create_engine(self.settings, self._progress()), self.settings)
        try:
            prepared = self._prepare(completer, uri, position, Trigger.INVOKED)
            return completer.run(prepared) if isinstance(prepared, Job) else prepared
        finally:
            completer.engine.close()

    def _prepare(self, completer: Completer, uri: str, position: Position, trigger: Trigger
                 ) -> Job | Result | None:
        """The job for a request, or its answer where it needs no inference; None for a
        document that is not open. Asked about after another document, the code the
        person left there joins the recently visited code."""
        document = self.documents.get(uri)
        if document is None:
            return None
        self.workspace.asked(uri, position.line)
        return completer.prepare(document, position, trigger=trigger)

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

    # -- warm-ups ------------------------------------------------------------------------------

    def warm_soon(self, uri: str, position: Position, delay: float = WARM_DELAY_S) -> None:
        """After `delay` seconds without edits or requests for `uri`, evaluate the prompt
        at `position` in the background so the next request there starts warm."""
        self.cancel_warm(uri)
        if self.loop is not None:
            self._warm_timers[uri] = self.loop.call_later(delay, self._warm, uri, position)

    def cancel_warm(self, uri: str) -> None:
        timer = self._warm_timers.pop(uri, None)
        if timer is not None:
            timer.cancel()

    def _warm(self, uri: str, position: Position) -> None:
        self._warm_timers.pop(uri, None)
        completer, document = self.loaded_completer(), self.documents.get(uri)
        if completer is None or document is None or self._worker is None:
            return
        job = completer.prepare(document, position, warm=True)
        if isinstance(job, Job):
            self._worker.warm(job)

    def _warm_newest(self) -> None:
        """Warm the document opened last: a didOpen that came while the model loaded (as
        the first ones do) found nothing to warm."""
        if self.documents:
            self.opened(next(reversed(self.documents)))

    def _soon(self, call: Callable[[], None]) -> None:
        """Run `call` on the event loop (its timers are not thread-safe); nothing where
        there is no loop (the command line warms nothing)."""
        if self.loop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(call)


def _unreachable(future: concurrent.futures.Future[Completer]) -> bool:
    """A load that failed only because a shared engine was down: try it again."""
    return future.done() and isinstance(future.exception(), EngineUnavailable)


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

