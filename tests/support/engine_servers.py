"""Real inference servers on 127.0.0.1 for the HTTP engine tests and the load benchmark:
llama-cpp-python's OpenAI-compatible server, and llama.cpp's llama-server."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

LLAMA_SERVER_DIR = Path(os.environ.get("REFACT_LSP_LLAMA_SERVER_DIR")
                        or Path.home() / ".cache" / "refact-lsp" / "llama-server")


def llama_server_binary() -> Path | None:
    """llama-server from REFACT_LSP_LLAMA_SERVER, else where build_llama_server.sh puts it."""
    path = Path(os.environ.get("REFACT_LSP_LLAMA_SERVER") or LLAMA_SERVER_DIR / "bin" /
                "llama-server")
    return path if path.is_file() and os.access(path, os.X_OK) else None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class EngineProcess:
    """A server process and the file its output goes to."""

    kind: str  # the engine kind that talks to it: openai | llama-server
    port: int
    process: subprocess.Popen
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_llama_cpp_server(model: Path, port: int, log: Path, *, n_ctx: int = 4096,
                           api_key: str | None = None, timeout_s: float = 300
                           ) -> EngineProcess:
    """llama-cpp-python's server. It serves one request at a time; interrupt_requests
    is off so that a token count from one editor does not cut another's generation."""
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(model),
               "--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(n_ctx),
               "--interrupt_requests", "false"]
    if api_key:
        command += ["--api_key", api_key]
    engine = EngineProcess("openai", port, _spawn(command, log), log)
    _wait_ready(engine, "/v1/models", api_key, timeout_s)
    return engine


def start_llama_server(binary: Path, model: Path, port: int, log: Path, *,
                       n_ctx_per_slot: int = 4096, slots: int = 2,
                       timeout_s: float = 300, extra: Sequence[str] = ()) -> EngineProcess:
    """llama.cpp's llama-server with `slots` parallel slots of `n_ctx_per_slot` tokens;
    `extra` adds to its command line."""
    command = [str(binary), "-m", str(model), "--host", "127.0.0.1", "--port", str(port),
               "-c", str(n_ctx_per_slot * slots), "-np", str(slots),
               "--cache-reuse", "256", *extra]
    engine = EngineProcess("llama-server", port, _spawn(command, log), log)
    _wait_ready(engine, "/health", None, timeout_s)
    return engine


def _spawn(command: list[str], log: Path) -> subprocess.Popen:
    with open(log, "wb") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)


def _wait_ready(engine: EngineProcess, path: str, api_key: str | None,
                timeout_s: float) -> None:
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if engine.process.poll() is not None:
            raise RuntimeError(f"{engine.kind} server exited: {engine.output()[-2000:]}")
        try:
            if httpx.get(engine.url + path, headers=headers, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    engine.stop()
    raise RuntimeError(f"{engine.kind} server not ready in {timeout_s}s: "
                       f"{engine.output()[-2000:]}")
