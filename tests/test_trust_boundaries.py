"""The trust boundaries of docs/security.md, each through the real server process where
it can be seen there: a key goes only where it was given, no engine holds a request, no
message or log shows a secret, bad values and hostile input get one clear error.

Engines are fake OpenAI-style servers on 127.0.0.1 (tests/support/fake_openai.py); the
model is the tiny random-weight GGUF.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.engine_servers import free_port
from tests.support.fake_openai import SUGGESTION, FakeEngine
from tests.support.raw_client import RawServer, encode, frame, tiny_server
from tests.support.tiny_gguf import write_tiny_refact_gguf

pytestmark = pytest.mark.model  # starts the server or loads a model (conftest.py)

URI = "file:///work/trust.py"
TEXT = "import os\n\n\ndef f(x):\n    \n"
KEY = "sk-trust-boundary-5c8e1d2f7a9b"
LONE = "s = '\ud800'\n\n\ndef f(x):\n    \n"  # a lone surrogate: valid JSON, no character


@pytest.fixture
def engine() -> Iterator[FakeEngine]:
    fake = FakeEngine()
    yield fake
    fake.close()


def start(tmp_path: Path, *args: str, options: dict[str, Any] | None = None,
          env: dict[str, str] | None = None) -> RawServer:
    server = tiny_server(tmp_path, *args, options={"cache": False, **(options or {})},
                         env=env)
    server.open_document(URI, TEXT)
    return server


def remote(engine: FakeEngine, **more: Any) -> dict[str, Any]:
    return {"engine": {"kind": "openai", "url": engine.url, "timeoutS": 2, **more}}


def complete(server: RawServer, timeout: float = 60) -> list[dict[str, Any]]:
    answer = server.request("textDocument/inlineCompletion", {
        "textDocument": {"uri": URI}, "position": {"line": 4, "character": 4},
        "context": {"triggerKind": 2}}, timeout=timeout)
    assert "result" in answer, answer
    return answer["result"]["items"]


def suggested(items: list[dict[str, Any]]) -> bool:
    return any(SUGGESTION in item["insertText"] for item in items)


def fragments(secret: str, size: int = 8) -> list[str]:
    return [secret[start:start + size] for start in range(len(secret) - size + 1)]


# -- 1. a key never follows a new URL ------------------------------------------------------


def test_the_api_key_is_not_sent_to_a_new_engine_url_given_without_it(
        tmp_path: Path, engine: FakeEngine) -> None:
    other = FakeEngine()
    try:
        server = start(tmp_path, options=remote(engine, apiKey=KEY))
        assert suggested(complete(server))
        assert f"Bearer {KEY}" in engine.authorizations()
        server.notify("workspace/didChangeConfiguration",
                      {"settings": {"engine": {"url": other.url}}})
        assert suggested(complete(server))
        assert other.seen and other.authorizations() == [None] * len(other.seen)
        assert server.log().count("the API key given for the old one is not sent") == 1
        # Given again with the new URL, it goes there.
        server.notify("workspace/didChangeConfiguration",
                      {"settings": {"engine": {"url": engine.url, "apiKey": KEY}}})
        before = len(engine.seen)
        assert suggested(complete(server))
        assert f"Bearer {KEY}" in engine.authorizations()[before:]
        assert server.close() == 0
    finally:
        other.close()


def test_a_key_from_the_environment_goes_only_to_the_url_it_came_with(
        tmp_path: Path, engine: FakeEngine) -> None:
    other = FakeEngine()
    try:
        env = {"REFACT_LSP_API_KEY": KEY, "REFACT_LSP_ENGINE": "openai",
               "REFACT_LSP_ENGINE_URL": engine.url}
        server = start(tmp_path, "--engine-url", other.url, env=env)
        assert suggested(complete(server))
        assert other.seen and set(other.authorizations()) == {None}
        assert engine.seen == []
        assert server.close() == 0
    finally:
        other.close()


# -- 3. no engine holds a request -----------------------------------------------------------


@pytest.mark.parametrize("mode", ["keep-alive", "empty-events", "endless"])
def test_an_engine_that_keeps_its_stream_open_does_not_hold_the_request(
        tmp_path: Path, engine: FakeEngine, mode: str) -> None:
    """A keep-alive comment or an empty event every 0.1 s, for ever: the request ends at
    its deadline (time budget plus timeoutS, 3 s here) or after maxTokens events, and
    the next one is served. (It waited until the engine let go: 60 s.)"""
    server = start(tmp_path, options=remote(engine))
    engine.generate = mode
    started = time.monotonic()
    items = complete(server, timeout=30)
    assert time.monotonic() - started < 20
    assert not suggested(items)
    engine.generate = "ok"
    assert suggested(complete(server, timeout=30))
    assert server.close() == 0


@pytest.mark.parametrize(("mode", "told"), [
    ("huge-line", "a line of more than 1 MiB"),
    ("huge-body", "an answer of more than 8 MiB"),
    ("nested", "not JSON"),
])
def test_an_oversized_or_too_deep_answer_is_one_clear_error(
        tmp_path: Path, engine: FakeEngine, mode: str, told: str) -> None:
    server = start(tmp_path, options=remote(engine))
    engine.generate = mode
    assert complete(server) == []
    assert [message for message in server.shown_messages() if told in message]
    engine.generate = "ok"
    assert suggested(complete(server))
    assert server.close() == 0


def test_content_type_is_compared_without_regard_to_case(
        tmp_path: Path, engine: FakeEngine) -> None:
    server = start(tmp_path, options=remote(engine))
    engine.generate = "shouting"
    assert suggested(complete(server))
    assert server.shown_messages() == []
    assert server.close() == 0


# -- 4. nothing on the protocol thread waits on the network ----------------------------------


def test_token_counts_never_wait_on_the_engine(tmp_path: Path, engine: FakeEngine) -> None:
    """An engine whose tokenizer takes 0.5 s a call: opening a 450-line document and
    asking for it at once does not wait for it (it called /tokenize once a line, on the
    thread that reads the next message: minutes)."""
    engine.tokenizer_delay_s = 0.5
    server = start(tmp_path, options=remote(engine))
    assert suggested(complete(server))  # loaded: the server's tokenizer found the template
    at_load = engine.tokenized
    lines = "".join(f"value_{i} = compute({i}, 'text {i}')\n" for i in range(450))
    big = "file:///work/big.py"
    started = time.monotonic()
    server.open_document(big, lines + "\ndef f(x):\n    \n")
    answer = server.request("refact/documentText", {"textDocument": {"uri": big}},
                            timeout=30)
    assert answer["result"]["version"] == 1
    answer = server.request("textDocument/inlineCompletion", {
        "textDocument": {"uri": big}, "position": {"line": 452, "character": 4},
        "context": {"triggerKind": 2}}, timeout=30)
    assert suggested(answer["result"]["items"])
    assert time.monotonic() - started < 20
    assert engine.tokenized - at_load <= 3  # warm-ups teach the estimate, a call each
    assert server.close() == 0


# -- 5. secrets in messages ----------------------------------------------------------------


def test_a_long_key_echoed_by_the_engine_leaves_no_piece_of_it_anywhere(
        tmp_path: Path, engine: FakeEngine) -> None:
    """A key longer than the error cut: redacted before the cut (the cut left all of it
    but its last character)."""
    long_key = "sk-" + "".join(f"{i:03d}abcdef" for i in range(40))
    server = start(tmp_path, "-v", options=remote(engine, apiKey=long_key))
    engine.generate = "echo-token"
    assert complete(server) == []
    assert server.shown_messages()
    assert server.close() == 0
    seen = server.log() + json.dumps(server.shown_messages())
    assert not [piece for piece in fragments(long_key) if piece in seen]


def test_credentials_in_the_engine_url_are_never_shown(tmp_path: Path,
                                                       engine: FakeEngine) -> None:
    password = "hunter2-p4ssw0rd-ok"
    url = engine.url.replace("http://", f"http://alice:{password}@")
    server = start(tmp_path, "-v", options={"engine": {"kind": "openai", "url": url,
                                                       "timeoutS": 2}})
    assert suggested(complete(server))
    stats = server.request("refact/stats")["result"]
    engine.generate = "bad-gateway"
    assert complete(server) == []
    assert server.shown_messages()
    assert server.close() == 0
    seen = server.log() + json.dumps(server.shown_messages()) + json.dumps(stats)
    assert password not in seen and "alice:" not in seen
    assert engine.url.removeprefix("http://") in stats["engine"]


def test_complete_on_the_command_line_redacts_a_long_key(
        tmp_path: Path, engine: FakeEngine) -> None:
    long_key = "sk-" + "".join(f"{i:03d}zyxwvu" for i in range(40))
    source = tmp_path / "trust.py"
    source.write_text(TEXT)
    environ = {key: value for key, value in os.environ.items()
               if not key.startswith("REFACT_LSP_")}
    environ["REFACT_LSP_API_KEY"] = long_key
    engine.generate = "echo-key"
    done = subprocess.run([sys.executable, "-m", "refact_lsp.cli", "complete",
                           f"{source}:5:5", "--engine", "openai", "--engine-url",
                           engine.url, "-v"], capture_output=True, text=True, env=environ,
                          timeout=60)
    assert done.returncode == 1 and "HTTP 500" in done.stderr
    seen = done.stdout + done.stderr
    assert not [piece for piece in fragments(long_key) if piece in seen]


# -- 6. the same error is shown once ----------------------------------------------------------


def test_a_warm_up_does_not_make_a_broken_engine_news_again(
        tmp_path: Path, engine: FakeEngine) -> None:
    server = start(tmp_path, options=remote(engine))
    engine.generate = "garbage"
    assert complete(server) == []
    for version in (2, 3):  # an edit, then a pause: a warm-up job runs
        server.notify("textDocument/didChange", {
            "textDocument": {"uri": URI, "version": version},
            "contentChanges": [{"range": {"start": {"line": 0, "character": 0},
                                          "end": {"line": 0, "character": 0}},
                                "text": "#"}]})
        time.sleep(1.0)
        assert complete(server) == []
    told = [message for message in server.shown_messages() if "not JSON" in message]
    assert len(told) == 1, server.shown_messages()
    assert server.close() == 0


# -- 7. bad values ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["fifo", "stdin"])
def test_a_model_path_that_is_not_a_regular_file_is_refused_and_no_edit_is_lost(
        tmp_path: Path, kind: str) -> None:
    if kind == "fifo":
        path = tmp_path / "model.gguf"
        os.mkfifo(path)
    else:
        path = Path("/dev/stdin")
    server = start(tmp_path, "--model", str(path))
    assert complete(server) == []
    assert [m for m in server.shown_messages() if "is not a regular file" in m]
    server.notify("textDocument/didChange", {
        "textDocument": {"uri": URI, "version": 2},
        "contentChanges": [{"range": {"start": {"line": 4, "character": 4},
                                      "end": {"line": 4, "character": 4}},
                            "text": "return x"}]})
    text = server.request("refact/documentText", {"textDocument": {"uri": URI}})["result"]
    assert text["text"] == TEXT[:-1] + "return x\n"
    assert server.close() == 0


@pytest.mark.parametrize("url", ["http://[::1", "ftp://127.0.0.1/", "not a url"])
def test_a_malformed_engine_url_is_one_clear_error(tmp_path: Path, url: str) -> None:
    server = start(tmp_path, options={"engine": {"kind": "openai", "url": url}})
    assert complete(server) == []
    assert [m for m in server.shown_messages() if "is not an http:// or https:// URL" in m]
    assert server.alive() and "Traceback" not in server.log()
    assert server.close() == 0


def test_nan_and_huge_values_are_reported_not_used(tmp_path: Path,
                                                   engine: FakeEngine) -> None:
    server = start(tmp_path, options={**remote(engine), "candidates": 1_000_000})
    server.notify("workspace/didChangeConfiguration",
                  {"settings": {"engine": {"timeoutS": "nan"}}})
    started = time.monotonic()
    assert suggested(complete(server))
    assert time.monotonic() - started < 20
    log = server.log()
    assert "candidates: 1000000 is out of range" in log
    assert "expected a finite number" in log
    assert server.close() == 0


# -- 9. TCP debug mode ----------------------------------------------------------------------


def tcp_server(tmp_path: Path, *args: str) -> tuple[subprocess.Popen, int]:
    model = write_tiny_refact_gguf(tmp_path / "tiny.gguf")
    port = free_port()
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("REFACT_LSP_")}
    with open(tmp_path / "server.log", "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "refact_lsp.cli", "--tcp", "--port", str(port),
             "--model", str(model), "--n-ctx", "512", "--n-gpu-layers", "0", *args],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
    return process, port


def initialize_bytes() -> bytes:
    return encode({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                   "params": {"processId": None, "rootUri": None, "capabilities": {}}})


def receive_until(connection: socket.socket, marker: bytes) -> bytes:
    answer = b""
    while marker not in answer:
        data = connection.recv(65536)
        if not data:
            return answer
        answer += data
    return answer


def test_tcp_mode_refuses_an_http_request_and_serves_the_editor_after_it(
        tmp_path: Path) -> None:
    process, port = tcp_server(tmp_path)
    try:
        # The probe connection above was closed unused; a browser's POST comes next.
        # (The server waits for the first bytes of a connection before taking it.)
        body = initialize_bytes().split(b"\r\n\r\n", 1)[1]
        with socket.create_connection(("127.0.0.1", port), timeout=30) as browser:
            browser.sendall(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                            b"text/plain\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
            answer = receive_until(browser, b"\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 403") and b"serverInfo" not in answer
        with socket.create_connection(("127.0.0.1", port), timeout=60) as editor:
            editor.sendall(initialize_bytes())
            assert b'"serverInfo"' in receive_until(editor, b'"serverInfo"')
        log = (tmp_path / "server.log").read_text()
        assert "it spoke HTTP" in log
    finally:
        process.kill()
        process.wait()


def test_tcp_mode_warns_when_it_listens_beyond_this_machine(tmp_path: Path) -> None:
    process, port = tcp_server(tmp_path, "--host", "0.0.0.0")
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=60) as editor:
            editor.sendall(initialize_bytes())
            receive_until(editor, b'"serverInfo"')
        assert "TCP mode has no authentication" in (tmp_path / "server.log").read_text()
    finally:
        process.kill()
        process.wait()


# -- 10. small protocol defects ----------------------------------------------------------------


def test_a_request_with_a_null_method_is_answered_with_its_id(tmp_path: Path) -> None:
    server = tiny_server(tmp_path)
    server.send_bytes(encode({"jsonrpc": "2.0", "id": 77, "method": None, "params": {}}))
    assert server.answer(77)["error"]["code"] in (-32600, -32601, -32602)
    assert server.close() == 0


def test_a_lone_surrogate_does_not_stop_completions_on_an_http_engine(
        tmp_path: Path, engine: FakeEngine) -> None:
    server = start(tmp_path, options=remote(engine))
    lone = "file:///work/lone.py"  # escaped in JSON ("\\ud800"), as JSON allows
    server.send_bytes(frame(json.dumps({"jsonrpc": "2.0", "method": "textDocument/didOpen",
                                        "params": {"textDocument": {
                                            "uri": lone, "languageId": "python",
                                            "version": 1, "text": LONE}}}).encode()))
    assert server.request("refact/documentText",
                          {"textDocument": {"uri": lone}})["result"]["text"] == LONE
    answer = server.request("textDocument/inlineCompletion", {
        "textDocument": {"uri": lone}, "position": {"line": 4, "character": 4},
        "context": {"triggerKind": 2}})
    assert suggested(answer["result"]["items"]), server.log()
    assert server.shown_messages() == []
    assert server.close() == 0



# -- the workspace: read, never written -------------------------------------------------


def test_a_file_the_document_imports_reaches_the_engine_and_the_workspace_is_untouched(
        tmp_path: Path, engine: FakeEngine) -> None:
    """Over LSP with a workspace folder: by default nothing of it is indexed; with
    `workspaceContext` turned on, a file that is only on disk (never opened) is indexed in
    the background and the definitions the open document uses from it are in the prompt
    the engine gets; nothing in the folder is written."""
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "helpers.py").write_text("def parse_size(text):\n    return int(text)\n\n\n"
                                       "def unrelated():\n    return 42\n")
    source = "from helpers import parse_size\n\n\ndef f(x):\n    size = parse_size(x)\n    \n"
    (folder / "main.py").write_text(source)
    before = sorted((path.name, path.stat().st_mtime_ns) for path in folder.iterdir())
    server = tiny_server(tmp_path, options={"cache": False, **remote(engine)},
                         root_uri=folder.as_uri())
    uri = (folder / "main.py").as_uri()
    server.open_document(uri, source)
    ask = {"textDocument": {"uri": uri}, "position": {"line": 5, "character": 4},
           "context": {"triggerKind": 2}}
    server.request("textDocument/inlineCompletion", ask)
    assert server.request("refact/stats")["result"]["index"] is None
    first = [body["prompt"] for _, path, _, body in engine.seen if path == "/v1/completions"]
    assert first and all("parse_size(text)" not in prompt for prompt in first)
    server.notify("workspace/didChangeConfiguration",
                  {"settings": {"workspaceContext": True}})
    deadline = time.monotonic() + 60
    while True:
        server.request("textDocument/inlineCompletion", ask)
        prompts = [body["prompt"] for _, path, _, body in engine.seen
                   if path == "/v1/completions"]
        if prompts and "def parse_size(text):" in prompts[-1]:
            break
        assert time.monotonic() < deadline, prompts[-1:]
        time.sleep(0.5)
    assert prompts[-1].startswith(f"<|repo_name|>{folder.name}\n<|file_sep|>helpers.py\n")
    assert "unrelated" not in prompts[-1]
    assert server.close() == 0
    assert sorted((path.name, path.stat().st_mtime_ns) for path in folder.iterdir()) == before
