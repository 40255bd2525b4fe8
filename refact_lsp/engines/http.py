"""Engines on a shared inference server: llama.cpp's llama-server, or any server with
OpenAI's /v1/completions (vLLM, TGI, Ollama, llama-cpp-python's server, hosted Refact).

Generation is streamed so that the same stop rules as the embedded engine end it as
early: `should_stop` is asked after every streamed piece, and a stop or a cancellation
closes the HTTP request, which makes the server drop the generation. Requests run on a
private asyncio loop so that a cancellation can close a request at any moment, even
while the server is still evaluating the prompt and has sent nothing yet.

A chat answer (`chat`) streams from /v1/chat/completions, which OpenAI's API and
llama-server both have: the server lays the conversation out with its own template. It
is read like a completion (the same deadline, caps and cancellation); while it streams,
the calling thread serves completions (ChatRequest.between_tokens), which the server
runs beside it where it has a free slot.

A server is not trusted to end what it starts: each generation has a deadline (its time
budget plus engine.timeoutS) and a number of events (maxTokens), and no line of an event
stream, nor a body, is read past a size cap. Tokens are counted locally (context is
built where the request arrives, and nothing there may wait on the network); the
server's tokenizer only teaches the estimate its bytes per token, off that thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import json
import logging
import math
import threading
import time
import zlib
from abc import abstractmethod
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Sequence
from typing import Any

import httpx

from refact_lsp.config import EngineKind, EngineSettings
from refact_lsp.engines.base import (
    ChatRequest,
    Engine,
    EngineError,
    EngineUnavailable,
    Generation,
    GenerationRequest,
    StopCheck,
    StopReason,
)
from refact_lsp.prompts import TEMPLATES, FimTemplate, Prompt, detect_template
from refact_lsp.secrets import SECRETS, display_url

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 5.0
TOKENIZE_TIMEOUT_S = 5.0  # /tokenize is asked off the protocol thread, while warming
CANCEL_POLL_S = 0.02  # how soon a cancellation closes a request the server is silent on
MAX_LINE_BYTES = 1 << 20  # one line of an event stream; a longer one is an error
MAX_BODY_BYTES = 8 << 20  # a whole answer that is not an event stream
MAX_ERROR_CHARS = 200  # of a server's own error text, once redacted
CHAT_MS_PER_TOKEN = 250  # a chat answer's deadline: this per token asked for, and timeoutS
CHAT_PATH = "/v1/chat/completions"
# Adds one streamed event to a Generation; returns how it ended, once it did.
Fold = Callable[[dict[str, Any], Generation], "StopReason | None"]
# Too many requests, bad gateway, service unavailable (llama-server while it loads the
# model), gateway timeout.
TRANSIENT_STATUSES = (429, 502, 503, 504)


class HttpEngine(Engine):
    """What both kinds of server share: the connection, errors, token counts, streaming."""

    kind: EngineKind
    remote_tokenizer = False  # True where the server counts tokens for us
    _bos = 0  # tokens the server's tokenizer adds to any text

    def __init__(self, settings: EngineSettings, *, n_ctx: int,
                 template: FimTemplate | None) -> None:
        if not settings.url:
            raise EngineError(f"engine kind {self.kind} needs engine.url, the server's base "
                              "URL (such as http://127.0.0.1:8080)")
        self.settings = settings
        base = _base_url(settings.url)
        self.url = display_url(str(base))  # what messages and the log may show
        headers = {"Authorization": f"Bearer {settings.api_key}"} if settings.api_key else {}
        SECRETS.remember([settings.api_key, base.password])
        self._client = httpx.AsyncClient(
            base_url=base, headers=headers,
            timeout=httpx.Timeout(settings.timeout_s,
                                  connect=min(settings.timeout_s, CONNECT_TIMEOUT_S)),
            transport=httpx.AsyncHTTPTransport(retries=1))  # retries failed connects once
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name=f"refact-lsp-{self.kind}")
        self._thread.start()
        self.estimate = TokenEstimate()
        try:
            self.template = self._connect(n_ctx, template)
        except BaseException:
            self.close()
            raise

    @abstractmethod
    def _connect(self, n_ctx: int, template: FimTemplate | None) -> FimTemplate:
        """Ask the server what it serves; sets n_ctx and description, returns the
        template."""

    @abstractmethod
    def _tokenize(self, text: str) -> list[Any] | None:
        """The server's tokens for `text`, or None where it has no tokenizer endpoint."""

    @abstractmethod
    def _request(self, request: GenerationRequest) -> tuple[str, dict[str, Any]]:
        """The path and JSON body that stream a completion for `request`."""

    @abstractmethod
    def _fold(self, event: dict[str, Any], generation: Generation) -> StopReason | None:
        """Add one streamed event to `generation`; returns how generation ended (eos,
        max_tokens) once the event says it did, else None."""

    # -- requests ----------------------------------------------------------------------

    def _on_loop(self, coroutine: Coroutine[Any, Any, Any]) -> concurrent.futures.Future[Any]:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop)

    def _send(self, method: str, path: str, body: Any = None,
              timeout: float | None = None) -> Any:
        """One request, answered with its decoded JSON body."""
        return self._on_loop(self._send_async(method, path, body, timeout)).result()

    async def _send_async(self, method: str, path: str, body: Any,
                          timeout: float | None) -> Any:
        with self._errors():
            async with self._client.stream(
                    method, path, json=_sendable(body),
                    timeout=httpx.USE_CLIENT_DEFAULT if timeout is None else timeout
            ) as response:
                await self._check(response)
                return json.loads(await _read_body(response, self))

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        """httpx's exceptions, and answers that are not JSON (or JSON nested too deep to
        read), as an EngineError that a person can act on."""
        try:
            yield
        except httpx.TransportError as exc:
            if isinstance(exc, httpx.TimeoutException) \
                    and not isinstance(exc, httpx.ConnectTimeout):
                raise EngineUnavailable(f"{self.kind} at {self.url} did not answer in time; "
                                        "completions resume when it does") from None
            reason = SECRETS.redact(str(exc) or type(exc).__name__)
            raise EngineUnavailable(f"cannot reach {self.kind} at {self.url} ({reason}); "
                                    "completions resume when it answers") from None
        except (json.JSONDecodeError, RecursionError, UnicodeDecodeError):
            raise EngineError(f"{self.kind} at {self.url} sent something that is not "
                              "JSON; is engine.url right?") from None

    async def _check(self, response: httpx.Response) -> None:
        """An HTTP error status as an EngineError that says what to do. Statuses that a
        server that is starting, overloaded or behind a proxy without its backend sends
        are EngineUnavailable: completions resume when it answers."""
        if response.is_success:
            return
        where = f"{self.kind} at {self.url}"
        status = response.status_code
        if status in (401, 403):
            raise EngineError(f"{where} refused the API key (HTTP {status}); set "
                              "engine.apiKey or the REFACT_LSP_API_KEY environment variable")
        detail = _error_detail(await _read_body(response, self, MAX_LINE_BYTES))
        if status in TRANSIENT_STATUSES:
            raise EngineUnavailable(f"{where} is not ready (HTTP {status}): {detail}; "
                                    "completions resume when it is")
        raise EngineError(f"{where} answered HTTP {status} to {response.request.url.path}: "
                          f"{detail}")

    # -- tokens ------------------------------------------------------------------------

    def count_tokens(self, text: str) -> int:
        """An estimate that errs on the high side (a prompt a little short does no harm;
        one too long fails), never a call to the server: this runs where the request
        arrives, and a server that is slow to count would hold every request."""
        return self.estimate.count(text)

    def remote_count(self, text: str) -> int | None:
        """The server's own count of `text`; None where it has no tokenizer."""
        if not self.remote_tokenizer:
            return None
        tokens = self._tokenize(text)
        return None if tokens is None else len(tokens)

    def warm(self, prompt: Prompt, cancel: threading.Event,
             short_prompts: Sequence[Prompt] = ()) -> int:
        """Nothing to evaluate ahead (the server keeps its own cache); off the protocol
        thread, teach the estimate this text's bytes per token from the server's count,
        until it has seen enough text. Evaluates nothing: returns 0."""
        text = prompt.prefix + prompt.suffix
        if self.remote_tokenizer and not self.estimate.settled and text.strip():
            try:
                counted = self.remote_count(text)
            except EngineError as exc:
                log.debug("no token count from %s: %s", self.kind, exc)
                return 0
            if counted:
                self.estimate.learn(_utf8(text), counted)
        return 0

    def _has_token(self, text: str) -> bool:
        """True where the server's tokenizer reads `text` as a single token."""
        try:
            tokens = self._tokenize(text)
        except EngineError:
            return False
        return tokens is not None and len(tokens) == 1 + self._bos

    def _template(self, template: FimTemplate | None, model: str) -> FimTemplate:
        """The settings' template, else the one whose tokens the server's vocabulary has,
        else the one the model's name suggests."""
        if template is not None:
            return template
        if self.remote_tokenizer:
            try:
                return detect_template(self._has_token, None)
            except ValueError as exc:
                raise EngineError(f"{self.kind} at {self.url} serves {model}: {exc}") from None
        named = template_from_name(model)
        if named is not None:
            return named
        raise EngineError(f"cannot tell the fill-in-the-middle template of {model} at "
                          f"{self.url}; set 'template' (one of {', '.join(TEMPLATES)})")

    # -- generation --------------------------------------------------------------------

    def generate(self, request: GenerationRequest) -> Generation:
        """Stream a generation. With token healing the server cannot be held to writing
        `heal_text` first: what it writes is checked instead, and an output that does not
        begin with it is nothing to show."""
        heal = request.heal_text
        if heal:
            request = dataclasses.replace(request, should_stop=_after(heal,
                                                                      request.should_stop))
        generation = self._generate(request)
        if heal:
            generation.text = generation.text[len(heal):] \
                if generation.text.startswith(heal) else ""
        return generation

    def chat(self, request: ChatRequest) -> Generation:
        """The answer from /v1/chat/completions, streamed; its deadline grows with the
        tokens asked for (CHAT_MS_PER_TOKEN), as a long answer takes long."""
        body = {"messages": [{"role": message.role.value, "content": message.content}
                             for message in request.messages],
                "max_tokens": request.max_tokens, "temperature": request.temperature,
                "stream": True, **self._chat_fields()}

        def streamed(text: str) -> bool:
            request.on_text(_answer(text))
            return False

        generation = self._generate(
            GenerationRequest(Prompt(()), request.max_tokens, streamed, request.cancel,
                              time_budget_ms=request.max_tokens * CHAT_MS_PER_TOKEN),
            (CHAT_PATH, body, _fold_chat), request.between_tokens)
        generation.text = _answer(generation.text)
        request.on_text(generation.text)  # an event may bring the last text and the end
        return generation

    def _chat_fields(self) -> dict[str, Any]:
        """What a chat request adds for this kind of server (the model's name)."""
        return {}

    def _generate(self, request: GenerationRequest,
                  call: tuple[str, dict[str, Any], Fold] | None = None,
                  between: Callable[[], None] | None = None) -> Generation:
        """Stream `request` (or `call`: another path, body and event shape), polling
        for a cancellation and running `between` while it streams."""
        path, body, fold = call or (*self._request(request), self._fold)
        deadline = time.monotonic() + request.time_budget_ms / 1000 + self.settings.timeout_s
        future = self._on_loop(self._stream(path, _sendable(body), request, deadline, fold))
        while True:
            try:
                return future.result(timeout=CANCEL_POLL_S)
            except concurrent.futures.TimeoutError:
                if request.cancel.is_set():
                    future.cancel()  # cancels the task, and so closes the connection
                    return Generation("", StopReason.CANCELLED)
                if between is not None:
                    between()

    async def _stream(self, path: str, body: dict[str, Any], request: GenerationRequest,
                      deadline: float, fold: Fold) -> Generation:
        started = time.perf_counter()
        generation = Generation("", StopReason.MAX_TOKENS)
        with self._errors():
            async with self._client.stream("POST", path, json=body) as response:
                await self._check(response)
                generation.prompt_ms = (time.perf_counter() - started) * 1000
                generation.stopped_by = await self._read(response, request, generation,
                                                         deadline, fold)
        generation.generate_ms = (time.perf_counter() - started) * 1000 - generation.prompt_ms
        return generation

    async def _read(self, response: httpx.Response, request: GenerationRequest,
                    generation: Generation, deadline: float, fold: Fold) -> StopReason:
        """Read server-sent events until the server ends, a stop rule fires, the
        request is cancelled, more events than `max_tokens` came or the deadline passed;
        leaving early closes the response. A server that ignores `stream` and answers with one
        JSON completion is read as a single event."""
        if not _is_event_stream(response):
            return self._event(await _read_body(response, self), generation, fold) \
                or StopReason.MAX_TOKENS
        events = 0
        async for line in _lines(response, deadline, self):
            if not line.startswith("data:"):
                continue  # blank separators, comments, pings
            data = line[len("data:"):].strip()
            if data == "[DONE]":
                break
            events += 1
            ended = self._event(data, generation, fold)
            if ended:
                return ended
            if request.cancel.is_set():
                return StopReason.CANCELLED
            if request.should_stop(generation.text):
                return StopReason.STOP
            if events > request.max_tokens:
                # A token an event at most, and the closing event (llama-server's carries
                # the cache figures): a server that sends more runs on alone.
                return StopReason.MAX_TOKENS
        if time.monotonic() >= deadline:
            if not events:
                raise EngineUnavailable(f"{self.kind} at {self.url} kept the answer open "
                                        "without completing it; completions resume when "
                                        "it answers")
            log.warning("%s at %s passed the deadline of this completion; cut short",
                        self.kind, self.url)
            return StopReason.DEADLINE
        if not events:
            raise EngineError(f"{self.kind} at {self.url} sent an event stream without "
                              "any completion in it; is engine.url right?")
        return StopReason.MAX_TOKENS  # the stream ended without saying why: treat it as cut short

    def _event(self, data: str, generation: Generation, fold: Fold) -> StopReason | None:
        """Fold one event's JSON text into `generation`; how generation ended, if it did.
        An error the server reports, or an event of another shape than its kind sends,
        is an EngineError that quotes it."""
        with self._errors():
            event = json.loads(data)
        if isinstance(event, dict) and "error" in event:
            raise EngineError(f"{self.kind} at {self.url}: "
                              f"{_quoted(_message(event['error']))}")
        try:
            if not isinstance(event, dict):
                raise TypeError(type(event).__name__)
            return fold(event, generation)
        except (AttributeError, TypeError, KeyError, IndexError, ValueError):
            raise EngineError(f"{self.kind} at {self.url} sent a completion of an "
                              f"unexpected shape: {_quoted(data)}") from None

    def close(self) -> None:
        if self._loop.is_closed():
            return
        self._on_loop(self._client.aclose()).result(timeout=5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()


class LlamaServerEngine(HttpEngine):
    """llama.cpp's llama-server. /infill applies the model's own FIM template (with its
    repository-level layout for open files), and each document keeps to one slot so
    that its KV cache survives from one keystroke to the next."""

    kind = EngineKind.LLAMA_SERVER
    remote_tokenizer = True

    def _connect(self, n_ctx: int, template: FimTemplate | None) -> FimTemplate:
        props = self._send("GET", "/props")
        self.slots = max(1, int(props.get("total_slots") or 1))
        slot_ctx = int((props.get("default_generation_settings") or {}).get("n_ctx") or 0)
        self.n_ctx = min(n_ctx, slot_ctx) if slot_ctx > 0 else n_ctx
        model = str(props.get("model_path") or "its model").rsplit("/", 1)[-1]
        chosen = self._template(template, model)
        self.description = (f"llama-server at {self.url} ({model}, template {chosen.name}, "
                            f"n_ctx {self.n_ctx} a slot, {self.slots} slots)")
        return chosen

    def _tokenize(self, text: str) -> list[Any] | None:
        reply = self._send("POST", "/tokenize", {"content": text, "add_special": False},
                           timeout=TOKENIZE_TIMEOUT_S)
        return reply.get("tokens")

    def _request(self, request: GenerationRequest) -> tuple[str, dict[str, Any]]:
        prompt = request.prompt
        slot = zlib.crc32(request.key.encode("utf-8")) % self.slots if request.key else -1
        return "/infill", {
            "input_prefix": prompt.prefix,
            "input_suffix": prompt.suffix,
            "input_extra": [{"filename": item.path, "text": item.text}
                            for item in prompt.context_files],
            "prompt": "",
            "n_predict": request.max_tokens,
            "t_max_predict_ms": request.time_budget_ms,
            "temperature": request.temperature,
            "cache_prompt": True,
            "id_slot": slot,
            "stream": True,
            "response_fields": ["content", "stop", "stop_type", "tokens_cached",
                                "tokens_evaluated", "tokens_predicted"],
        }

    def _fold(self, event: dict[str, Any], generation: Generation) -> StopReason | None:
        generation.text += event.get("content") or ""
        generation.prompt_tokens = event.get("tokens_evaluated", generation.prompt_tokens)
        generation.generated_tokens = event.get("tokens_predicted",
                                                generation.generated_tokens)
        if not event.get("stop"):
            return None
        generation.reused_tokens = event.get("tokens_cached", 0)
        return StopReason.MAX_TOKENS if event.get("stop_type") == "limit" else StopReason.EOS


class OpenAIEngine(HttpEngine):
    """Any server with OpenAI's /v1/completions. The prompt is ours, rendered from the
    same templates as the embedded engine's."""

    kind = EngineKind.OPENAI
    # Tokenizer endpoints and the field that carries the text, tried in turn:
    # llama-cpp-python's server, vLLM's, then llama.cpp's llama-server.
    TOKENIZERS = (("/extras/tokenize", "input"), ("/tokenize", "prompt"),
                  ("/tokenize", "content"))

    def _connect(self, n_ctx: int, template: FimTemplate | None) -> FimTemplate:
        listed = self._send("GET", "/v1/models").get("data") or []
        if not self.settings.model and not listed:
            raise EngineError(f"{self.url} lists no models; set engine.model")
        self.model = self.settings.model or str(listed[0]["id"])
        served = next((entry for entry in listed if entry.get("id") == self.model), {})
        self.n_ctx = min(n_ctx, int(served.get("max_model_len") or n_ctx))  # vLLM says
        self._tokenizer = self._find_tokenizer()
        self.remote_tokenizer = self._tokenizer is not None
        if self.remote_tokenizer:
            self._bos = len(self._tokenize("") or ())
        chosen = self._template(template, self.model)
        counted = "its tokenizer" if self.remote_tokenizer else "an estimate"
        self.description = (f"openai at {self.url} ({self.model}, template {chosen.name}, "
                            f"n_ctx {self.n_ctx}, tokens counted with {counted})")
        return chosen

    def _find_tokenizer(self) -> tuple[str, str] | None:
        for path, field in self.TOKENIZERS:
            try:
                reply = self._send("POST", path, self._tokenize_body(field, "def f():\n"),
                                   timeout=TOKENIZE_TIMEOUT_S)
            except EngineUnavailable:
                raise
            except EngineError:
                continue  # not this server's endpoint
            if isinstance(reply, dict) and reply.get("tokens"):
                return path, field
        return None

    def _chat_fields(self) -> dict[str, Any]:
        return {"model": self.model}

    def _tokenize_body(self, field: str, text: str) -> dict[str, Any]:
        return {field: text, "model": self.model, "add_special_tokens": False}

    def _tokenize(self, text: str) -> list[Any] | None:
        if self._tokenizer is None:
            return None
        path, field = self._tokenizer
        reply = self._send("POST", path, self._tokenize_body(field, text),
                           timeout=TOKENIZE_TIMEOUT_S)
        return reply.get("tokens")

    def _request(self, request: GenerationRequest) -> tuple[str, dict[str, Any]]:
        return "/v1/completions", {
            "model": self.model,
            "prompt": request.prompt.text,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "stop": list(self.template.stops),
            "stream": True,
        }

    def _fold(self, event: dict[str, Any], generation: Generation) -> StopReason | None:
        choice = (event.get("choices") or [{}])[0]
        return _fold_choice(choice, choice.get("text") or "", generation)


def _fold_chat(event: dict[str, Any], generation: Generation) -> StopReason | None:
    """One event of a streamed chat completion (OpenAI's shape, llama-server's too):
    the text is the choice's `delta.content`."""
    choice = (event.get("choices") or [{}])[0]
    return _fold_choice(choice, (choice.get("delta") or {}).get("content") or "", generation)


def _fold_choice(choice: dict[str, Any], text: str, generation: Generation
                 ) -> StopReason | None:
    """An OpenAI-shaped choice's text added, and its finish reason as a StopReason."""
    generation.text += text
    generation.generated_tokens += 1 if text else 0
    reason = choice.get("finish_reason")
    if reason is None:
        return None
    return StopReason.MAX_TOKENS if reason == "length" else StopReason.EOS


def _answer(text: str) -> str:
    """A chat answer without the blank lines and spaces around it."""
    return text.lstrip("\r\n").rstrip()


def template_from_name(model: str) -> FimTemplate | None:
    """The template a model's file or id name suggests (its base name only: the folders
    above, such as refact-lsp's own cache, say nothing of the model)."""
    name = model.rstrip("/").rsplit("/", 1)[-1].lower()
    return next((template for key, template in TEMPLATES.items() if key in name), None)


class TokenEstimate:
    """Tokens of a text from its UTF-8 size, erring on the high side.

    Until the server has counted enough text, two bytes a token (more tokens than code
    tokenizers make of code); then the bytes per token it measured, less a margin."""

    START_BYTES_PER_TOKEN = 2.0
    MARGIN = 0.85  # the measured ratio, lowered: text denser than the average fits too
    SETTLED_BYTES = 64 * 1024  # counted text after which the ratio is kept

    def __init__(self) -> None:
        self._bytes = 0
        self._tokens = 0
        self.bytes_per_token = self.START_BYTES_PER_TOKEN

    @property
    def settled(self) -> bool:
        return self._bytes >= self.SETTLED_BYTES

    def learn(self, size: int, tokens: int) -> None:
        """Count `tokens` tokens the server made of `size` bytes."""
        self._bytes += size
        self._tokens += tokens
        measured = self._bytes / max(1, self._tokens) * self.MARGIN
        self.bytes_per_token = max(self.START_BYTES_PER_TOKEN, measured)

    def count(self, text: str) -> int:
        return math.ceil(_utf8(text) / self.bytes_per_token) if text else 0


def _after(heal: str, should_stop: StopCheck) -> StopCheck:
    """A stop check for an output that must begin with `heal`: the output after it goes
    to `should_stop`; one that leaves it stops at once."""
    def check(text: str) -> bool:
        if text.startswith(heal):
            return len(text) > len(heal) and should_stop(text[len(heal):])
        return not heal.startswith(text)
    return check


def _utf8(text: str) -> int:
    """Bytes of `text` as sent (a lone surrogate becomes one replacement character)."""
    return len(text.encode("utf-8", "replace"))


def _sendable(value: Any) -> Any:
    """`value` with every string made valid UTF-8: a lone surrogate in a document is
    replaced, as it would be on a screen (JSON encoding would fail on it)."""
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, dict):
        return {key: _sendable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_sendable(item) for item in value]
    return value


def _base_url(url: str) -> httpx.URL:
    """engine.url as httpx takes it, or one clear error for one that is not an HTTP URL."""
    try:
        base = httpx.URL(url.strip().rstrip("/").removesuffix("/v1"))
    except (httpx.InvalidURL, TypeError, ValueError):
        base = None
    if base is None or base.scheme not in ("http", "https") or not base.host:
        raise EngineError(f"engine.url {display_url(url)!r} is not an http:// or https:// "
                          "URL of a server (such as http://127.0.0.1:8080)")
    return base


def _is_event_stream(response: httpx.Response) -> bool:
    return response.headers.get("content-type", "").lower().lstrip() \
        .startswith("text/event-stream")


async def _lines(response: httpx.Response, deadline: float, engine: HttpEngine
                 ) -> AsyncIterator[str]:
    """The lines of an event stream, until it ends or `deadline` (a monotonic time)
    passes; a line over MAX_LINE_BYTES is an EngineError (it would be held whole)."""
    pending = b""
    async for chunk in response.aiter_bytes():
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            yield line.rstrip(b"\r").decode("utf-8", "replace")
        if len(pending) > MAX_LINE_BYTES:
            raise EngineError(f"{engine.kind} at {engine.url} sent a line of more than "
                              f"{MAX_LINE_BYTES >> 20} MiB in its event stream")
        if time.monotonic() >= deadline:
            return
    if pending:
        yield pending.decode("utf-8", "replace")


async def _read_body(response: httpx.Response, engine: HttpEngine,
                     limit: int = MAX_BODY_BYTES) -> str:
    """A whole answer's text, at most `limit` bytes of it read (an error page is cut
    there; an answer that is meant to be read whole is an EngineError past it)."""
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > limit:
            if not response.is_success:
                break
            raise EngineError(f"{engine.kind} at {engine.url} sent an answer of more "
                              f"than {limit >> 20} MiB")
    return bytes(body[:limit]).decode("utf-8", "replace")


def _message(error: Any) -> str:
    return str(error.get("message") or error) if isinstance(error, dict) else str(error)


def _quoted(text: str) -> str:
    """A server's own words, short and without secrets (redacted before the cut, so no
    cut can leave part of a key)."""
    return SECRETS.redact(text)[:MAX_ERROR_CHARS]


def _error_detail(text: str) -> str:
    """The server's own words on an error (the text of its error body), short."""
    try:
        body = json.loads(text)
    except (ValueError, RecursionError):
        return _quoted(text or "no details")
    if isinstance(body, dict):
        body = body.get("error") or body.get("detail") or body
    return _quoted(_message(body))
