"""Bytes in and out: the LSP stream over stdio or one TCP connection, each message found
by `framing.MessageReader` and handed to the server's protocol on its event loop.

pygls's own read loops are not used: after one badly framed message they never answer
again. The protocol owns stdout: native code that writes to file descriptor 1 (or
points it elsewhere for a while, as llama-cpp-python does while a model loads) cannot
touch the messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import functools
import ipaddress
import json
import logging
import os
import re
import socket
import sys
import threading
from typing import BinaryIO

from pygls.exceptions import JsonRpcException
from pygls.io_ import StdoutWriter
from pygls.lsp.server import LanguageServer

from refact_lsp.framing import Broken, MessageReader

log = logging.getLogger(__name__)

# The start of an HTTP request, as a browser sends it (TCP mode refuses such a connection).
HTTP_REQUEST_LINE = re.compile(rb"^(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS|CONNECT|TRACE) ")
HTTP_SNIFF_BYTES = 64
HTTP_SNIFF_S = 5.0


def serve_stdio(server: LanguageServer, stdin: BinaryIO | None = None,
                stdout: BinaryIO | None = None) -> None:
    """pygls's stdio server, with `framing.MessageReader` in place of pygls's read
    loop, which never answers again after one badly framed message."""
    server._stop_event = threading.Event()
    server.protocol.set_writer(StdoutWriter(stdout or _own_stdout()))
    # The file descriptor, not sys.stdin: a thread blocked in a buffered read holds
    # its lock, and the interpreter's exit would then abort waiting for it.
    read = stdin.read1 if stdin is not None else functools.partial(os.read, 0)
    try:
        asyncio.run(_serve(server, MessageReader(read)))
    except BrokenPipeError:
        log.error("the editor closed the connection")
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.shutdown()


def serve_tcp(server: LanguageServer, host: str, port: int) -> None:
    """One editor connection on host:port, read by the same `MessageReader` as stdio
    (pygls's TCP mode has its read loop); the server ends with the connection."""
    if not _is_loopback(host):
        log.warning("listening on %s: any machine that reaches it can use this server "
                    "and read the code it is sent (TCP mode has no authentication; it "
                    "is meant for debugging on 127.0.0.1)", host)
    with socket.create_server((host, port)) as listener:
        log.info("listening on %s:%d", *listener.getsockname()[:2])
        while True:
            connection, peer = listener.accept()
            opening = _opening(connection)
            if opening is Opening.LSP:
                break
            if opening is Opening.HTTP:
                log.warning("refused a connection from %s:%d: it spoke HTTP (a web "
                            "page?), not LSP", *peer[:2])
    log.info("connected to %s:%d", *peer[:2])
    with connection, connection.makefile("rb") as incoming, \
            connection.makefile("wb") as outgoing:
        serve_stdio(server, incoming, outgoing)


async def _serve(server: LanguageServer, reader: MessageReader) -> None:
    """Hand each message the reader finds on its thread to `receive`, in order,
    until the input ends."""
    loop = asyncio.get_running_loop()
    ended: asyncio.Future[None] = loop.create_future()

    def read_all() -> None:
        try:
            while (item := reader.next()) is not None:
                loop.call_soon_threadsafe(receive, server, item)
        except Exception:
            log.exception("reading messages failed")
        finally:
            if not loop.is_closed():
                loop.call_soon_threadsafe(lambda: ended.done() or ended.set_result(None))

    threading.Thread(target=read_all, name="refact-lsp-stdin", daemon=True).start()
    await ended


def receive(server: LanguageServer, item: bytes | Broken) -> None:
    """Handle one message body on the event loop. Invalid UTF-8 is replaced, as
    editors' own decoders do; what is not JSON gets a parse error."""
    if isinstance(item, Broken):
        server.protocol.answer_unreadable(item.reason)
        return
    try:
        text = item.decode("utf-8")
    except UnicodeDecodeError as exc:
        log.warning("a message with invalid UTF-8 (%s); replaced", exc.reason)
        text = item.decode("utf-8", "replace")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        server.protocol.answer_unreadable(f"not JSON ({type(exc).__name__}: {exc})")
        return
    try:
        # The top level only: as an object_hook, pygls's structuring also fires on
        # nested objects that merely look like messages and loses the request.
        message = server.protocol.structure_message(data) if isinstance(data, dict) \
            else data
    except JsonRpcException:
        return  # params that do not parse: answered in structure_message when a request
    try:
        server.protocol.handle_message(message)
    except Exception:
        log.exception("handling a message failed")


def _own_stdout() -> BinaryIO:
    """The protocol's own copy of stdout; file descriptor 1 itself then goes to stderr.

    Native code writes to fd 1, or points it elsewhere for a while: llama-cpp-python
    sends it to /dev/null while a model loads, and every message the server sent
    meanwhile was lost. Neither may touch the messages."""
    sys.stdout.flush()
    protocol_out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    return protocol_out


def _is_loopback(host: str) -> bool:
    try:
        return all(ipaddress.ip_address(info[4][0]).is_loopback
                   for info in socket.getaddrinfo(host, None))
    except (OSError, ValueError):
        return False


class Opening(enum.Enum):
    """How a TCP connection starts."""

    LSP = "lsp"  # LSP's headers, or nothing yet: an editor
    HTTP = "http"  # an HTTP request line: refused
    CLOSED = "closed"  # closed before it said anything: a port probe, skipped


def _opening(connection: socket.socket) -> Opening:
    """How `connection` starts, waiting for its first bytes at most HTTP_SNIFF_S (an
    editor sends its initialize at once). A browser's page can post to a port on
    127.0.0.1, and the body would be taken for an LSP message: a connection that starts
    with an HTTP request line (`POST / HTTP/1.1`) is answered 403 and closed, and so is
    one closed before it said anything."""
    connection.settimeout(HTTP_SNIFF_S)
    try:
        head = connection.recv(HTTP_SNIFF_BYTES, socket.MSG_PEEK)
    except (TimeoutError, OSError):
        return Opening.LSP  # silent so far: the editor speaks first when it is ready
    finally:
        connection.settimeout(None)
    if head and not HTTP_REQUEST_LINE.match(head):
        return Opening.LSP
    if head:
        with contextlib.suppress(OSError):
            connection.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n"
                               b"Connection: close\r\n\r\n")
    connection.close()
    return Opening.HTTP if head else Opening.CLOSED
