"""The shared-engine kinds against real servers on 127.0.0.1: llama-cpp-python's
OpenAI-compatible server (engine kind openai) and llama.cpp's llama-server (engine kind
llama-server), directly and through the LSP server."""

from __future__ import annotations

import ast
import asyncio
import contextlib
import os
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

from refact_lsp.chat import Message, Role
from refact_lsp.completion import Completer, Job
from refact_lsp.config import EngineSettings, Settings
from refact_lsp.documents import Document, Position
from refact_lsp.engines import create_engine
from refact_lsp.engines.base import (
    ChatRequest,
    Engine,
    EngineError,
    EngineUnavailable,
    GenerationRequest,
    StopReason,
)
from refact_lsp.engines.http import template_from_name
from refact_lsp.prompts import render
from tests.conftest import server_command
from tests.support.engine_servers import (
    EngineProcess,
    free_port,
    llama_server_binary,
    start_llama_cpp_server,
    start_llama_server,
)
from tests.test_server import SOURCE, apply, capabilities, edit, inline, open_document

pytestmark = pytest.mark.model  # starts the server or loads a model (conftest.py)

API_KEY = "sk-refact-test-7f3a9c1e5b"  # the openai server requires it

# About 900 tokens: evaluating it takes long enough on a CPU to cancel in the middle.
LONG_PREFIX = SOURCE + "".join(
    f"\n\ndef helper_{i}(values):\n    total = 0\n    for value in values:\n"
    f"        total += value * {i}\n    return total\n" for i in range(28))


@pytest.fixture(scope="session")
def openai_server(model_path: Path, tmp_path_factory: pytest.TempPathFactory
                  ) -> Iterator[EngineProcess]:
    log = tmp_path_factory.mktemp("openai-server") / "server.log"
    engine = start_llama_cpp_server(model_path, free_port(), log, api_key=API_KEY)
    yield engine
    engine.stop()


@pytest.fixture(scope="session")
def llama_server(model_path: Path, tmp_path_factory: pytest.TempPathFactory
                 ) -> Iterator[EngineProcess]:
    binary = llama_server_binary()
    if binary is None:
        pytest.skip("llama-server is not built: run benchmarks/build_llama_server.sh or set "
                    "REFACT_LSP_LLAMA_SERVER to its path")
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    engine = start_llama_server(binary, model_path, free_port(), log)
    yield engine
    engine.stop()


@pytest.fixture(scope="session", params=["openai_server", "llama_server"],
                ids=["openai", "llama-server"])
def server(request: pytest.FixtureRequest) -> EngineProcess:
    """Each kind of real server in turn."""
    return request.getfixturevalue(request.param)


def settings_for(server: EngineProcess, **engine: Any) -> Settings:
    api_key = API_KEY if server.kind == "openai" else None
    values = {"kind": server.kind, "url": server.url, "api_key": api_key,
              "timeout_s": 300.0, **engine}  # shared CPUs can be slow: wait, do not fail
    return Settings(engine=EngineSettings(**values))


@pytest.fixture
def engine(server: EngineProcess) -> Iterator[Engine]:
    engine = create_engine(settings_for(server))
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def vocabulary(model_path: Path) -> Any:
    """The model's own tokenizer, in process: the reference for the server's counts."""
    import llama_cpp

    return llama_cpp.Llama(model_path=str(model_path), vocab_only=True, verbose=False)


def request(engine: Engine, prefix: str, suffix: str = "\n", **fields: Any
            ) -> GenerationRequest:
    fields.setdefault("max_tokens", 32)
    fields.setdefault("should_stop", lambda text: False)
    return GenerationRequest(prompt=render(engine.template, "auto", prefix, suffix),
                             key="file:///work/example.py", **fields)


def wait_until(condition: Callable[[], bool], timeout_s: float = 20) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def dropped(server: EngineProcess) -> Callable[[], bool]:
    """A check that turns True once the server's log says it dropped one more request
    because its client went away."""
    sign = "Disconnected from client" if server.kind == "openai" else "cancel task"
    before = server.output().count(sign)
    return lambda: server.output().count(sign) > before


# -- the engines, directly ---------------------------------------------------------------


def test_the_engine_learns_the_model_from_the_server(engine: Engine, vocabulary: Any):
    assert engine.template.name == "qwen"
    assert engine.n_ctx == 4096
    expected = len(vocabulary.tokenize(SOURCE.encode(), add_bos=False, special=False))
    assert engine.remote_count(SOURCE) == expected
    assert engine.count_tokens("") == 0
    # Counts are local estimates, high before and after the server taught them its
    # bytes per token (off the protocol thread, while warming).
    assert engine.count_tokens(SOURCE) >= expected
    engine.warm(render(engine.template, "auto", SOURCE * 30, "\n"), threading.Event())
    assert expected <= engine.count_tokens(SOURCE) < engine.count_tokens(SOURCE * 2)


def test_openai_completions_of_llama_server_use_its_tokenizer(llama_server: EngineProcess,
                                                              vocabulary: Any):
    """llama-server's /tokenize reads `content` (where vLLM's reads `prompt`): found, it
    counts exactly and its vocabulary names the template (the model's path, in
    refact-lsp's cache, has another template's name in it)."""
    engine = create_engine(Settings(engine=EngineSettings(
        kind="openai", url=llama_server.url, timeout_s=300.0)))
    try:
        assert engine.template.name == "qwen"
        expected = len(vocabulary.tokenize(SOURCE.encode(), add_bos=False, special=False))
        assert engine.remote_count(SOURCE) == expected
        generation = engine.generate(request(engine, "def add(a, b):\n    return ",
                                             max_tokens=8))
        assert "a" in generation.text and generation.generated_tokens > 0
    finally:
        engine.close()


def test_a_template_is_named_by_the_model_file_not_its_folders():
    assert template_from_name("/home/me/.cache/refact-lsp/models/qwen2.5-coder-7b.gguf"
                              ).name == "qwen"
    assert template_from_name("deepseek-coder-1.3b-base").name == "deepseek"
    assert template_from_name("/models/refact-lsp/mystery.gguf") is None


def test_generation_stops_where_the_stop_rule_says(engine: Engine, server: EngineProcess):
    server_dropped = dropped(server)
    generation = engine.generate(request(engine, "def fibonacci(n):\n    ", max_tokens=64,
                                         should_stop=lambda text: "\n" in text))
    assert generation.stopped_by == "stop"
    assert generation.text.count("\n") == 1 and generation.text.endswith("\n")
    assert wait_until(server_dropped), "the server went on generating"


def test_a_cancel_closes_the_request_at_once(engine: Engine, server: EngineProcess):
    server_dropped = dropped(server)
    cancel = threading.Event()
    timer = threading.Timer(0.3, cancel.set)
    timer.start()
    generation = engine.generate(request(engine, LONG_PREFIX, cancel=cancel))
    assert generation.stopped_by == "cancelled"
    assert wait_until(server_dropped, timeout_s=120)  # the server saw the request closed
    after = engine.generate(request(engine, "import os\n", max_tokens=4))
    assert after.stopped_by in ("eos", "max_tokens")  # still serving


def test_a_chat_answer_streams_from_the_servers_chat_completions(engine: Engine) -> None:
    streamed: list[str] = []
    generation = engine.chat(ChatRequest(
        [Message(Role.USER, "What is 2 + 3? Answer with the number only.")], 8,
        on_text=streamed.append))
    assert generation.text.strip() == "5"
    assert generation.stopped_by == StopReason.EOS
    assert streamed and streamed[-1] == generation.text


def test_a_remote_engine_is_not_given_smaller_windows(engine: Engine) -> None:
    """jumpPromptMs is the embedded engine's: a remote one gets the full prompt only."""
    document = Document("file:///work/example.py", "def f(x):\n    \n", 1, "python")
    job = Completer(engine, Settings(jump_prompt_ms=1000)).prepare(document, Position(1, 4))
    assert isinstance(job, Job) and job.short_prompts == ()


def test_llama_server_keeps_each_document_in_its_slot(llama_server: EngineProcess):
    engine = create_engine(settings_for(llama_server))
    try:
        first = engine.generate(request(engine, LONG_PREFIX, max_tokens=4))
        again = engine.generate(request(engine, LONG_PREFIX + "\n", max_tokens=4))
    finally:
        engine.close()
    assert first.prompt_tokens > 800
    assert again.reused_tokens > first.prompt_tokens - 10


def test_a_wrong_api_key_is_refused_with_a_clear_message(openai_server: EngineProcess):
    with pytest.raises(EngineError) as caught:
        create_engine(settings_for(openai_server, api_key="sk-wrong-key-0000"))
    assert "API key" in str(caught.value)
    assert "sk-wrong-key-0000" not in str(caught.value)


def test_an_unreachable_server_is_unavailable_not_broken():
    url = f"http://127.0.0.1:{free_port()}"
    for kind in ("openai", "llama-server"):
        with pytest.raises(EngineUnavailable, match=f"cannot reach {kind} at {url}"):
            create_engine(Settings(engine=EngineSettings(kind=kind, url=url)))


def test_a_missing_url_is_a_clear_error():
    with pytest.raises(EngineError, match="needs engine.url"):
        create_engine(Settings(engine=EngineSettings(kind="openai")))


# -- through the LSP server --------------------------------------------------------------


@contextlib.asynccontextmanager
async def lsp_session(options: dict[str, Any], *args: str, env: dict[str, str] | None = None,
                      stderr: Path | None = None) -> AsyncIterator[LanguageClient]:
    """The real LSP server over stdio, as an editor starts it; `stderr` keeps its log."""
    command = server_command(*args)
    if stderr is not None:
        command = ["sh", "-c", 'exec "$@" 2>"$0"', str(stderr), *command]
    client = await ClientServerConfig(server_command=command,
                                      server_env=env or dict(os.environ)).start()
    try:
        await client.initialize_session(types.InitializeParams(
            capabilities=capabilities(), initialization_options=options))
        yield client
        await client.shutdown_session()
    finally:
        await client.stop()


async def complete_function_body(client: LanguageClient) -> types.InlineCompletionList:
    """Type the start of a function body and ask for the rest, as in test_server."""
    open_document(client)
    edit(client, 4, 38, "\n    ", version=2)
    return await asyncio.wait_for(inline(client, 5, 4), timeout=180)


def assert_valid_body(result: types.InlineCompletionList) -> None:
    assert len(result.items) == 1
    lines = SOURCE.split("\n")
    lines.insert(5, "    ")
    ast.parse(apply("\n".join(lines), result.items[0]))


async def test_completions_through_the_lsp_server(server: EngineProcess):
    engine = {"kind": server.kind, "url": server.url}
    if server.kind == "openai":
        engine["apiKey"] = API_KEY
    async with lsp_session({"engine": engine, "maxTokens": 64}) as client:
        assert_valid_body(await complete_function_body(client))
        assert not [m for m in client.messages if m.type == types.MessageType.Error]


async def test_the_api_key_never_reaches_the_logs(openai_server: EngineProcess,
                                                  tmp_path: Path):
    log = tmp_path / "lsp.log"
    env = dict(os.environ, REFACT_LSP_API_KEY=API_KEY)
    async with lsp_session({"maxTokens": 64}, "-v", "--engine", "openai", "--engine-url",
                           openai_server.url, env=env, stderr=log) as client:
        assert_valid_body(await complete_function_body(client))
    text = log.read_text()
    assert "HTTP Request: POST" in text  # the log is verbose indeed
    assert API_KEY not in text


async def test_an_unreachable_engine_is_reported_and_completions_resume(
        model_path: Path, tmp_path: Path):
    port = free_port()
    options = {"engine": {"kind": "openai", "url": f"http://127.0.0.1:{port}"},
               "maxTokens": 64, "cache": False}

    async def reported(count: int) -> None:
        for _ in range(100):
            errors = [m.message for m in client.messages if "cannot reach openai" in m.message]
            if len(errors) >= count:
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"no message about the engine: {client.messages}")

    async with lsp_session(options) as client:
        assert (await complete_function_body(client)).items == ()
        await reported(1)

        engine = await asyncio.to_thread(start_llama_cpp_server, model_path, port,
                                         tmp_path / "server.log")
        try:
            result = await asyncio.wait_for(inline(client, 5, 4), timeout=180)
            assert_valid_body(result)
        finally:
            engine.stop()

        assert (await asyncio.wait_for(inline(client, 5, 4), timeout=60)).items == ()
        await reported(2)  # told again: it had come back in between
