"""A raw JSON-RPC client for the real server process: framed bytes on its real stdin.

Typed clients refuse to send broken headers, invalid JSON or invalid UTF-8; this one
writes whatever bytes a test gives it and reads the server's framed answers on a
thread, so that a test can send hostile input and then check that the server is still
alive and still answers.
"""

from __future__ import annotations

import itertools
import json
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, BinaryIO

from tests.support.tiny_gguf import write_tiny_refact_gguf

TIMEOUT_S = 60.0  # generous: the CPUs are shared, and a model may be loading
MEMORY_LIMIT = 8 << 30  # address space: a test that asks for a huge context fails fast


def frame(body: bytes) -> bytes:
    """One base-protocol message: the Content-Length header and the body."""
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def inline_params(uri: str, line: int, character: int) -> dict[str, Any]:
    """The params of an automatic textDocument/inlineCompletion at a position."""
    return {"textDocument": {"uri": uri}, "position": {"line": line, "character": character},
            "context": {"triggerKind": 2}}


def encode(message: dict[str, Any]) -> bytes:
    """A JSON-RPC message as a framed UTF-8 body (non-ASCII kept raw, as editors send it)."""
    return frame(json.dumps(message, ensure_ascii=False).encode("utf-8", "surrogatepass"))


class RawServer:
    """`python -m refact_lsp.cli ARGS` over stdio, its log kept in `log_path`."""

    def __init__(self, *args: str, log_path: Path, env: dict[str, str] | None = None,
                 cwd: Path | None = None) -> None:
        """Start the server with command-line `args`; `env` adds environment variables.
        Its address space is limited to MEMORY_LIMIT: the machine is shared."""
        self.log_path = log_path
        # The person's own REFACT_LSP_* settings must not change what a test sees.
        environ = {key: value for key, value in os.environ.items()
                   if not key.startswith("REFACT_LSP_")}
        environ.update(env or {})
        with open(log_path, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "refact_lsp.cli", *args], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=log, env=environ, cwd=cwd,
                preexec_fn=_limit_memory)
        self.notifications: list[dict[str, Any]] = []
        self.orphans: list[dict[str, Any]] = []  # error answers with id null
        self.server_requests: list[dict[str, Any]] = []  # requests from the server
        self._answers: dict[Any, dict[str, Any]] = {}
        self._arrived = threading.Condition()
        self._ids = itertools.count(1)
        self._write_lock = threading.Lock()
        assert self.process.stdout is not None
        self._reader = threading.Thread(target=self._read_all, args=(self.process.stdout,),
                                        daemon=True)
        self._reader.start()

    # -- writing ---------------------------------------------------------------------

    def send_bytes(self, data: bytes) -> None:
        """Write raw bytes to the server's stdin, framed or not."""
        assert self.process.stdin is not None
        with self._write_lock:
            self.process.stdin.write(data)
            self.process.stdin.flush()

    def notify(self, method: str, params: Any = None) -> None:
        self.send_bytes(encode({"jsonrpc": "2.0", "method": method, "params": params}))

    def send_request(self, method: str, params: Any = None) -> int:
        """Send a request without waiting; returns its id."""
        msg_id = next(self._ids)
        self.send_bytes(encode({"jsonrpc": "2.0", "id": msg_id, "method": method,
                                "params": params}))
        return msg_id

    def request(self, method: str, params: Any = None, timeout: float = TIMEOUT_S
                ) -> dict[str, Any]:
        """Send a request and wait for its answer (the whole response message)."""
        return self.answer(self.send_request(method, params), timeout)

    def open_document(self, uri: str, text: str, language: str = "python") -> None:
        self.notify("textDocument/didOpen", {"textDocument": {
            "uri": uri, "languageId": language, "version": 1, "text": text}})

    def inline_completion(self, uri: str, line: int, character: int) -> dict[str, Any]:
        """An inline completion request, as an editor sends it while typing; the answer."""
        return self.request("textDocument/inlineCompletion",
                            inline_params(uri, line, character))

    # -- reading ---------------------------------------------------------------------

    def answer(self, msg_id: Any, timeout: float = TIMEOUT_S) -> dict[str, Any]:
        """The response to `msg_id`, waiting up to `timeout` seconds for it."""
        self._wait_for(lambda: msg_id in self._answers, f"an answer to {msg_id!r}", timeout)
        with self._arrived:
            return self._answers.pop(msg_id)

    def orphan_error(self, timeout: float = TIMEOUT_S) -> dict[str, Any]:
        """The oldest error answer with id null (for a message the server could not read)."""
        self._wait_for(lambda: bool(self.orphans), "an error with id null", timeout)
        with self._arrived:
            return self.orphans.pop(0)

    def _wait_for(self, condition: Any, what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self._arrived:
            while not condition():
                left = deadline - time.monotonic()
                if left <= 0 or not self._reader.is_alive():
                    raise TimeoutError(f"no {what}; server log:\n{self.log()}")
                self._arrived.wait(min(left, 0.5))

    def shown_messages(self) -> list[str]:
        """The texts of the window/showMessage notifications received so far."""
        return [n["params"]["message"] for n in list(self.notifications)
                if n.get("method") == "window/showMessage"]

    def _read_all(self, stdout: BinaryIO) -> None:
        while (message := _read_message(stdout)) is not None:
            with self._arrived:
                if "method" in message and "id" in message:
                    self._answer_server_request(message)
                elif "method" in message:
                    self.notifications.append(message)
                elif not isinstance(message.get("id"), (int, str)):
                    self.orphans.append(message)  # id null (or a hostile id sent back)
                else:
                    self._answers[message["id"]] = message
                self._arrived.notify_all()

    def _answer_server_request(self, message: dict[str, Any]) -> None:
        """Requests from the server (progress tokens, configuration) get a null result;
        workspace/applyEdit is applied (says the answer). Each is kept in order."""
        self.server_requests.append(message)
        result = {"applied": True} if message["method"] == "workspace/applyEdit" else None
        self.send_bytes(encode({"jsonrpc": "2.0", "id": message["id"], "result": result}))

    def progress(self, token: Any) -> list[dict[str, Any]]:
        """The values of the $/progress notifications on `token` so far, in order."""
        return [n["params"]["value"] for n in list(self.notifications)
                if n.get("method") == "$/progress" and n["params"].get("token") == token]

    # -- the process -----------------------------------------------------------------

    def alive(self) -> bool:
        return self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, text: str, timeout: float = TIMEOUT_S) -> None:
        """Wait until the server's log says `text`."""
        self._wait_for(lambda: text in self.log(), f"{text!r} in the log", timeout)

    def initialize(self, options: dict[str, Any] | None = None,
                   root_uri: str | None = None) -> dict[str, Any]:
        """The LSP handshake, as an editor without progress support does it."""
        answer = self.request("initialize", {
            "processId": os.getpid(), "rootUri": root_uri, "initializationOptions": options,
            "capabilities": {"textDocument": {"inlineCompletion": {}, "completion": {}}}})
        self.notify("initialized", {})
        return answer

    def close(self, timeout: float = 30) -> int:
        """shutdown and exit as an editor ends a session; kills the process if it hangs."""
        if self.alive():
            try:
                self.request("shutdown", None, timeout=timeout)
                self.notify("exit")
                self.process.stdin.close()  # type: ignore[union-attr]
                return self.process.wait(timeout=timeout)
            except (OSError, TimeoutError, subprocess.TimeoutExpired):
                self.process.kill()
        return self.process.wait()


def tiny_server(directory: Path, *args: str, options: dict[str, Any] | None = None,
                env: dict[str, str] | None = None, cwd: Path | None = None,
                root_uri: str | None = None) -> RawServer:
    """The server on the tiny random-weight model (tiny_gguf.py, loads in milliseconds),
    initialized; `args` add to or override its command line. The model and the log
    go to `directory`."""
    model = directory / "tiny.gguf"
    if not model.exists():
        write_tiny_refact_gguf(model)
    server = RawServer("--model", str(model), "--n-ctx", "512", "--n-threads", "1",
                       "--n-gpu-layers", "0", *args, log_path=directory / "server.log",
                       env=env, cwd=cwd)
    server.initialize({"maxTokens": 8, **(options or {})}, root_uri)
    return server


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def _read_message(stdout: BinaryIO) -> dict[str, Any] | None:
    """One framed message from the server, None at the end of its output."""
    length = None
    while True:
        line = stdout.readline()
        if not line:
            return None
        if line in (b"\r\n", b"\n"):
            break
        name, _, value = line.decode("ascii").partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    assert length is not None, "the server sent a message without Content-Length"
    body = stdout.read(length)
    if len(body) < length:
        return None
    return json.loads(body)
