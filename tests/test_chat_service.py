"""Chat and code actions without a model: the worker's turn-taking between a chat answer
and completions, the service's checks of what an editor sends, cancellation, and the
edits made from answers (scripted engine, characters as tokens)."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from refact_lsp.chat import Message, Role
from refact_lsp.chat_service import ChatAsk, ChatError, ChatJob, ChatService, Place
from refact_lsp.code_actions import CodeAction
from refact_lsp.completion import Worker
from refact_lsp.documents import Document, Position
from refact_lsp.engines.base import Generation, StopReason
from tests.support.scripted_engine import ScriptedEngine

URI = "file:///work/shapes.py"
TEXT = ("class Shape:\n"
        "    def area(self, width, height):\n"
        "        return width * height\n"
        "\n"
        "\n"
        "x = 1\n")
DOCSTRING_ANSWER = ("Here it is:\n\n```python\ndef area(self, width, height):\n"
                    '    """The area of a width by height rectangle."""\n'
                    "    return width * height\n```\nDone.")


class Completion:
    """A completion job as the worker sees it: runs for `seconds`, records when it ended."""

    warm_only = False

    def __init__(self, seconds: float = 0.0) -> None:
        self.cancel = threading.Event()
        self.seconds = seconds
        self.ended_at: float | None = None


def run_completion(job: Completion) -> str:
    time.sleep(job.seconds)
    job.ended_at = time.monotonic()
    return "completed"


class Completer:
    def __init__(self, engine: ScriptedEngine) -> None:
        self.engine = engine


def service_for(engine: ScriptedEngine, worker: Worker, documents: dict[str, Document]
                ) -> ChatService:
    async def completer() -> Completer:
        return Completer(engine)
    return ChatService(completer, worker.submit, documents)


@pytest.fixture
def worker() -> Any:
    worker = Worker(run_completion)
    yield worker
    worker.close()


def test_a_completion_waits_for_one_chat_token_not_the_whole_answer(worker: Worker) -> None:
    engine = ScriptedEngine(chat_answers=["x" * 200], chat_seconds_per_token=0.01)
    streamed: list[str] = []
    chat = worker.submit("chat:1", ChatJob(engine, [Message(Role.USER, "hi")], 500,
                                           streamed.append))
    while len(streamed) < 20:
        time.sleep(0.005)
    completion = Completion()
    asked = time.monotonic()
    assert worker.submit("file:///a.py", completion).result(timeout=5) == "completed"
    waited = completion.ended_at - asked
    assert not chat.done()  # served while the answer streams, not after it
    assert waited < 0.5  # a token is 10 ms; the whole answer 2 s
    generation = chat.result(timeout=10)
    assert generation.text == "x" * 200
    assert streamed[-1] == generation.text


def test_queued_completions_go_before_a_queued_chat(worker: Worker) -> None:
    engine = ScriptedEngine(chat_answers=["ab"])
    order: list[str] = []
    blocker = Completion(0.3)
    worker.submit("file:///first.py", blocker)
    chat = worker.submit("chat:1", ChatJob(engine, [Message(Role.USER, "hi")], 10,
                                           lambda text: order.append("chat")))
    later = Completion()
    done = worker.submit("file:///later.py", later)
    done.add_done_callback(lambda _: order.append("completion"))
    chat.result(timeout=5)
    assert order[0] == "completion"


def test_a_cancelled_chat_stops_within_a_token(worker: Worker) -> None:
    engine = ScriptedEngine(chat_answers=["y" * 1000], chat_seconds_per_token=0.005)
    service = service_for(engine, worker, {})
    streamed: list[str] = []

    async def ask_and_cancel() -> None:
        task = asyncio.ensure_future(service.answer([Message(Role.USER, "hi")], 1000,
                                                    streamed.append))
        while len(streamed) < 10:
            await asyncio.sleep(0.005)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        stopped_at = len(streamed)
        await asyncio.sleep(0.2)
        assert len(streamed) <= stopped_at + 1  # nothing more was generated

    asyncio.run(ask_and_cancel())
    assert engine.chats[0].cancel.is_set()


def test_without_a_model_a_chat_is_a_clear_error() -> None:
    async def no_completer() -> None:
        return None
    service = ChatService(no_completer, lambda key, job: None, {})
    with pytest.raises(ChatError, match="no model"):
        asyncio.run(service.answer([Message(Role.USER, "hi")], 10, len))


@pytest.mark.parametrize(("params", "says"), [
    (None, "takes {messages"),
    ([1, 2], "takes {messages"),
    ({}, "messages must be a non-empty list"),
    ({"messages": []}, "messages must be a non-empty list"),
    ({"messages": [{"role": "robot", "content": "hi"}]}, "messages[0].role"),
    ({"messages": [{"role": "user", "content": 7}]}, "messages[0].content"),
    ({"messages": [{"role": "user", "content": "hi"}], "maxTokens": 0}, "maxTokens"),
    ({"messages": [{"role": "user", "content": "hi"}], "maxTokens": "9"}, "maxTokens"),
    ({"messages": [{"role": "user", "content": "hi"}], "maxTokens": True}, "maxTokens"),
    ({"messages": [{"role": "user", "content": "hi"}], "workDoneToken": [1]},
     "workDoneToken"),
    ({"messages": [{"role": "user", "content": "hi"}],
      "textDocument": {"uri": "file:///closed.py"}, "range": None}, "is not open"),
    ({"messages": [{"role": "user", "content": "hi"}], "range": {}}, "is not open"),
    ({"messages": [{"role": "user", "content": "hi"}], "textDocument": {"uri": URI},
      "range": {"start": {"line": -1, "character": 0}, "end": {"line": 0}}}, "range must"),
])
def test_bad_chat_params_say_what_is_wrong(params: Any, says: str) -> None:
    service = ChatService(None, None, {URI: Document(URI, TEXT, 1, "python")})
    with pytest.raises(ValueError) as raised:
        service.parse_chat(params)
    assert says in str(raised.value)


def test_a_chat_about_a_cursor_asks_about_the_definition_around_it(worker: Worker) -> None:
    engine = ScriptedEngine(chat_answers=["It multiplies."])
    documents = {URI: Document(URI, TEXT, 1, "python")}
    service = service_for(engine, worker, documents)
    ask = service.parse_chat({"messages": [{"role": "system", "content": "Be brief."},
                                           {"role": "user", "content": "What is this?"}],
                              "textDocument": {"uri": URI},
                              "range": {"start": {"line": 2, "character": 9},
                                        "end": {"line": 2, "character": 9}},
                              "workDoneToken": "t1"})
    assert ask.work_done_token == "t1" and ask.max_tokens > 0
    assert asyncio.run(service.chat(ask, lambda text: None)) == "It multiplies."
    system, question = engine.chats[0].messages
    assert system == Message(Role.SYSTEM, "Be brief.")
    assert question.content.startswith("What is this?")
    assert "```python\ndef area(self, width, height):\n    return width * height\n```" \
        in question.content  # the method, dedented, not the class


def test_code_actions_are_offered_on_a_selection_and_in_a_definition_only() -> None:
    documents = {URI: Document(URI, TEXT, 3, "python")}
    service = ChatService(None, None, documents)
    in_method = service.offered(URI, Position(2, 10), Position(2, 10))
    assert [action for action, _ in in_method] == list(CodeAction)
    argument = in_method[1][1]
    assert argument == {"action": "docstring", "textDocument": {"uri": URI},
                        "range": {"start": {"line": 1, "character": 0},
                                  "end": {"line": 3, "character": 0}}, "version": 3}
    assert service.offered(URI, Position(5, 2), Position(5, 2)) == []  # `x = 1`
    assert service.offered(URI, Position(3, 0), Position(4, 0)) == []  # blank lines
    selected = service.offered(URI, Position(5, 0), Position(5, 5))
    assert selected[0][1]["range"]["end"] == {"line": 5, "character": 5}
    assert service.offered("file:///closed.py", Position(0, 0), Position(0, 0)) == []


def test_a_docstring_action_edits_only_the_code_at_its_indentation(worker: Worker) -> None:
    engine = ScriptedEngine(chat_answers=[DOCSTRING_ANSWER])
    documents = {URI: Document(URI, TEXT, 3, "python")}
    service = service_for(engine, worker, documents)
    argument = service.offered(URI, Position(2, 10), Position(2, 10))[1][1]
    ask = service.parse_action([argument])
    streamed: list[str] = []
    answer = asyncio.run(service.run_action(ask, streamed.append))
    assert answer.text == DOCSTRING_ANSWER and streamed[-1] == DOCSTRING_ANSWER
    assert answer.version == 3
    edit = answer.edit
    assert TEXT[:edit.start] + edit.new_text + TEXT[edit.end:] == (
        "class Shape:\n"
        "    def area(self, width, height):\n"
        '        """The area of a width by height rectangle."""\n'
        "        return width * height\n"
        "\n"
        "\n"
        "x = 1\n")
    assert "Write a docstring" in engine.chats[0].messages[0].content


def test_an_explanation_has_no_edit_and_an_answer_without_code_none(worker: Worker) -> None:
    engine = ScriptedEngine(chat_answers=["It computes an area.", "I cannot."])
    documents = {URI: Document(URI, TEXT, 3, "python")}
    service = service_for(engine, worker, documents)
    explain, docstring = (service.offered(URI, Position(2, 10), Position(2, 10))[i][1]
                          for i in (0, 1))
    assert asyncio.run(service.run_action(service.parse_action([explain]), len)).edit \
        is None
    answer = asyncio.run(service.run_action(service.parse_action([docstring]), len))
    assert answer.text == "I cannot." and answer.edit is None


def test_an_action_on_a_document_that_changed_since_is_refused(worker: Worker) -> None:
    documents = {URI: Document(URI, TEXT, 3, "python")}
    service = service_for(ScriptedEngine(chat_answers=["x"]), worker, documents)
    argument = service.offered(URI, Position(2, 10), Position(2, 10))[0][1]
    documents[URI].version = 4
    with pytest.raises(ValueError, match="changed"):
        asyncio.run(service.run_action(service.parse_action([argument]), len))


@pytest.mark.parametrize(("arguments", "says"), [
    ([], "one argument"),
    (["explain"], "one argument"),
    ([{"action": "poem"}], "action must be one of"),
    ([{"action": "ask", "textDocument": {"uri": URI},
       "range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 3}}}],
     "needs a question"),
    ([{"action": "explain", "textDocument": {"uri": URI}, "range": "all"}], "range must"),
    ([{"action": "explain", "textDocument": {"uri": URI}, "question": 3,
       "range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 3}}}],
     "question must"),
])
def test_bad_action_arguments_say_what_is_wrong(arguments: Any, says: str) -> None:
    service = ChatService(None, None, {URI: Document(URI, TEXT, 1, "python")})
    with pytest.raises(ValueError) as raised:
        service.parse_action(arguments)
    assert says in str(raised.value)


def test_a_question_too_long_for_the_chat_context_is_a_clear_error(worker: Worker) -> None:
    engine = ScriptedEngine()
    engine.chat = lambda request: Generation("", StopReason.CONTEXT)  # type: ignore
    service = service_for(engine, worker, {})
    with pytest.raises(ChatError, match="too long"):
        asyncio.run(service.chat(ChatAsk([Message(Role.USER, "hi")], 5, None, None), len))


def test_place_is_clamped_to_a_document_that_shrank() -> None:
    documents = {URI: Document(URI, "x = 1\n", 1, "python")}
    target, _ = ChatService(None, None, documents).target(Place(URI, 2, 500))
    assert target.code == "= 1\n" and target.end == 6


def test_an_answer_of_bare_code_is_put_in_place(worker: Worker) -> None:
    bare = 'def area(self, width, height):\n    """Area."""\n    return width * height\n'
    engine = ScriptedEngine(chat_answers=[bare])
    documents = {URI: Document(URI, TEXT, 3, "python")}
    service = service_for(engine, worker, documents)
    argument = service.offered(URI, Position(2, 10), Position(2, 10))[1][1]
    edit = asyncio.run(service.run_action(service.parse_action([argument]), len)).edit
    assert edit is not None and '        """Area."""\n' in edit.new_text


def test_a_chat_about_a_document_without_a_range_asks_about_all_of_it() -> None:
    service = ChatService(None, None, {URI: Document(URI, TEXT, 1, "python")})
    ask = service.parse_chat({"messages": [{"role": "user", "content": "Review."}],
                              "textDocument": {"uri": URI}})
    assert ask.place == Place(URI, 0, len(TEXT))
