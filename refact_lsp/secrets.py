"""What must never be shown, and its redaction everywhere text leaves the process.

API keys reach the log, messages to the person and `refact/stats` by many paths: pygls's
verbose log prints whole messages (settings included), an engine's error page may repeat
the request's headers, and a URL may carry `user:password@`. Every such text goes
through `Secrets.redact` before it is cut to length, so that no cut can leave a key
minus its last characters.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

MASK = "***"
MIN_SECRET_CHARS = 6  # shorter values are no secret worth the name (and would mask words)
MIN_FRAGMENT_CHARS = 8  # any piece this long of a secret is masked, wherever it appears
# An API key in text: an apiKey field's value (as JSON, a Python repr or key=value: the
# name, a colon or an equals sign, the value) or a bearer token. Prose that names the
# setting ("the REFACT_LSP_API_KEY environment variable") is left alone.
API_KEY_TEXT = re.compile(r"(?i)(api[_-]?key[\"']?\s*[:=]\s*[\"']?|bearer\s+)([\w.~+/=-]{6,})")
# The userinfo of a URL: scheme://user:password@host
URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@]+@")


class Secrets:
    """The secrets this process knows (keys from settings and the environment), and the
    redaction of any text that may quote one."""

    def __init__(self) -> None:
        self._known: set[str] = set()
        self._lock = threading.Lock()

    def remember(self, values: Iterable[str | None]) -> None:
        with self._lock:
            self._known.update(value for value in values
                               if value and len(value) >= MIN_SECRET_CHARS)

    def redact(self, text: str) -> str:
        """`text` without keys: apiKey values, bearer tokens, URL userinfo, and every
        fragment of MIN_FRAGMENT_CHARS or more of a remembered secret."""
        text = URL_USERINFO.sub(r"\1" + MASK + "@", text)
        text = API_KEY_TEXT.sub(r"\1" + MASK, text)
        with self._lock:
            known = sorted(self._known, key=len, reverse=True)
        for secret in known:
            text = _mask_fragments(text, secret)
        return text


def _mask_fragments(text: str, secret: str) -> str:
    """`text` with each stretch that matches MIN_FRAGMENT_CHARS or more consecutive
    characters of `secret` masked (a secret shorter than that only whole)."""
    size = min(MIN_FRAGMENT_CHARS, len(secret))
    pieces = {secret[start:start + size] for start in range(len(secret) - size + 1)}
    masked = [False] * len(text)
    for piece in pieces:
        start = text.find(piece)
        while start >= 0:
            masked[start:start + size] = [True] * size
            start = text.find(piece, start + 1)
    if not any(masked):
        return text
    out, index = [], 0
    while index < len(text):
        if masked[index]:
            while index < len(text) and masked[index]:
                index += 1
            out.append(MASK)
        else:
            out.append(text[index])
            index += 1
    return "".join(out)


def display_url(url: str | None) -> str:
    """A URL as it may be shown: without `user:password@` (kept out of every message,
    the log and `refact/stats`)."""
    if not url:
        return ""
    try:
        parts = urlsplit(url)
    except ValueError:
        return URL_USERINFO.sub(r"\1", url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def origin(url: str | None) -> tuple[str, str, int | None] | None:
    """(scheme, host, port) of a URL, the unit a key is given for; None where there is
    none. The default ports are spelled out, so that http://h and http://h:80 agree."""
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return ("", url.strip().lower(), None)  # malformed: its own origin, never another's
    scheme = parts.scheme.lower()
    port = port or {"http": 80, "https": 443}.get(scheme)
    return scheme, (parts.hostname or "").lower(), port


def api_keys(values: Mapping[str, Any]) -> Iterator[str]:
    """The strings given as engine.apiKey in a settings payload, whatever the spelling of
    the key and even of a wrong type: they are secrets before a problem quotes one."""
    engine = values.get("engine")
    for key, value in engine.items() if isinstance(engine, Mapping) else ():
        if re.sub(r"[_-]", "", str(key)).lower() == "apikey":
            items = value if isinstance(value, (list, tuple)) else [value]
            yield from (str(item) for item in items if item is not None)


class RedactingFilter(logging.Filter):
    """A log filter that passes every record through `Secrets.redact`, its traceback too."""

    def __init__(self, secrets: Secrets) -> None:
        super().__init__()
        self.secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # arguments that do not format: the handler reports that
            return True
        record.msg, record.args = self.secrets.redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.secrets.redact(record.exc_text)
        return True


SECRETS = Secrets()  # the process's one registry: settings add to it wherever they load
