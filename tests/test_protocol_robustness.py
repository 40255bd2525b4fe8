"""Hostile input over the real protocol: the real server process, real stdin bytes.

Every broken header, broken JSON, wrong type, unknown method, odd position or odd text
gets a JSON-RPC error or an empty result; the process stays up, and the next valid
request is served. The framing reader is fuzzed on its own (every valid message among
random garbage comes through intact), and the live server is fuzzed with random and
half-valid messages, each example bounded so that CI runs it in seconds.
"""

from __future__ import annotations

import io
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from refact_lsp.config import Settings
from refact_lsp.framing import Broken, MessageReader
from refact_lsp.server import create_server
from refact_lsp.transport import receive as receive_bytes
from tests.support.raw_client import RawServer, encode, frame, inline_params, tiny_server
from tests.support.tiny_gguf import write_tiny_refact_gguf

pytestmark = pytest.mark.model  # starts the server or loads a model (conftest.py)

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "200"))  # more for a longer local run
PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS = -32700, -32600, -32601, -32602
SERVER_NOT_INITIALIZED = -32002
PROBE_URI = "file:///work/probe.py"
PROBE_TEXT = "import os\n\n\ndef f(x):\n    \n"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RawServer]:
    """One server for the module: hostile input must not spoil it for what comes next."""
    server = tiny_server(tmp_path_factory.mktemp("robustness"))
    server.open_document(PROBE_URI, PROBE_TEXT)
    yield server
    assert server.close() == 0


@pytest.fixture(autouse=True)
def no_stray_errors(request: pytest.FixtureRequest) -> Iterator[None]:
    """Each test accounts for the id-null errors it causes."""
    yield
    if "server" in request.fixturenames:
        server = request.getfixturevalue("server")
        assert not server.orphans, server.orphans


def change(server: RawServer, uri: str, version: int, *changes: dict[str, Any]) -> None:
    server.notify("textDocument/didChange", {
        "textDocument": {"uri": uri, "version": version}, "contentChanges": list(changes)})


def edit(start: tuple[int, int], end: tuple[int, int], text: str) -> dict[str, Any]:
    """One incremental change of a didChange."""
    return {"range": {"start": {"line": start[0], "character": start[1]},
                      "end": {"line": end[0], "character": end[1]}}, "text": text}


def complete(server: RawServer, uri: str, line: int, character: int) -> list[dict[str, Any]]:
    """An inline completion that must succeed; its items (maybe none)."""
    answer = server.inline_completion(uri, line, character)
    assert "result" in answer, answer
    return answer["result"]["items"]


def server_text(server: RawServer, uri: str) -> str:
    answer = server.request("refact/documentText", {"textDocument": {"uri": uri}})
    return answer["result"]["text"]


def assert_serving(server: RawServer) -> None:
    """The process is up and a valid completion request is answered with a result."""
    complete(server, PROBE_URI, 4, 4)
    assert server.alive()


# -- framing, JSON and JSON-RPC ----------------------------------------------------------

REQUEST = {"jsonrpc": "2.0", "id": "hostile", "method": "textDocument/inlineCompletion",
           "params": inline_params(PROBE_URI, 4, 4)}


def request_bytes(**fields: Any) -> bytes:
    return encode({**REQUEST, **fields})


HOSTILE = [  # (bytes, the id its error answer has, the error code; None: no answer)
    pytest.param(frame(b'{"jsonrpc": "2.0", "id": 1, "method": '), None, PARSE_ERROR,
                 id="invalid JSON"),
    pytest.param(frame(b"\xff\xfe\x00{"), None, PARSE_ERROR, id="not UTF-8, not JSON"),
    pytest.param(b"Content-Type: application/json\r\n\r\n" + json.dumps(REQUEST).encode(),
                 None, PARSE_ERROR, id="no Content-Length"),
    pytest.param(b"Content-Length: zero\r\n\r\n{}", None, PARSE_ERROR,
                 id="Content-Length not a number"),
    pytest.param(b"Content-Length: 400\r\n\r\n{}", None, PARSE_ERROR,
                 id="body shorter than announced"),
    pytest.param(b"Content-Length: 1000000000000\r\n\r\n{}", None, PARSE_ERROR,
                 id="Content-Length of a terabyte"),
    pytest.param(b"Content-Length: 2\r\n{}", None, PARSE_ERROR,
                 id="no empty line after the headers"),
    pytest.param(b"\x00\x01 garbage \xff\r\n\r\n", None, PARSE_ERROR, id="garbage bytes"),
    pytest.param(frame(b"[" * 100_000 + b"]" * 100_000), None, PARSE_ERROR,
                 id="JSON nested too deep"),
    pytest.param(frame(b"[1, 2]"), None, INVALID_REQUEST, id="a batch"),
    pytest.param(frame(b"42"), None, INVALID_REQUEST, id="a number"),
    pytest.param(encode({"id": "hostile", "method": "refact/stats"}), "hostile",
                 INVALID_REQUEST, id="no jsonrpc member"),
    pytest.param(request_bytes(jsonrpc="1.0"), "hostile", INVALID_REQUEST, id="JSON-RPC 1.0"),
    pytest.param(request_bytes(method="no/such/method"), "hostile", METHOD_NOT_FOUND,
                 id="unknown method"),
    pytest.param(encode({"jsonrpc": "2.0", "id": "hostile", "method": "no/such"}), "hostile",
                 METHOD_NOT_FOUND, id="unknown method without params"),
    pytest.param(request_bytes(params="x"), "hostile", INVALID_PARAMS, id="params a string"),
    pytest.param(request_bytes(params={**inline_params(PROBE_URI, 0, 0),
                                       "position": {"line": "one", "character": 0}}),
                 "hostile", INVALID_PARAMS, id="line a string"),
    pytest.param(request_bytes(params=inline_params(PROBE_URI, -1, -1)), "hostile",
                 INVALID_PARAMS, id="negative position"),
    pytest.param(request_bytes(params=inline_params(PROBE_URI, 2**40, 0)), "hostile",
                 INVALID_PARAMS, id="position past uinteger"),
    pytest.param(request_bytes(id={"an": "object"}), None, INVALID_REQUEST,
                 id="id an object"),
    pytest.param(request_bytes(id=True), None, INVALID_REQUEST, id="id a boolean"),
    pytest.param(encode({"jsonrpc": "2.0", "id": "hostile", "method": "textDocument/didClose",
                         "params": {"textDocument": {"uri": PROBE_URI}}}), "hostile",
                 INVALID_REQUEST, id="a notification with an id"),
    pytest.param(encode({"jsonrpc": "2.0", "method": "no/such/notification"}), None, None,
                 id="unknown notification"),
    pytest.param(encode({"jsonrpc": "2.0", "method": "textDocument/didOpen",
                         "params": {"textDocument": "x"}}), None, None,
                 id="notification with wrong params"),
    pytest.param(encode({"jsonrpc": "2.0", "id": 424242, "result": None}), None, None,
                 id="answer to no request"),
    pytest.param(encode({"jsonrpc": "2.0", "method": "$/cancelRequest",
                         "params": {"id": "never-sent"}}), None, None,
                 id="cancel of no request"),
    pytest.param(b"content-length:  2 \r\nContent-Type: x\r\n\r\n{}", None, INVALID_REQUEST,
                 id="lower-case header, extra spaces"),
]


@pytest.mark.parametrize(("raw", "msg_id", "code"), HOSTILE)
def test_hostile_input_is_answered_and_the_next_request_served(
        server: RawServer, raw: bytes, msg_id: str | None, code: int | None) -> None:
    server.send_bytes(raw)
    assert_serving(server)  # a broken message is only known broken once the next arrives
    if code is None:
        assert not server.orphans
    elif msg_id is None:
        assert server.orphan_error()["error"]["code"] == code
    else:
        assert server.answer(msg_id)["error"]["code"] == code


def test_a_message_right_after_a_short_body_is_not_lost(server: RawServer) -> None:
    msg_id = server.send_request("refact/stats")
    server.send_bytes(b"Content-Length: 900\r\n\r\n{" + request_bytes(id="after-short"))
    assert "result" in server.answer("after-short")
    assert "result" in server.answer(msg_id)
    assert server.orphan_error()["error"]["code"] == PARSE_ERROR


def test_requests_for_unopened_documents_get_empty_answers(server: RawServer) -> None:
    assert complete(server, "file:///never/opened.py", 3, 1) == []
    answer = server.request("refact/documentText", {"textDocument": {"uri": "file:///no.py"}})
    assert answer["result"] is None


def test_positions_past_the_end_are_answered(server: RawServer) -> None:
    complete(server, PROBE_URI, 999, 999)
    complete(server, PROBE_URI, 0, 10**6)


# -- edits and texts ---------------------------------------------------------------------


def test_version_gaps_and_old_versions_still_apply_every_edit(server: RawServer) -> None:
    uri = "file:///work/versions.py"
    server.open_document(uri, "a\n")
    change(server, uri, 7, edit((0, 1), (0, 1), "b"))  # 2 to 6 never came
    change(server, uri, 3, edit((0, 2), (0, 2), "c"))  # older than the last
    change(server, uri, 3, edit((0, 0), (0, 0), ">"))  # the same again
    assert server_text(server, uri) == ">abc\n"
    assert server.request("refact/documentText",
                          {"textDocument": {"uri": uri}})["result"]["version"] == 3


def test_changes_in_one_message_apply_in_order_even_when_they_overlap(
        server: RawServer) -> None:
    uri = "file:///work/overlap.py"
    server.open_document(uri, "0123456789\n")
    change(server, uri, 2,
           edit((0, 2), (0, 6), "ab"),  # 01ab6789
           edit((0, 1), (0, 4), "XYZ"),  # 0XYZ6789: overlaps the first
           edit((0, 9), (0, 3), ""),  # an inverted range is taken in order: 0XY
           edit((0, 0), (0, 0), "<"))
    assert server_text(server, uri) == "<0XY\n"


def test_negative_and_huge_positions_in_a_change_are_clamped(server: RawServer) -> None:
    uri = "file:///work/clamp.py"
    server.open_document(uri, "abc\ndef\n")
    change(server, uri, 2, edit((-3, -1), (0, 1), "A"))
    change(server, uri, 3, edit((1, 2**40), (2**40, 5), "!"))
    assert server_text(server, uri) == "Abc\ndef!"


def test_a_position_inside_a_surrogate_pair_rounds_down(server: RawServer) -> None:
    uri = "file:///work/emoji.py"
    server.open_document(uri, "s = '😀😀'\n")
    change(server, uri, 2, edit((0, 6), (0, 6), "X"))  # between the halves of the first
    assert server_text(server, uri) == "s = 'X😀😀'\n"
    complete(server, uri, 0, 7)


def test_crlf_and_lone_cr_end_lines(server: RawServer) -> None:
    uri = "file:///work/newlines.py"
    server.open_document(uri, "a = 1\r\nb = 2\rc = 3\n")
    change(server, uri, 2, edit((1, 5), (2, 0), "; "))  # joins line 1 and line 2
    change(server, uri, 3, edit((0, 99), (0, 99), "  # one"))  # past the end: before \r\n
    assert server_text(server, uri) == "a = 1  # one\r\nb = 2; c = 3\n"
    complete(server, uri, 1, 5)


def test_nul_lone_surrogates_and_invalid_utf8_in_texts(server: RawServer) -> None:
    nul = "file:///work/nul.py"
    server.open_document(nul, "x = '\x00'\n\x00\n")
    assert server_text(server, nul) == "x = '\x00'\n\x00\n"
    complete(server, nul, 1, 1)

    lone = "file:///work/surrogate.py"  # "\ud800" is valid JSON, not a valid character
    server.send_bytes(frame(b'{"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": '
                            b'{"textDocument": {"uri": "' + lone.encode() + b'", "languageId"'
                            b': "python", "version": 1, "text": "s = \'\\ud800\'\\n"}}}'))
    assert server_text(server, lone) == "s = '\ud800'\n"
    complete(server, lone, 0, 6)

    latin1 = "file:///work/latin1.py"  # raw invalid UTF-8: replaced, as editors' decoders do
    server.send_bytes(frame(b'{"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": '
                            b'{"textDocument": {"uri": "' + latin1.encode() + b'", "languageId"'
                            b': "python", "version": 1, "text": "caf\xe9 = 1\\n"}}}'))
    assert server_text(server, latin1) == "caf\ufffd = 1\n"
    complete(server, latin1, 0, 4)


def test_a_50_mb_document_and_a_1_mb_line(server: RawServer) -> None:
    unit = "def f(x):\n    return x + 1\n\n"
    big = unit * (50_000_000 // len(unit))
    line = "x = [" + "1, " * 350_000 + "]"
    for name, text in (("big", big), ("line", line)):
        uri = f"file:///work/{name}.py"
        server.open_document(uri, text)
        last = text.split("\n")
        complete(server, uri, len(last) - 1, len(last[-1]))
        change(server, uri, 2, edit((0, 3), (0, 3), "_"))
        complete(server, uri, 0, 4)
        assert server_text(server, uri) == text[:3] + "_" + text[3:]
        server.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
    assert_serving(server)


# -- fuzzing -------------------------------------------------------------------------------

HEADER_BITS = (b"Content-Length: ", b"content-length:", b"Content-Type: x\r\n", b"\r\n",
               b"\n", b"\r", b"0", b"7", b"99999", b"{", b"}", b'"', b"\\", b"\xff", b"\x00",
               b"Content-Length: 3\r\n\r\n")
garbage = st.lists(st.sampled_from(HEADER_BITS) | st.binary(max_size=12), max_size=8).map(
    b"".join)
bodies = st.binary(min_size=1, max_size=300).map(lambda data: json.dumps(
    {"data": data.decode("latin-1")}).encode())


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(garbage, bodies), min_size=1, max_size=6), garbage)
def test_fuzz_framing_every_valid_message_survives_the_garbage_around_it(
        stream: list[tuple[bytes, bytes]], tail: bytes) -> None:
    data = b"".join(junk + frame(body) for junk, body in stream) + tail
    reader = MessageReader(io.BytesIO(data).read1, max_body=200)
    found = []
    while (item := reader.next()) is not None:
        found.append(item)
    expected = iter(body for _, body in stream if len(body) <= 200)
    want = next(expected, None)
    for item in found:  # the valid ones in order, among whatever the garbage made
        if item == want:
            want = next(expected, None)
    assert want is None, (want, found)
    assert all(isinstance(item, (bytes, Broken)) for item in found)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner,
                                                               max_size=3),
    max_leaves=10)
lines = st.integers(-3, 12) | st.integers(-2**40, 2**40)
positions = st.fixed_dictionaries({"line": lines, "character": lines}) | json_values
uris = st.sampled_from([PROBE_URI, "file:///work/fuzz.py", "file:///work/fuzz.js", "", "x"])
documents = st.fixed_dictionaries({"uri": uris}) | json_values
texts = st.text(max_size=40) | json_values
METHODS = {  # what a method's params look like: each field right, or any JSON at all
    "textDocument/inlineCompletion": st.fixed_dictionaries(
        {"textDocument": documents, "position": positions,
         "context": st.fixed_dictionaries({"triggerKind": st.integers(0, 3)}) | json_values}),
    "textDocument/completion": st.fixed_dictionaries({"textDocument": documents,
                                                      "position": positions}),
    "textDocument/didOpen": st.fixed_dictionaries({"textDocument": st.fixed_dictionaries(
        {"uri": uris, "languageId": st.sampled_from(["python", "javascript", "", "x"]),
         "version": lines, "text": texts}) | json_values}),
    "textDocument/didChange": st.fixed_dictionaries({
        "textDocument": st.fixed_dictionaries({"uri": uris, "version": lines}),
        "contentChanges": st.lists(st.fixed_dictionaries(
            {"range": st.fixed_dictionaries({"start": positions, "end": positions}),
             "text": texts}) | st.fixed_dictionaries({"text": texts}) | json_values,
            max_size=3) | json_values}),
    "textDocument/didClose": st.fixed_dictionaries({"textDocument": documents}),
    "refact/documentText": st.fixed_dictionaries({"textDocument": documents,
                                                  "tree": json_values}),
    "refact/stats": json_values,
    "$/cancelRequest": st.fixed_dictionaries({"id": json_values}),
    "no/such/method": json_values,
}
messages = st.sampled_from(sorted(METHODS)).flatmap(
    lambda method: st.tuples(st.just(method), METHODS[method] | json_values, st.booleans()))


@settings(max_examples=FUZZ_EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(messages, min_size=1, max_size=6))
def test_fuzz_protocol_every_request_is_answered_and_the_server_lives(
        server: RawServer, batch: list[tuple[str, Any, bool]]) -> None:
    ids = []
    for method, params, is_request in batch:
        if is_request:
            ids.append(server.send_request(method, params))
        else:
            server.notify(method, params)
    for msg_id in ids:
        answer = server.answer(msg_id, timeout=20)  # generous still; a shrink waits it out
        assert "result" in answer or "error" in answer
    assert_serving(server)
    server.orphans.clear()  # params that are no object at all may get an id-null error


def test_no_answer_is_lost_while_the_model_loads(tmp_path: Path) -> None:
    # llama-cpp-python points stdout at /dev/null while it loads a model: answers sent
    # meanwhile used to vanish. Each context size change loads the model again.
    server = tiny_server(tmp_path)
    ids = []
    for n_ctx in (256, 512) * 10:
        server.notify("workspace/didChangeConfiguration", {"settings": {"nCtx": n_ctx}})
        for _ in range(20):  # spread over the load
            ids.append(server.send_request("refact/documentText", {"textDocument": {"uri": "x"}}))
            time.sleep(0.002)
    for msg_id in ids:
        assert server.answer(msg_id)["result"] is None
    assert server.close() == 0


def test_notifications_leave_nothing_behind() -> None:
    # pygls kept a future for every didOpen, didChange and didClose it ran: one a
    # keystroke, for the whole session.
    server = create_server(Settings())
    server.protocol._send_data = lambda data: None  # no client: answers go nowhere

    def receive(message: dict[str, Any]) -> None:
        receive_bytes(server, json.dumps({"jsonrpc": "2.0", **message}).encode())

    receive({"id": 1, "method": "initialize", "params": {"capabilities": {}}})
    for version in range(1, 200):
        receive({"method": "textDocument/didOpen", "params": {"textDocument": {
            "uri": PROBE_URI, "languageId": "python", "version": version, "text": "x"}}})
        receive({"method": "textDocument/didChange", "params": {
            "textDocument": {"uri": PROBE_URI, "version": version},
            "contentChanges": [edit((0, 1), (0, 1), "y")]}})
        receive({"method": "textDocument/didClose",
                 "params": {"textDocument": {"uri": PROBE_URI}}})
    assert server.protocol._request_futures == {}


def test_requests_before_initialize_are_refused_and_do_not_spoil_the_session(
        tmp_path: Path) -> None:
    model = write_tiny_refact_gguf(tmp_path / "tiny.gguf")
    server = RawServer("--model", str(model), "--n-ctx", "512", "--n-threads", "1",
                       log_path=tmp_path / "server.log")
    server.open_document(PROBE_URI, PROBE_TEXT)  # dropped: too early
    assert server.request("refact/stats")["error"]["code"] == SERVER_NOT_INITIALIZED
    answer = server.inline_completion(PROBE_URI, 4, 4)
    assert answer["error"]["code"] == SERVER_NOT_INITIALIZED
    server.initialize()
    assert server.request("refact/documentText",
                          {"textDocument": {"uri": PROBE_URI}})["result"] is None
    server.open_document(PROBE_URI, PROBE_TEXT)
    complete(server, PROBE_URI, 4, 4)
    assert "engine" in server.request("refact/stats")["result"]
    assert server.close() == 0


def test_a_request_after_shutdown_is_refused_not_left_waiting(tmp_path: Path) -> None:
    server = tiny_server(tmp_path)
    assert server.request("shutdown")["result"] is None
    assert server.request("refact/stats")["error"]["code"] == INVALID_REQUEST
    server.notify("exit")
    assert server.process.wait(timeout=30) == 0
