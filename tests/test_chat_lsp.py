"""Chat and code actions over the real protocol: the server process, stdio, JSON-RPC.

Most tests talk to a fake OpenAI-style engine on 127.0.0.1 (fake_openai.py), whose chat
answer is known and whose pace a test sets; the last ones run the tiny random-weight
Refact GGUF (tiny_gguf.py) in the server, with Refact's chat format.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.fake_openai import CHAT_PIECES, FakeEngine
from tests.support.raw_client import RawServer, tiny_server
from tests.support.tiny_gguf import write_tiny_refact_gguf

pytestmark = pytest.mark.model  # starts the server process (conftest.py)

URI = "file:///work/shapes.py"
TEXT = ("class Shape:\n"
        "    def area(self, width, height):\n"
        "        return width * height\n")
ANSWER = "".join(CHAT_PIECES)
QUESTION = [{"role": "user", "content": "Write f."}]
INVALID_PARAMS = -32602
REQUEST_FAILED = -32803
REQUEST_CANCELLED = -32800


@pytest.fixture
def engine() -> Iterator[FakeEngine]:
    fake = FakeEngine()
    yield fake
    fake.close()


@pytest.fixture
def server(tmp_path: Path, engine: FakeEngine) -> Iterator[RawServer]:
    server = tiny_server(tmp_path, options={"cache": False, "engine": {
        "kind": "openai", "url": engine.url, "timeoutS": 5}})
    server.open_document(URI, TEXT)
    yield server
    server.close()


def chat_bodies(engine: FakeEngine) -> list[Any]:
    return [body for method, path, _, body in engine.seen if path == "/v1/chat/completions"]


def test_the_server_offers_code_actions_and_their_command(tmp_path: Path) -> None:
    model = write_tiny_refact_gguf(tmp_path / "tiny.gguf")
    server = RawServer("--model", str(model), "--n-ctx", "512", "--n-threads", "1",
                       "--n-gpu-layers", "0", log_path=tmp_path / "server.log")
    try:
        capabilities = server.initialize({})["result"]["capabilities"]
        assert capabilities["codeActionProvider"] == {"codeActionKinds": ["refactor.rewrite"]}
        assert "refact-lsp.codeAction" in capabilities["executeCommandProvider"]["commands"]
    finally:
        server.close()


def test_a_chat_streams_its_answer_as_progress_and_returns_it(server: RawServer,
                                                              engine: FakeEngine) -> None:
    engine.chat_delay_s = 0.06  # reports are at most every 50 ms: each piece gets one
    answer = server.request("refact/chat", {"messages": QUESTION, "maxTokens": 64,
                                            "workDoneToken": "chat-1"})
    assert answer["result"] == {"text": ANSWER}
    values = server.progress("chat-1")
    assert values[0]["kind"] == "begin" and values[-1]["kind"] == "end"
    reports = [value["message"] for value in values if value["kind"] == "report"]
    assert len(reports) >= 3
    assert reports[-1] == ANSWER
    assert all(ANSWER.startswith(report) for report in reports)  # each: the answer so far
    body = chat_bodies(engine)[0]
    assert body["messages"] == QUESTION and body["stream"] is True
    assert body["max_tokens"] == 64 and body["model"] == "qwen-fake"


def test_a_cancelled_chat_stops_at_once_and_completions_go_on(server: RawServer,
                                                              engine: FakeEngine) -> None:
    engine.chat = "endless"
    asked = server.send_request("refact/chat", {"messages": QUESTION,
                                                "workDoneToken": "chat-2"})
    deadline = time.monotonic() + 20
    while not any(v["kind"] == "report" for v in server.progress("chat-2")):
        assert time.monotonic() < deadline, server.log()
        time.sleep(0.05)
    server.notify("$/cancelRequest", {"id": asked})
    started = time.monotonic()
    assert server.answer(asked, timeout=5)["error"]["code"] == REQUEST_CANCELLED
    assert time.monotonic() - started < 2
    assert server.progress("chat-2")[-1] == {"kind": "end", "message": "cancelled"}
    completion = server.inline_completion(URI, 2, 8)
    assert "result" in completion


def test_a_completion_is_served_while_a_chat_answer_streams(server: RawServer,
                                                            engine: FakeEngine) -> None:
    engine.chat_pieces = ["x"] * 60
    engine.chat_delay_s = 0.05  # three seconds of answer
    asked = server.send_request("refact/chat", {"messages": QUESTION, "maxTokens": 100,
                                                "workDoneToken": "chat-3"})
    deadline = time.monotonic() + 20
    while not any(v["kind"] == "report" for v in server.progress("chat-3")):
        assert time.monotonic() < deadline, server.log()
        time.sleep(0.05)
    started = time.monotonic()
    completion = server.inline_completion(URI, 2, 8)
    waited = time.monotonic() - started
    assert "result" in completion
    assert server.progress("chat-3")[-1]["kind"] != "end"  # the chat still streams
    assert waited < 1.5
    assert server.answer(asked)["result"] == {"text": "x" * 60}


@pytest.mark.parametrize(("params", "says"), [
    ({"messages": "hi"}, "messages must be a non-empty list"),
    ({"messages": [{"role": "user"}]}, "messages[0].content must be a string"),
    ({"messages": QUESTION, "maxTokens": -1}, "maxTokens"),
    ({"messages": QUESTION, "textDocument": {"uri": "file:///nowhere.py"},
      "range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}}},
     "is not open"),
    (["not", "an", "object"], "refact/chat takes"),
])
def test_bad_chat_params_get_invalid_params_at_once(server: RawServer, engine: FakeEngine,
                                                    params: Any, says: str) -> None:
    answer = server.request("refact/chat", params, timeout=10)
    assert answer["error"]["code"] == INVALID_PARAMS
    assert says in answer["error"]["message"]
    assert chat_bodies(engine) == []  # nothing reached the engine


def test_an_engine_that_cannot_chat_is_a_request_failed_error(server: RawServer,
                                                              engine: FakeEngine) -> None:
    engine.chat = "refuse"
    answer = server.request("refact/chat", {"messages": QUESTION})
    assert answer["error"]["code"] == REQUEST_FAILED
    assert "no chat template" in answer["error"]["message"]
    assert server.alive()


def test_code_actions_run_and_a_docstring_is_applied_as_a_workspace_edit(
        server: RawServer, engine: FakeEngine) -> None:
    engine.chat_pieces = ["```python\n", "def area(self, width, height):\n",
                          '    """Area."""\n', "    return width * height\n", "```\n"]
    actions = server.request("textDocument/codeAction", {
        "textDocument": {"uri": URI}, "range": {"start": {"line": 2, "character": 9},
                                                "end": {"line": 2, "character": 9}},
        "context": {"diagnostics": []}})["result"]
    titles = [action["title"] for action in actions]
    assert titles == ["Refact: Explain this code", "Refact: Write a docstring",
                      "Refact: Add type hints", "Refact: Ask about this..."]
    command = actions[1]["command"]
    assert command["command"] == "refact-lsp.codeAction"
    argument = {**command["arguments"][0], "workDoneToken": "action-1"}
    result = server.request("workspace/executeCommand",
                            {"command": command["command"], "arguments": [argument]})
    assert result["result"]["applied"] is True
    [apply] = [r for r in server.server_requests if r["method"] == "workspace/applyEdit"]
    [edit] = apply["params"]["edit"]["changes"][URI]
    assert edit == {"range": {"start": {"line": 1, "character": 0},
                              "end": {"line": 3, "character": 0}},
                    "newText": "    def area(self, width, height):\n"
                               '        """Area."""\n'
                               "        return width * height\n"}
    assert server.progress("action-1")[-1]["kind"] == "end"
    assert "Write a docstring" in chat_bodies(engine)[0]["messages"][0]["content"]


def test_an_explanation_returns_its_text_and_edits_nothing(server: RawServer) -> None:
    argument = {"action": "explain", "textDocument": {"uri": URI},
                "range": {"start": {"line": 1, "character": 0},
                          "end": {"line": 3, "character": 0}}}
    result = server.request("workspace/executeCommand", {
        "command": "refact-lsp.codeAction", "arguments": [argument]})["result"]
    assert result == {"text": ANSWER, "applied": False}
    assert not [r for r in server.server_requests if r["method"] == "workspace/applyEdit"]


def test_a_command_without_a_token_streams_on_one_the_server_creates(
        tmp_path: Path, engine: FakeEngine) -> None:
    engine.chat_delay_s = 0.06
    model = write_tiny_refact_gguf(tmp_path / "tiny.gguf")
    server = RawServer("--model", str(model), "--n-ctx", "512", "--n-threads", "1",
                       "--n-gpu-layers", "0", log_path=tmp_path / "server.log")
    try:
        server.request("initialize", {
            "processId": None, "capabilities": {"window": {"workDoneProgress": True}},
            "initializationOptions": {"engine": {"kind": "openai", "url": engine.url}}})
        server.notify("initialized", {})
        server.open_document(URI, TEXT)
        argument = {"action": "explain", "textDocument": {"uri": URI},
                    "range": {"start": {"line": 1, "character": 0},
                              "end": {"line": 3, "character": 0}}}
        result = server.request("workspace/executeCommand", {
            "command": "refact-lsp.codeAction", "arguments": [argument]})["result"]
        assert result["text"] == ANSWER
        [token] = [r["params"]["token"] for r in server.server_requests
                   if r["method"] == "window/workDoneProgress/create"
                   and r["params"]["token"].startswith("refact-lsp/answer-")]
        values = server.progress(token)
        assert values[0] == {"kind": "begin", "title": "refact-lsp: Explain this code"}
        assert values[-1] == {"kind": "end", "message": "done"}
        assert values[-2] == {"kind": "report", "message": ANSWER}
    finally:
        server.close()


def test_an_action_without_its_question_is_invalid_params(server: RawServer) -> None:
    argument = {"action": "ask", "textDocument": {"uri": URI},
                "range": {"start": {"line": 1, "character": 0},
                          "end": {"line": 3, "character": 0}}}
    answer = server.request("workspace/executeCommand", {
        "command": "refact-lsp.codeAction", "arguments": [argument]}, timeout=10)
    assert answer["error"]["code"] == INVALID_PARAMS
    assert "needs a question" in answer["error"]["message"]


# -- the tiny Refact model in the server -----------------------------------------------


def test_the_tiny_refact_model_chats_in_the_server(tmp_path: Path) -> None:
    server = tiny_server(tmp_path, options={"cache": False})
    try:
        answer = server.request("refact/chat", {"messages": QUESTION, "maxTokens": 16,
                                                "workDoneToken": 7})
        text = answer["result"]["text"]
        assert "<empty_output>" not in text
        values = server.progress(7)
        assert [values[0]["kind"], values[-1]["kind"]] == ["begin", "end"]
        server.open_document(URI, TEXT)
        assert "result" in server.inline_completion(URI, 2, 8)  # completions still work
    finally:
        server.close()
