"""The security promises of docs/security.md, checked on the real server process:
no network connection with the embedded engine, TCP mode on 127.0.0.1 by default,
workspace files never written and nothing executed. (API keys kept out of logs and
messages: test_faults.py; downloads checked before use: test_faults.py.)"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.engine_servers import free_port
from tests.support.raw_client import encode, tiny_server
from tests.support.tiny_gguf import write_tiny_refact_gguf

pytestmark = [pytest.mark.model,  # starts the server (conftest.py)
              pytest.mark.skipif(not Path("/proc/self/net/tcp").exists(),
                                 reason="reads the process's sockets from Linux's /proc")]


def inet_sockets(pid: int) -> list[tuple[str, str, str]]:
    """(table, local address, state) of every TCP, UDP or raw IP socket `pid` holds.
    (asyncio's own wake-up pipe is a Unix socket: not in these tables.)"""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue  # closed meanwhile
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    found = []
    for table in ("tcp", "tcp6", "udp", "udp6", "raw", "raw6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[9] in inodes:
                found.append((table, _address(fields[1]), fields[3]))
    return found


def _address(field: str) -> str:
    """/proc/net/tcp's "0100007F:0823" as "127.0.0.1:2083" (IPv6 left as it is)."""
    host, port = field.split(":")
    if len(host) != 8:
        return field
    return ".".join(str(int(host[i:i + 2], 16)) for i in (6, 4, 2, 0)) + f":{int(port, 16)}"


def foreign_children(pid: int) -> list[str]:
    """The command lines of the processes `pid` started that still run, except its own
    interpreter running multiprocessing (the workspace index parses files in one)."""
    found = []
    for child in [child for task in Path(f"/proc/{pid}/task").iterdir()
                  for child in (task / "children").read_text().split()]:
        try:
            same = os.readlink(f"/proc/{child}/exe") == os.readlink(f"/proc/{pid}/exe")
            command = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue  # ended meanwhile
        if not (same and b"from multiprocessing" in command):
            found.append(command.decode(errors="replace"))
    return found


def snapshot(directory: Path) -> dict[str, tuple[int, int]]:
    """Every file under `directory` with its size and modification time."""
    return {str(path.relative_to(directory)): (path.stat().st_size, path.stat().st_mtime_ns)
            for path in sorted(directory.rglob("*"))}


def test_the_embedded_engine_makes_no_connection_and_touches_no_workspace_file(
        tmp_path: Path) -> None:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    source = workspace / "example.py"
    source.write_text("import os\n\n\ndef f(x):\n    \n")
    (workspace / "setup.sh").write_text("#!/bin/sh\ntouch ran\n")
    before = snapshot(workspace)
    server = tiny_server(tmp_path, env={"REFACT_LSP_CACHE_DIR": str(tmp_path / "cache")},
                         cwd=workspace, options={"workspaceContext": True},
                         root_uri=workspace.as_uri())  # the folder indexed too
    uri = source.as_uri()
    server.open_document(uri, source.read_text())
    server.notify("textDocument/didChange", {
        "textDocument": {"uri": uri, "version": 2}, "contentChanges": [{"range": {
            "start": {"line": 4, "character": 4}, "end": {"line": 4, "character": 4}},
            "text": "return "}]})
    assert "result" in server.inline_completion(uri, 4, 11)
    stats = server.request("refact/stats")["result"]
    assert "engine" in stats and stats["index"]["known"] >= 1  # it ran the model, indexed
    assert inet_sockets(server.process.pid) == []
    assert foreign_children(server.process.pid) == []
    server.notify("textDocument/didSave", {"textDocument": {"uri": uri}})
    assert server.close() == 0
    assert snapshot(workspace) == before  # nothing written, setup.sh never ran
    # A model path downloads nothing: the cache dir holds at most the acceptance totals.
    written = {path.name for path in (tmp_path / "cache").glob("*")}
    assert written <= {"acceptance.json", "acceptance.json.lock"}


def test_tcp_mode_listens_on_127_0_0_1_only_by_default_and_survives_bad_framing(
        tmp_path: Path) -> None:
    model = write_tiny_refact_gguf(tmp_path / "tiny.gguf")
    port = free_port()
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("REFACT_LSP_")}
    with open(tmp_path / "server.log", "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "refact_lsp.cli", "--tcp", "--port", str(port),
             "--model", str(model), "--n-ctx", "512", "--n-gpu-layers", "0"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 60
        while not (listening := [s for s in inet_sockets(process.pid) if s[2] == "0A"]):
            assert process.poll() is None and time.monotonic() < deadline, \
                (tmp_path / "server.log").read_text()
            time.sleep(0.1)
        assert listening == [("tcp", f"127.0.0.1:{port}", "0A")]  # 0A: LISTEN
        with socket.create_connection(("127.0.0.1", port), timeout=60) as connection:
            # A body shorter than its Content-Length, then a good request: read with the
            # same framing as stdio, the first is answered as unreadable and the second
            # is not lost.
            connection.sendall(b"Content-Length: 40\r\n\r\n{\"jsonrpc\": \"2.0\"}")
            connection.sendall(encode({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                                       "params": {"processId": None, "rootUri": None,
                                                  "capabilities": {}}}))
            answer = b""
            while b'"serverInfo"' not in answer:
                data = connection.recv(65536)
                assert data, answer
                answer += data
            assert b'"id": null' in answer or b'"id":null' in answer  # the broken one
    finally:
        process.kill()
        process.wait()

