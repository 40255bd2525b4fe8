"""LSP base-protocol messages read from a byte stream, surviving broken framing.

pygls's own read loop (`pygls.io_.run_async`) trusts the framing: after one message
without a Content-Length header, or with a body shorter than announced, it reads every
later message out of step and the server never answers again; a huge Content-Length
makes it allocate that much at once and die of MemoryError. `MessageReader` finds its
way back instead:

- A `Content-Length: N` header line is looked for anywhere (case-insensitively, spaces
  tolerated); bytes before it that are not header lines are reported as broken.
- A JSON body can never hold such a header line: a JSON string cannot contain a raw
  line break, and the header is not JSON outside a string. So a body in which one shows
  up was shorter than announced: it is reported broken and reading goes on from that
  header, and the message after the broken one is not lost.
- A body over `max_body` bytes is read through in chunks and dropped, never held whole.

A body shorter than announced is only found out when the next message arrives: until
then the reader waits for the bytes it was promised.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 256 * 1024 * 1024  # a 50 MB file, JSON-escaped, fits several times over
CHUNK = 1 << 20
HEADER = re.compile(rb"content-length[ \t]{0,8}:[ \t]{0,8}(\d{1,15})[ \t]{0,8}\r?\n",
                    re.IGNORECASE)
LOOKBACK = 64  # longer than any HEADER match: kept between two searches of a stream
HEADER_LINES = re.compile(rb"(?:(?:[!-9;-~]+[ \t]*:[^\r\n]*)?\r?\n)*")  # Content-Type etc.
MAX_HEADER_LINE = 4096


@dataclass(frozen=True)
class Broken:
    """Bytes that could not be a message, and why; the client gets an error for them."""

    reason: str


class MessageReader:
    """Message bodies from a byte stream. `read(n)` returns up to n bytes, waiting only
    until there is at least one, and b"" at the end (as `os.read` or `read1` do)."""

    def __init__(self, read: Callable[[int], bytes], max_body: int = MAX_BODY_BYTES) -> None:
        self._read = read
        self._max_body = max_body
        self._buffer = bytearray()

    def next(self) -> bytes | Broken | None:
        """The next message body, Broken for bytes that were not one, None at the end."""
        start = self._find_header()
        if start is None:
            return None
        if start:
            junk = bytes(self._buffer[:start])
            del self._buffer[:start]
            if not HEADER_LINES.fullmatch(junk):
                return Broken(f"{len(junk)} bytes that are not a message")
        header = HEADER.match(self._buffer)
        assert header is not None
        length = int(header[1])
        body_start = self._end_of_headers(header.end())
        if body_start is None:
            return None
        if isinstance(body_start, Broken):
            return body_start
        del self._buffer[:body_start]
        return self._body(length)

    def _more(self) -> bool:
        """Append what the stream has (waiting for at least a byte); False at its end."""
        data = self._read(CHUNK)
        self._buffer += data
        return bool(data)

    def _find_header(self) -> int | None:
        """Where the next Content-Length header starts in the buffer; None at the end.

        Garbage searched through is dropped as it goes, keeping the memory bounded."""
        searched = 0
        while (match := HEADER.search(self._buffer, max(0, searched - LOOKBACK))) is None:
            searched = len(self._buffer)
            if searched > CHUNK:
                log.warning("dropped %d bytes that are not a message",
                            searched - LOOKBACK)
                del self._buffer[:searched - LOOKBACK]
                searched = LOOKBACK
            if not self._more():
                return None
        return match.start()

    def _end_of_headers(self, position: int) -> int | Broken | None:
        """Where the body starts: after the empty line that ends the header block."""
        while True:
            newline = self._buffer.find(b"\n", position)
            if newline < 0:
                if len(self._buffer) - position > MAX_HEADER_LINE:
                    del self._buffer[:position]
                    return Broken("a header line without an end")
                if not self._more():
                    return None
                continue
            line = bytes(self._buffer[position:newline + 1])
            if not line.strip():
                return newline + 1
            restart = HEADER.search(line)
            if restart or not HEADER_LINES.fullmatch(line):
                # No empty line before a body or the next message: this one is broken.
                del self._buffer[:position + restart.start() if restart else newline + 1]
                return Broken("a header block without the empty line that ends it")
            position = newline + 1

    def _body(self, length: int) -> bytes | Broken | None:
        """`length` bytes of body, or Broken where a new message starts inside them (it
        was shorter than announced) or where they are over the limit (then dropped)."""
        keep = length <= self._max_body
        dropped = 0  # bytes of an oversized body already read through and dropped
        searched = 0
        while True:
            remaining = length - dropped
            end = min(len(self._buffer), remaining + LOOKBACK)
            restart = HEADER.search(self._buffer, max(0, searched - LOOKBACK), end)
            if restart is not None and restart.start() < remaining:
                del self._buffer[:restart.start()]
                return Broken(f"a body shorter than its Content-Length of {length}")
            searched = end
            if len(self._buffer) >= remaining:
                with memoryview(self._buffer) as view:
                    body = bytes(view[:remaining]) if keep else b""
                del self._buffer[:remaining]
                if keep:
                    return body
                return Broken(f"a message of {length} bytes, over the limit of "
                              f"{self._max_body}")
            if not keep and len(self._buffer) > CHUNK:
                drop = len(self._buffer) - LOOKBACK
                del self._buffer[:drop]
                dropped += drop
                searched -= drop
            if not self._more():
                return None
