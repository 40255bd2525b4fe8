"""`refact-lsp doctor`: a line a check, what to do where one fails, and an exit status
that says whether a completion would work."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from refact_lsp import doctor
from refact_lsp.acceptance import TOTALS_FILE, Counts, Tally, add_to_totals
from refact_lsp.config import Settings
from tests.support.fake_openai import FakeEngine
from tests.support.tiny_gguf import write_tiny_refact_gguf

API_KEY = "sk-doctor-test-key-0123456789"


def run(**settings: Any) -> tuple[int, list[str]]:
    lines: list[str] = []
    status = doctor.run(Settings().updated(settings)[0], lines.append)
    return status, lines


def line_with(lines: list[str], text: str) -> str:
    found = [line for line in lines if text in line]
    assert found, "\n".join(lines)
    return found[0]


@pytest.fixture
def engine() -> Iterator[FakeEngine]:
    server = FakeEngine()
    yield server
    server.close()


@pytest.mark.model  # loads a (tiny) model with llama.cpp
def test_a_working_model_passes_with_a_test_generation(tmp_path: Path) -> None:
    model = write_tiny_refact_gguf(tmp_path / "tiny.gguf")
    status, lines = run(model=str(model), n_ctx=512, n_threads=1, n_gpu_layers=0,
                        cache_dir=str(tmp_path / "cache"))
    assert status == 0, "\n".join(lines)
    assert line_with(lines, "Python ").startswith("ok")
    assert line_with(lines, "llama.cpp: llama-cpp-python ").startswith("ok")
    assert "sha256" in line_with(lines, f"model: {model}")
    assert "template refact" in line_with(lines, "loaded tiny.gguf")
    assert "tokens/s" in line_with(lines, "test generation:")
    assert not any(line.startswith("FAIL") for line in lines)
    assert lines[-1] == "completions work"


def test_a_missing_model_fails_with_what_to_do(tmp_path: Path) -> None:
    status, lines = run(model=str(tmp_path / "none.gguf"), cache_dir=str(tmp_path))
    assert status == 1
    failed = line_with(lines, "none.gguf")
    assert failed.startswith("FAIL") and "cannot read model file" in failed
    assert "--model" in lines[lines.index(failed) + 1]  # what to do, on the next line
    assert lines[-1].startswith("completions would not work")


def test_a_catalog_model_not_downloaded_is_named_and_never_downloaded(tmp_path: Path) -> None:
    status, lines = run(model="qwen2.5-coder-3b", cache_dir=str(tmp_path))
    assert status == 1
    failed = line_with(lines, "model qwen2.5-coder-3b: not downloaded yet")
    assert "Qwen/Qwen2.5-Coder-3B-Instruct-GGUF" in failed
    assert "refact-lsp models download qwen2.5-coder-3b" in lines[lines.index(failed) + 1]
    assert not list(tmp_path.glob("*.gguf"))


def test_an_engine_that_refuses_the_key_is_told_and_the_key_never_shown(
        tmp_path: Path, engine: FakeEngine) -> None:
    engine.load = "refuse-key"
    status, lines = run(engine={"kind": "openai", "url": engine.url, "api_key": API_KEY},
                        cache_dir=str(tmp_path))
    assert status == 1
    failed = line_with(lines, "refused the API key")
    assert failed.startswith("FAIL") and "HTTP 401" in failed
    assert not any(API_KEY[:12] in line for line in lines)


def test_a_reachable_engine_passes(tmp_path: Path, engine: FakeEngine) -> None:
    status, lines = run(engine={"kind": "openai", "url": engine.url, "api_key": API_KEY},
                        cache_dir=str(tmp_path))
    assert status == 0, "\n".join(lines)
    assert line_with(lines, "reachable, key accepted").startswith("ok")
    assert "qwen-fake" in line_with(lines, "reachable")
    assert line_with(lines, "test generation:").startswith("ok")
    assert engine.authorizations()[0] == f"Bearer {API_KEY}"


def test_an_unreachable_engine_fails(tmp_path: Path, engine: FakeEngine) -> None:
    url = engine.url
    engine.close()
    status, lines = run(engine={"kind": "llama-server", "url": url}, cache_dir=str(tmp_path))
    assert status == 1
    assert line_with(lines, "cannot reach llama-server").startswith("FAIL")


def test_the_acceptance_totals_are_printed(tmp_path: Path, engine: FakeEngine) -> None:
    add_to_totals(tmp_path / TOTALS_FILE, Tally(
        Counts(shown=3, accepted=1, partially_accepted=1, accepted_chars=40),
        {"python": Counts(shown=2, accepted=1), "go": Counts(shown=1)}))
    _, lines = run(engine={"kind": "openai", "url": engine.url}, cache_dir=str(tmp_path))
    counted = line_with(lines, "acceptance on this machine")
    assert "3 shown, 1 accepted (33%), 1 partly, 40 characters accepted" in counted
    assert "python 1/2, go 0/1" in counted
