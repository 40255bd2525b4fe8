"""Chat and code actions without LSP: what `refact/chat` and the code action commands do.

A chat answer runs on the completion service's inference worker as a long job
(`ChatJob`): the same engine, one thread, and between two tokens of the answer the
worker serves the completions that came meanwhile (Worker.serve_waiting), so that a
keystroke never waits behind an answer. The answer so far goes to a `report` callback
after every token (the server sends it as `$/progress`).

Requests arrive as JSON from the editor; everything that can be wrong with them is a
ValueError with a sentence that says what (the server answers InvalidParams), checked
before anything reaches the engine.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from refact_lsp.chat import ChatTemplateError, Message, parse_messages
from refact_lsp.code_actions import (
    CodeAction,
    Edit,
    Target,
    code_edit,
    code_from_answer,
    function_at,
    has_code_block,
    messages_for,
)
from refact_lsp.documents import Document, Position
from refact_lsp.engines.base import ChatRequest, Engine, EngineError, Generation, StopReason
from refact_lsp.text import name_of

DEFAULT_CHAT_TOKENS = 512  # an answer's length where the request does not say
MAX_CHAT_TOKENS = 4096
CODE_TOKENS = 1024  # answers that rewrite code: room for the code and its docstring

Report = Callable[[str], None]  # the answer so far; called from any thread


class ChatError(Exception):
    """A chat that cannot be answered (no model, a model that cannot chat, a question
    too long): one line for the person."""


@dataclass
class ChatJob:
    """A chat answer for the inference worker: a long job, which lets the worker serve
    waiting completions between its tokens (Worker.serve_waiting)."""

    engine: Engine
    messages: list[Message]
    max_tokens: int
    report: Report = lambda text: None
    cancel: threading.Event = field(default_factory=threading.Event)
    warm_only = False
    long = True

    def run(self, serve_waiting: Callable[[], Any]) -> Generation:
        """Generate the answer (on the worker thread, which calls this)."""
        return self.engine.chat(ChatRequest(self.messages, self.max_tokens, self.cancel,
                                            on_text=self.report,
                                            between_tokens=serve_waiting))


@dataclass(frozen=True)
class Place:
    """Where a question points in a document: `text[start:end]`, string offsets."""

    uri: str
    start: int
    end: int


@dataclass(frozen=True)
class ChatAsk:
    """A `refact/chat` request, checked."""

    messages: list[Message]
    max_tokens: int
    place: Place | None
    work_done_token: int | str | None


@dataclass(frozen=True)
class ActionAsk:
    """A code action command's argument, checked."""

    action: CodeAction
    place: Place
    version: int | None
    question: str
    work_done_token: int | str | None


@dataclass(frozen=True)
class ActionAnswer:
    """What a code action came to: the answer, and for one that changes code the edit
    (None where the answer had no code) and the document's version it is for."""

    text: str
    edit: Edit | None
    version: int


def plain(value: Any) -> Any:
    """JSON as pygls hands it to a handler (namedtuples) back to dicts and lists."""
    if hasattr(value, "_asdict"):
        return {key: plain(item) for key, item in value._asdict().items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    return value


class ChatService:
    """Answers chats and runs code actions on the completion service's engine."""

    _ids = itertools.count(1)

    def __init__(self, completer: Callable[[], Awaitable[Any]],
                 submit: Callable[[str, ChatJob], Any],
                 documents: Mapping[str, Document]) -> None:
        """`completer` waits for the loaded engine's Completer (None where none loaded),
        `submit` puts a job on the inference worker (its concurrent future; None without
        a worker); `documents` is the server's live map of open documents."""
        self._completer = completer
        self._submit = submit
        self.documents = documents

    # -- requests ------------------------------------------------------------------------

    def parse_chat(self, params: Any) -> ChatAsk:
        """`{messages, maxTokens?, textDocument?, range?, workDoneToken?}`, checked; a
        range (or the definition at its start, where it is empty) adds the code there
        to the last user message."""
        params = plain(params)
        if not isinstance(params, dict):
            raise ValueError("refact/chat takes {messages: [{role, content}], maxTokens?, "
                             "textDocument?, range?}")
        messages = parse_messages(params.get("messages"))
        max_tokens = _max_tokens(params.get("maxTokens"), DEFAULT_CHAT_TOKENS)
        place = None
        if params.get("textDocument") is not None or params.get("range") is not None:
            place = self._place(params.get("textDocument"), params.get("range"))
        return ChatAsk(messages, max_tokens, place, _token(params.get("workDoneToken")))

    def parse_action(self, arguments: Any) -> ActionAsk:
        """A code action command's one argument: `{action, textDocument, range, version?,
        question?, workDoneToken?}` (as `code_actions` offers it)."""
        item = plain(arguments[0]) if isinstance(arguments, (list, tuple)) and arguments \
            else None
        if not isinstance(item, dict):
            raise ValueError("the command takes one argument {action, textDocument, range}")
        try:
            action = CodeAction(item.get("action"))
        except ValueError:
            raise ValueError(f"action must be one of "
                             f"{', '.join(a.value for a in CodeAction)}") from None
        question = item.get("question") or ""
        if not isinstance(question, str):
            raise ValueError("question must be a string")
        if action is CodeAction.ASK and not question.strip():
            raise ValueError("'Ask about this...' needs a question (argument 'question')")
        version = item.get("version")
        return ActionAsk(action, self._place(item.get("textDocument"), item.get("range")),
                         version if _is_int(version) else None, question,
                         _token(item.get("workDoneToken")))

    def offered(self, uri: str, start: Position, end: Position
                ) -> list[tuple[CodeAction, dict[str, Any]]]:
        """The code actions for a selection, or for the definition around a cursor (none
        elsewhere), each with its command's argument: the exact range it is about, and
        the document's version (the command refuses a document that changed since)."""
        document = self.documents.get(uri)
        if document is None:
            return []
        first, last = sorted((document.offset_at(start), document.offset_at(end)))
        if first == last:
            around = function_at(document, first)
            if around is None:
                return []
            first, last = around
        if not document.text[first:last].strip():
            return []
        edges = {"start": _json(document.position_at(first)),
                 "end": _json(document.position_at(last))}
        return [(action, {"action": action.value, "textDocument": {"uri": uri},
                          "range": edges, "version": document.version})
                for action in CodeAction]

    def _place(self, text_document: Any, edges: Any) -> Place:
        """An open document's range as offsets; where the range is empty (a cursor), the
        definition around it (else its line); without a range, the whole document.
        ValueError for a document that is not open."""
        uri = text_document.get("uri") if isinstance(text_document, dict) else None
        document = self.documents.get(uri) if isinstance(uri, str) else None
        if document is None:
            raise ValueError(f"textDocument {uri!r} is not open")
        if edges is None:
            return Place(document.uri, 0, len(document.text))
        start, end = (_position(edges, edge) for edge in ("start", "end")) \
            if isinstance(edges, dict) else (None, None)
        if start is None or end is None:
            raise ValueError("range must be {start: {line, character}, end: {...}}")
        first, last = sorted((document.offset_at(start), document.offset_at(end)))
        if first == last:
            around = function_at(document, first)
            if around is None:
                line = document.line_text(start.line)
                line_start = document.offset_at(Position(start.line, 0))
                around = (line_start, line_start + len(line))
            first, last = around
        return Place(document.uri, first, last)

    def target(self, place: Place) -> tuple[Target, Document]:
        document = self.documents.get(place.uri)
        if document is None:
            raise ValueError(f"textDocument {place.uri!r} is not open")
        end = min(place.end, len(document.text))
        return Target(document.text, min(place.start, end), end, name_of(place.uri),
                      document.language_id), document

    # -- answers -------------------------------------------------------------------------

    async def chat(self, ask: ChatAsk, report: Report) -> str:
        """The answer to a checked `refact/chat` request."""
        messages = ask.messages
        if ask.place is not None:
            messages = _with_code(messages, self.target(ask.place)[0])
        return await self.answer(messages, ask.max_tokens, report)

    async def run_action(self, ask: ActionAsk, report: Report) -> ActionAnswer:
        """Ask the model for a code action; for one that changes code, the edit too."""
        target, document = self.target(ask.place)
        version = document.version
        if ask.version is not None and ask.version != version:
            raise ValueError("the document changed since the action was offered")
        messages = messages_for(ask.action, target, ask.question)
        tokens = CODE_TOKENS if ask.action.edits_code else DEFAULT_CHAT_TOKENS
        text = await self.answer(messages, tokens, report)
        edit = code_edit(target, text) if ask.action.edits_code \
            and _is_code(text, document.language_id) else None
        return ActionAnswer(text, edit, version)

    async def answer(self, messages: list[Message], max_tokens: int, report: Report) -> str:
        """Generate on the worker; a cancelled request (`$/cancelRequest`) stops the
        generation at the next token."""
        completer = await self._completer()
        if completer is None:
            raise ChatError("no model is loaded (see the earlier message)")
        job = ChatJob(completer.engine, messages, max_tokens, report)
        future = self._submit(f"chat:{next(self._ids)}", job)
        if future is None:
            raise ChatError("no model is loaded (see the earlier message)")
        try:
            generation = await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            job.cancel.set()
            raise
        except (ChatTemplateError, EngineError) as exc:
            raise ChatError(str(exc)) from None
        if generation is None:
            raise ChatError("the chat was stopped (the model was unloaded)")
        if generation.stopped_by == StopReason.CONTEXT:
            raise ChatError("the question is too long for the model's chat context; "
                            "select less code")
        return generation.text


def _is_code(answer: str, language_id: str) -> bool:
    """Whether an answer brings code to put in place: a fenced block, or else an answer
    that parses as the document's language (a small model may leave the fence out; a
    refusal in prose must not replace the code)."""
    if has_code_block(answer):
        return True
    tree = Document("untitled:answer", code_from_answer(answer), 0, language_id).tree()
    return tree is not None and not tree.root_node.has_error


def _with_code(messages: list[Message], target: Target) -> list[Message]:
    """The conversation with the code of `target` added to its last user message."""
    for index in range(len(messages) - 1, -1, -1):
        if messages[index].role.value == "user":
            asked = messages_for(CodeAction.ASK, target, messages[index].content or "?")
            return [*messages[:index], *asked, *messages[index + 1:]]
    return [*messages, *messages_for(CodeAction.ASK, target, "About this code:")]


def _max_tokens(value: Any, default: int) -> int:
    if value is None:
        return default
    if not _is_int(value) or not 1 <= value <= MAX_CHAT_TOKENS:
        raise ValueError(f"maxTokens must be a whole number from 1 to {MAX_CHAT_TOKENS}")
    return value


def _token(value: Any) -> int | str | None:
    """A work-done progress token (LSP: an integer or a string)."""
    if value is None or (isinstance(value, str) or _is_int(value)):
        return value
    raise ValueError("workDoneToken must be an integer or a string")


def _position(edges: dict[str, Any], edge: str) -> Position | None:
    value = edges.get(edge)
    if not isinstance(value, dict):
        return None
    line, character = value.get("line"), value.get("character")
    if not _is_int(line) or not _is_int(character) or line < 0 or character < 0:
        return None
    return Position(line, character)


def _json(position: Position) -> dict[str, int]:
    return {"line": position.line, "character": position.character}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
