"""A fake OpenAI-style completions server on 127.0.0.1 whose behaviour a test switches
while the LSP server runs: for faults, hostile answers and what the server sends it."""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SUGGESTION = "return x + 1"
SPECIAL_OR_CHARACTER = re.compile(r"<\|[a-z_]+\|>|.", re.DOTALL)


class FakeEngine:
    """An OpenAI-style completions server on 127.0.0.1 whose behaviour a test switches:
    `load` for /v1/models, `generate` for /v1/completions, each one of ok, hang, slow
    (answers once `released`), garbage (a web page), broken-stream (events that are not
    JSON), wrong-shape and odd-event (JSON, but not what OpenAI sends), no-events (a
    stream with none), bad-gateway (a proxy's 502), single-json (a whole completion
    without streaming), echo-key (an error that repeats the request's Authorization
    header, as a careless proxy might), echo-token (the key alone, in plain words),
    refuse-key (HTTP 401), keep-alive (SSE comments, for ever), empty-events
    (events without text, for ever), endless (a token an event, for ever), huge-line (a
    64 MB line without an end), huge-body (a 64 MB answer that is not a stream), nested
    (JSON nested 100,000 deep) or shouting (a good stream typed TEXT/EVENT-STREAM).

    Every request is recorded in `seen` as (method, path, Authorization header, body).
    With `tokenizer_delay_s` set, POST /tokenize counts tokens (a character each, a
    `<|...|>` special token one, in vLLM's endpoint's shape) after that delay, counted
    in `tokenized`.

    /v1/chat/completions streams `chat_pieces`, an event each, `chat_delay_s` apart
    (`chat` "ok"), or "x" for ever (`chat` "endless"), or answers 500 (`chat` "refuse":
    a server without a chat template)."""

    def __init__(self) -> None:
        self.load = "ok"
        self.generate = "ok"
        self.released = threading.Event()  # ends every hang
        self.seen: list[tuple[str, str, str | None, Any]] = []
        self.tokenizer_delay_s: float | None = None
        self.tokenized = 0
        self.chat = "ok"
        self.chat_pieces = list(CHAT_PIECES)
        self.chat_delay_s = 0.0
        engine = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                engine.seen.append(("GET", self.path, self.headers.get("Authorization"),
                                    None))
                engine.answer(self, engine.load, {"data": [{"id": "qwen-fake"}]})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length")
                                                      or 0)) or b"null")
                engine.seen.append(("POST", self.path, self.headers.get("Authorization"),
                                    body))
                if self.path == "/tokenize" and engine.tokenizer_delay_s is not None:
                    time.sleep(engine.tokenizer_delay_s)
                    engine.tokenized += 1
                    tokens = SPECIAL_OR_CHARACTER.findall(body["prompt"])
                    engine.reply(self, 200, "application/json",
                                 json.dumps({"tokens": list(range(len(tokens)))}))
                elif self.path == "/v1/chat/completions":
                    engine.answer_chat(self)
                elif self.path != "/v1/completions":
                    self.send_error(404)  # no tokenizer endpoints: counts are estimated
                else:
                    engine.answer(self, engine.generate, None)

            def log_message(self, *args: Any) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.http.daemon_threads = True
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http.server_address[1]}"

    def answer(self, handler: BaseHTTPRequestHandler, mode: str, body: Any) -> None:
        if mode in ("hang", "slow"):
            self.released.wait(60)
            if mode == "hang":
                return
        if mode in FOREVER:
            self.stream_forever(handler, FOREVER[mode])
        elif mode == "huge-line":
            self.reply(handler, 200, "text/event-stream", "data: " + "x" * (64 << 20))
        elif mode == "huge-body":
            self.reply(handler, 200, "application/json", "[" + " " * (64 << 20) + "]")
        elif mode == "nested":
            self.reply(handler, 200, "text/event-stream",
                       "data: " + "[" * 100_000 + "]" * 100_000 + "\n\n")
        elif mode == "shouting":
            self.reply(handler, 200, "TEXT/EVENT-STREAM; charset=utf-8", "".join(
                f"data: {json.dumps(event)}\n\n" for event in completion_events())
                + "data: [DONE]\n\n")
        elif mode == "echo-token":  # the key alone, without "Bearer", in plain words
            token = (handler.headers.get("Authorization") or "").removeprefix("Bearer ")
            self.reply(handler, 500, "text/plain", f"no such token {token}")
        elif mode == "echo-key":
            self.reply(handler, 500, "text/plain",
                       f"upstream failed for {handler.headers.get('Authorization')}")
        elif mode == "refuse-key":  # a server that wants another API key
            self.reply(handler, 401, "application/json",
                       json.dumps({"error": {"message": "Incorrect API key provided"}}))
        elif mode == "garbage":
            self.reply(handler, 200, "text/html", "<html>it works!</html>")
        elif mode == "broken-stream":
            self.reply(handler, 200, "text/event-stream", 'data: {"choices": [{"te\n\n')
        elif mode == "odd-event":
            self.reply(handler, 200, "text/event-stream", 'data: [1, 2]\n\n')
        elif mode == "no-events":
            self.reply(handler, 200, "text/event-stream", ': ping\n\n')
        elif mode == "bad-gateway":  # a proxy whose engine is down
            self.reply(handler, 502, "text/html", "<html>502 Bad Gateway</html>")
        elif mode == "single-json":  # a server that ignores "stream": one JSON answer
            self.reply(handler, 200, "application/json", json.dumps(
                {"choices": [{"text": "    " + SUGGESTION + "\n", "finish_reason": "stop"}]}))
        elif mode == "wrong-shape":
            self.reply(handler, 200, "text/event-stream",
                       'data: {"choices": "none"}\n\n' if body is None else '{"data": 7}')
        elif body is not None:
            self.reply(handler, 200, "application/json", json.dumps(body))
        else:
            self.reply(handler, 200, "text/event-stream", "".join(
                f"data: {json.dumps(event)}\n\n" for event in completion_events())
                + "data: [DONE]\n\n")

    def answer_chat(self, handler: BaseHTTPRequestHandler) -> None:
        if self.chat == "refuse":
            self.reply(handler, 500, "application/json", json.dumps(
                {"error": {"message": "this model has no chat template"}}))
            return
        if self.chat == "endless":
            self.stream_forever(handler, chat_event("x"))
            return
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.end_headers()
        try:
            handler.wfile.write(chat_event(None, role=True).encode())
            for piece in self.chat_pieces:
                handler.wfile.write(chat_event(piece).encode())
                handler.wfile.flush()
                time.sleep(self.chat_delay_s)
            handler.wfile.write(chat_event("", finish="stop").encode() + b"data: [DONE]\n\n")
        except OSError:
            return  # the client closed the connection

    def stream_forever(self, handler: BaseHTTPRequestHandler, piece: str) -> None:
        """An event stream that sends `piece` every 0.1 s until the client goes away or
        the engine is released."""
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.end_headers()
        while not self.released.is_set():
            try:
                handler.wfile.write(piece.encode())
                handler.wfile.flush()
            except OSError:
                return  # the client closed the connection
            time.sleep(0.1)

    @staticmethod
    def reply(handler: BaseHTTPRequestHandler, status: int, kind: str, text: str) -> None:
        data = text.encode()
        handler.send_response(status)
        handler.send_header("Content-Type", kind)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def authorizations(self) -> list[str | None]:
        """The Authorization header of each request, in order."""
        return [seen[2] for seen in self.seen]

    def close(self) -> None:
        self.released.set()
        self.http.shutdown()
        self.http.server_close()




def completion_events() -> list[dict[str, Any]]:
    """A good completion's events. The cursor follows only indentation: models write
    that again (stops.py)."""
    return [{"choices": [{"text": "    " + SUGGESTION, "finish_reason": None}]},
            {"choices": [{"text": "\n", "finish_reason": "stop"}]}]


CHAT_PIECES = ("Here", " is", " the", " code:\n\n", "```python\n", "def f(x):\n",
               '    """Add one."""\n', "    return x + 1\n", "```")


def chat_event(content: str | None, role: bool = False, finish: str | None = None) -> str:
    """One event of a streamed chat completion, in OpenAI's shape."""
    delta = {"role": "assistant"} if role else {"content": content}
    event = {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return f"data: {json.dumps(event)}\n\n"


FOREVER = {
    "keep-alive": ": ping\n\n",
    "empty-events": 'data: {"choices": [{"text": "", "finish_reason": null}]}\n\n',
    "endless": 'data: {"choices": [{"text": "x", "finish_reason": null}]}\n\n',
}
