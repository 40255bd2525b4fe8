"""The LSP layer: thin pygls handlers around the open documents and the completion service.

Handlers run on the protocol's event loop; inference runs on the service's worker thread.
Messages to the client from other threads go through `RefactLanguageServer.send_soon`.
Bytes are read and written by transport.py; protocol.py answers every request.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.exceptions import (
    FeatureNotificationError,
    FeatureRequestError,
    JsonRpcException,
    JsonRpcInvalidParams,
)
from pygls.lsp.server import LanguageServer

from refact_lsp import __version__, languages
from refact_lsp.acceptance import TOTALS_FILE, Acceptance
from refact_lsp.chat_service import ActionAnswer, ActionAsk, ChatError, ChatService
from refact_lsp.completion import Result
from refact_lsp.config import Settings
from refact_lsp.documents import Document, Position
from refact_lsp.models import cache_dir
from refact_lsp.protocol import RefactProtocol
from refact_lsp.service import CompletionService
from refact_lsp.stops import Trigger
from refact_lsp.text import path_of, word_before

log = logging.getLogger(__name__)

STATS_METHOD = "refact/stats"
DOCUMENT_TEXT_METHOD = "refact/documentText"
ACCEPTED_COMMAND = "refact-lsp.accepted"  # [{id}]: an inline item accepted whole
PARTIALLY_ACCEPTED_COMMAND = "refact-lsp.partiallyAccepted"  # [{id, acceptedLength}]
CHAT_METHOD = "refact/chat"  # {messages, maxTokens?, textDocument?, range?, workDoneToken?}
CODE_ACTION_COMMAND = "refact-lsp.codeAction"  # [{action, textDocument, range, ...}]
REPORT_INTERVAL_S = 0.05  # $/progress reports of a streamed answer, at most this often


class RefactLanguageServer(LanguageServer):
    def __init__(self, settings: Settings) -> None:
        super().__init__("refact-lsp", __version__, protocol_cls=RefactProtocol,
                         text_document_sync_kind=types.TextDocumentSyncKind.Incremental)
        self.documents: dict[str, Document] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        self.service = CompletionService(settings, self.documents, self.tell,
                                         lambda: EditorProgress(self))
        self.acceptance = Acceptance()
        self.chat = ChatService(self.service.completer, self.service.submit_long, self.documents)

    def totals_file(self) -> Path:
        """Where acceptance totals are kept: beside the models, in the cache dir."""
        return cache_dir(self.service.settings.cache_dir) / TOTALS_FILE

    def save_acceptance(self, *, now: bool = False) -> None:
        """Add the acceptance counts to the totals file: at shutdown, else when due."""
        if now or self.acceptance.save_due():
            try:
                self.acceptance.save(self.totals_file())
            except OSError as exc:
                log.warning("cannot keep acceptance totals in %s: %s", self.totals_file(), exc)

    def report_server_error(self, error: Exception, source: Any) -> None:
        """Errors pygls catches go to the log, never a popup for each message. A
        notification handler that failed (an edit may be lost) is told to the person."""
        if source is FeatureNotificationError:
            log.error("%s\n%s", error, getattr(error, "data", None) or "")
            self.service.show_error(f"internal error: {error}; details in the log")
        elif source is not FeatureRequestError:  # those are answered, and pygls logs them
            log.error("%s", error)

    def send_soon(self, send: Callable[[], None]) -> None:
        """Run `send` on the event loop: the writer is not thread-safe."""
        if self.loop is None or self.loop.is_closed():
            return
        if threading.current_thread() is threading.main_thread():
            send()
        else:
            self.loop.call_soon_threadsafe(send)

    def tell(self, message: str) -> None:
        """One line for the person, as an error message (`window/showMessage`)."""
        self.send_soon(lambda: self.window_show_message(
            types.ShowMessageParams(types.MessageType.Error, f"refact-lsp: {message}")))


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


class AnswerProgress:
    """A streamed answer as `$/progress` on a work-done token: begin, reports whose
    message is the whole answer so far (at most every REPORT_INTERVAL_S, and the last
    one before the end), end.

    The client's token (a request's workDoneToken) is used at once. Without one, with
    `create` and a client that supports it, the server makes one
    (window/workDoneProgress/create) and sends nothing on it before the client
    acknowledged it. Otherwise nothing is sent: the answer comes in the result."""

    _count = itertools.count(1)

    def __init__(self, server: RefactLanguageServer, token: int | str | None, title: str,
                 create: bool = False) -> None:
        self.server, self.title = server, title
        caps = server.protocol.client_capabilities
        window = caps.window if caps else None
        self.create = token is None and create and bool(window and window.work_done_progress)
        if self.create:
            token = f"refact-lsp/answer-{next(self._count)}"
        self.token = token
        self.ready = token is not None and not self.create
        self.text: str | None = None
        self.sent: str | None = None
        self.ended: str | None = None
        self.finished = False
        self._last = 0.0

    def begin(self) -> None:
        """Start the progress (on the event loop)."""
        if self.create:
            self.server.protocol.send_request(
                types.WINDOW_WORK_DONE_PROGRESS_CREATE,
                types.WorkDoneProgressCreateParams(token=self.token), self._created)
        elif self.ready:
            self._notify(types.WorkDoneProgressBegin(title=self.title))

    def _created(self, *_: Any) -> None:
        self.ready = True
        self._notify(types.WorkDoneProgressBegin(title=self.title))
        if self.ended is not None:
            self._finish()

    def report(self, text: str) -> None:
        """The answer so far; from any thread."""
        self.text = text
        now = time.monotonic()
        if self.ready and now - self._last >= REPORT_INTERVAL_S:
            self._last = now
            self.server.send_soon(self._flush)

    def _flush(self) -> None:
        if not self.finished and self.text is not None and self.text != self.sent:
            self.sent = self.text
            self._notify(types.WorkDoneProgressReport(message=self.text))

    def end(self, message: str) -> None:
        """End the progress (on the event loop), after the last report."""
        self.ended = message
        if self.ready:
            self._finish()

    def _finish(self) -> None:
        if not self.finished:
            self._flush()
            self.finished = True
            self._notify(types.WorkDoneProgressEnd(message=self.ended))

    def _notify(self, value: Any) -> None:
        self.server.protocol.notify(types.PROGRESS,
                                    types.ProgressParams(token=self.token, value=value))


def create_server(settings: Settings) -> RefactLanguageServer:
    server = RefactLanguageServer(settings)
    for name, handler, options in HANDLERS:
        server.feature(name, options)(handler)
    for name, handler in COMMANDS:
        server.command(name)(handler)
    return server


# -- handlers ------------------------------------------------------------------------------


def initialize(ls: RefactLanguageServer, params: types.InitializeParams) -> None:
    ls.loop = ls.service.loop = asyncio.get_running_loop() if _has_loop() else None
    if params.initialization_options is not None:
        ls.service.apply_settings(params.initialization_options)
    ls.service.open_workspace(_roots(params))


def initialized(ls: RefactLanguageServer, params: types.InitializedParams) -> None:
    ls.loop = ls.service.loop = asyncio.get_running_loop() if _has_loop() else ls.loop
    ls.service.load_engine()
    _watch_files(ls)


def did_open(ls: RefactLanguageServer, params: types.DidOpenTextDocumentParams) -> None:
    item = params.text_document
    document = Document(item.uri, item.text, item.version, item.language_id,
                        encoding=str(ls.workspace.position_encoding))
    ls.documents[item.uri] = document
    ls.service.opened(item.uri)


def did_change(ls: RefactLanguageServer, params: types.DidChangeTextDocumentParams) -> None:
    document = ls.documents.get(params.text_document.uri)
    if document is None:
        log.warning("change for a document that is not open: %s", params.text_document.uri)
        return
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
        ls.service.edited(document.uri, document.position_at(offset))


def did_close(ls: RefactLanguageServer, params: types.DidCloseTextDocumentParams) -> None:
    document = ls.documents.pop(params.text_document.uri, None)
    if document is not None:
        ls.service.closed(document)


def did_save(ls: RefactLanguageServer, params: types.DidSaveTextDocumentParams) -> None:
    ls.service.saved(params.text_document.uri)


def did_change_watched_files(ls: RefactLanguageServer,
                             params: types.DidChangeWatchedFilesParams) -> None:
    for change in params.changes:
        ls.service.watched(change.uri, removed=change.type == types.FileChangeType.Deleted)


def did_change_configuration(ls: RefactLanguageServer,
                             params: types.DidChangeConfigurationParams) -> None:
    ls.service.apply_settings(params.settings)


async def inline_completion(ls: RefactLanguageServer, params: types.InlineCompletionParams
                            ) -> types.InlineCompletionList:
    """Up to `candidates` different suggestions, best first; accepting one runs its
    command, which tells the server (acceptance.py)."""
    uri = params.text_document.uri
    invoked = params.context.trigger_kind == types.InlineCompletionTriggerKind.Invoked
    result = await _suggest(ls, uri, params.position,
                            Trigger.INVOKED if invoked else Trigger.AUTOMATIC)
    choices = result.choices() if result is not None else ()
    document = ls.documents.get(uri)
    language = document.language_id if document is not None else None
    ids = ls.acceptance.shown(language or "", [choice.text for choice in choices])
    ls.save_acceptance()
    return types.InlineCompletionList(items=[types.InlineCompletionItem(
        insert_text=choice.text, range=_range(result.start, choice.end),
        command=types.Command(title="refact-lsp: accepted", command=ACCEPTED_COMMAND,
                              arguments=[{"id": item_id}]))
        for choice, item_id in zip(choices, ids, strict=True)])


async def completion(ls: RefactLanguageServer, params: types.CompletionParams
                     ) -> types.CompletionList:
    result = await _suggest(ls, params.text_document.uri, params.position)
    document = ls.documents.get(params.text_document.uri)
    if result is None or not result.text or document is None:
        return types.CompletionList(is_incomplete=True, items=[])
    # Clients filter items by the word before the cursor: start the edit at that word.
    cursor = document.offset_at(result.start)
    line_start = document.offset_at(Position(result.start.line, 0))
    word = word_before(document.text[line_start:cursor])
    start = document.position_at(cursor - len(word))
    return types.CompletionList(is_incomplete=True, items=[
        _completion_item(word + choice.text, _range(start, choice.end), rank)
        for rank, choice in enumerate(result.choices())])


def _completion_item(new_text: str, replaced: types.Range, rank: int) -> types.CompletionItem:
    """A suggestion as a completion menu item; the best is preselected, the others
    follow in order."""
    label = new_text.strip().split("\n")[0][:80] or new_text
    return types.CompletionItem(
        label=label, kind=types.CompletionItemKind.Text, detail="refact-lsp",
        documentation=new_text, filter_text=new_text, sort_text=f"{rank:02d}",
        preselect=rank == 0, insert_text_format=types.InsertTextFormat.PlainText,
        text_edit=types.TextEdit(replaced, new_text))


def accepted(ls: RefactLanguageServer, *arguments: Any) -> None:
    """`refact-lsp.accepted` [{id}]: the editor took an inline item whole."""
    item = arguments[0] if arguments else None
    if isinstance(item, Mapping) and isinstance(item.get("id"), str):
        ls.acceptance.accepted(item["id"])
        ls.save_acceptance()


def partially_accepted(ls: RefactLanguageServer, *arguments: Any) -> None:
    """`refact-lsp.partiallyAccepted` [{id, acceptedLength}]: this many code points of
    an inline item, from its start, are in the document now."""
    item = arguments[0] if arguments else None
    if not isinstance(item, Mapping) or not isinstance(item.get("id"), str):
        return
    length = item.get("acceptedLength")
    if isinstance(length, int) and not isinstance(length, bool):
        ls.acceptance.partially_accepted(item["id"], length)
        ls.save_acceptance()


async def stats(ls: RefactLanguageServer, params: Any) -> dict[str, Any]:
    """`refact/stats`: what the caches saved, for benchmarks and curious people, and how
    many of this server's suggestions were accepted; `index`: how far the workspace index
    is (benchmarks wait for it to settle before they ask)."""
    completer = await ls.service.completer()
    counts = completer.stats_dict() if completer is not None else {}
    repository = ls.service.workspace.repository
    index = repository.progress() if repository is not None else None
    return {**counts, "acceptance": ls.acceptance.tally.as_json(), "index": index}


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


async def chat(ls: RefactLanguageServer, params: Any) -> dict[str, Any]:
    """`refact/chat`: the answer to a conversation, streamed as `$/progress` on the
    request's workDoneToken; `{text}`."""
    try:
        ask = ls.chat.parse_chat(params)
    except ValueError as exc:
        raise JsonRpcInvalidParams(f"Invalid params: {exc}") from None
    progress = AnswerProgress(ls, ask.work_done_token, "refact-lsp: chat")
    return {"text": await _answered(ls.chat.chat(ask, progress.report), progress)}


def code_action(ls: RefactLanguageServer, params: types.CodeActionParams
                ) -> list[types.CodeAction]:
    """The chat's code actions on a selection, or on the definition at the cursor."""
    edges = params.range
    offered = ls.chat.offered(params.text_document.uri,
                              Position(edges.start.line, edges.start.character),
                              Position(edges.end.line, edges.end.character))
    only = params.context.only or []
    actions = []
    for action, argument in offered:
        kind = types.CodeActionKind.RefactorRewrite if action.edits_code else None
        if only and not any(kind and kind.value.startswith(str(o)) for o in only):
            continue
        actions.append(types.CodeAction(
            title=f"Refact: {action.title}", kind=kind,
            command=types.Command(action.title, CODE_ACTION_COMMAND, arguments=[argument])))
    return actions


async def run_code_action(ls: RefactLanguageServer, *arguments: Any) -> dict[str, Any]:
    """`refact-lsp.codeAction` [{action, textDocument, range, version?, question?,
    workDoneToken?}]: the answer streamed as `$/progress`; actions that change code
    apply it through workspace/applyEdit. `{text, applied, reason?}`."""
    try:
        ask = ls.chat.parse_action(arguments)
    except ValueError as exc:
        raise JsonRpcInvalidParams(f"Invalid params: {exc}") from None
    progress = AnswerProgress(ls, ask.work_done_token, f"refact-lsp: {ask.action.title}",
                              create=True)
    answer = await _answered(ls.chat.run_action(ask, progress.report), progress)
    if not ask.action.edits_code:
        return {"text": answer.text, "applied": False}
    reason = await _apply(ls, ask, answer)
    return {"text": answer.text, "applied": reason is None,
            **({"reason": reason} if reason else {})}


async def _answered(answering: Awaitable[Any], progress: AnswerProgress) -> Any:
    """Await an answer inside its progress; a ChatError is a RequestFailed error."""
    progress.begin()
    outcome = "cancelled"
    try:
        answer = await answering
        outcome = "done"
        return answer
    except ChatError as exc:
        outcome = "failed"
        raise JsonRpcException(str(exc), code=types.LSPErrorCodes.RequestFailed) from None
    except ValueError as exc:
        outcome = "failed"
        raise JsonRpcInvalidParams(f"Invalid params: {exc}") from None
    finally:
        progress.end(outcome)


async def _apply(ls: RefactLanguageServer, ask: ActionAsk, answer: ActionAnswer
                 ) -> str | None:
    """Put an answer's code in place; why not, where it was not."""
    document = ls.documents.get(ask.place.uri)
    if answer.edit is None:
        return "the answer has no code"
    if document is None or document.version != answer.version:
        return "the document changed while the answer was written"
    edit = types.TextEdit(_range(document.position_at(answer.edit.start),
                                 document.position_at(answer.edit.end)), answer.edit.new_text)
    result = await ls.workspace_apply_edit_async(types.ApplyWorkspaceEditParams(
        types.WorkspaceEdit(changes={ask.place.uri: [edit]}), label=ask.action.title))
    return None if result is not None and result.applied \
        else (getattr(result, "failure_reason", None) or "the editor did not apply the edit")


def shutdown(ls: RefactLanguageServer, params: Any) -> None:
    ls.save_acceptance(now=True)
    ls.service.close()


def _suggest(ls: RefactLanguageServer, uri: str, position: types.Position,
             trigger: Trigger = Trigger.AUTOMATIC) -> Awaitable[Result | None]:
    return ls.service.suggest(uri, Position(position.line, position.character), trigger)


def _roots(params: types.InitializeParams) -> list[str]:
    """The workspace folders' paths (rootUri and rootPath where the client sends no
    folders); none for a client that opened files without a folder."""
    if params.workspace_folders:
        return [path_of(folder.uri) for folder in params.workspace_folders]
    if params.root_uri:
        return [path_of(params.root_uri)]
    return [params.root_path] if params.root_path else []


def _watch_files(ls: RefactLanguageServer) -> None:
    """Ask the client to report changes to source files and .gitignore files on disk,
    where it can register for them (the index is kept current from them)."""
    caps = ls.protocol.client_capabilities
    watched = caps.workspace.did_change_watched_files if caps and caps.workspace else None
    if not watched or not watched.dynamic_registration:
        return
    globs = [f"**/*{extension}" for extension in languages.extensions()] + ["**/.gitignore"]
    options = types.DidChangeWatchedFilesRegistrationOptions(
        watchers=[types.FileSystemWatcher(glob_pattern=glob) for glob in globs])
    registration = types.Registration(id="refact-lsp-watched-files",
                                      method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES,
                                      register_options=options)
    ls.send_soon(lambda: ls.protocol.send_request(
        types.CLIENT_REGISTER_CAPABILITY, types.RegistrationParams([registration])))


def _range(start: Position, end: Position) -> types.Range:
    return types.Range(types.Position(start.line, start.character),
                       types.Position(end.line, end.character))


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
    (types.TEXT_DOCUMENT_DID_SAVE, did_save, types.SaveOptions(include_text=False)),
    (types.WORKSPACE_DID_CHANGE_WATCHED_FILES, did_change_watched_files, None),
    (types.TEXT_DOCUMENT_INLINE_COMPLETION, inline_completion,
     types.InlineCompletionOptions()),
    (types.TEXT_DOCUMENT_COMPLETION, completion, types.CompletionOptions()),
    (types.SHUTDOWN, shutdown, None),
    (STATS_METHOD, stats, None),
    (DOCUMENT_TEXT_METHOD, document_text, None),
    (CHAT_METHOD, chat, None),
    (types.TEXT_DOCUMENT_CODE_ACTION, code_action, types.CodeActionOptions(
        code_action_kinds=[types.CodeActionKind.RefactorRewrite])),
]
COMMANDS: list[tuple[str, Callable[..., Any]]] = [
    (ACCEPTED_COMMAND, accepted),
    (PARTIALLY_ACCEPTED_COMMAND, partially_accepted),
    (CODE_ACTION_COMMAND, run_code_action),
]
