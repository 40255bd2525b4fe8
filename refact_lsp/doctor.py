"""`refact-lsp doctor`: what works and what to do, in plain lines.

Each check prints a line that starts with `ok`, `FAIL` or `note`; under a line that
needs something done, a second line says what. The checks use the settings the server
would use (flags, REFACT_LSP_* variables) and never download a model. The exit status
is 0 only where a completion would work: the model loads (or the engine answers) and
generates.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from refact_lsp import __version__, models
from refact_lsp.acceptance import TOTALS_FILE, read_totals
from refact_lsp.config import EngineKind, Settings
from refact_lsp.cpu_build import cpu_flags, unused_extensions
from refact_lsp.engines import create_engine
from refact_lsp.engines.base import Engine, EngineError, GenerationRequest, StopReason
from refact_lsp.prompts import render
from refact_lsp.secrets import SECRETS, display_url
from refact_lsp.text import StrEnum

PACKAGES = ("llama-cpp-python", "pygls", "lsprotocol", "tree-sitter", "httpx",
            "huggingface-hub")
TEST_TOKENS = 20
TEST_PREFIX = "def fibonacci(n):\n    "
TEST_SUFFIX = "\n\n\nprint(fibonacci(10))\n"
SLOW_TOKENS_PER_S = 5.0  # slower, and a one-line suggestion takes seconds
INSTALL_DOCS = "docs/install.md"


class Status(StrEnum):
    OK = "ok"
    FAIL = "FAIL"  # a completion would not work
    NOTE = "note"  # worth knowing; completions work anyway


@dataclass(frozen=True)
class Line:
    status: Status
    text: str
    advice: str = ""  # what to do, where something is to be done


def run(settings: Settings, write: Callable[[str], None] = print) -> int:
    """Print every check; 0 where a completion would work, 1 where it would not."""
    failed = False

    def report(line: Line) -> None:
        nonlocal failed
        failed = failed or line.status == Status.FAIL
        write(SECRETS.redact(f"{line.status.value:<4}  {line.text}"))
        if line.advice:
            write(SECRETS.redact(f"      -> {line.advice}"))

    report(_versions())
    if settings.engine.kind == EngineKind.LLAMA_CPP:
        for line in _backend(settings):
            report(line)
        model_line = _model(settings)
        report(model_line)
        ready = model_line.status != Status.FAIL
    else:
        report(Line(Status.NOTE, f"engine: {settings.engine.kind} at "
                                 f"{display_url(settings.engine.url or '')}: no model is "
                                 "loaded here"))
        ready = True
    if ready:
        for line in _engine(settings):
            report(line)
    report(_cache(settings))
    report(_acceptance(settings))
    write("completions work" if not failed
          else "completions would not work: see the lines marked FAIL")
    return 1 if failed else 0


def _versions() -> Line:
    found, missing = [f"refact-lsp {__version__}"], []
    for package in PACKAGES:
        try:
            found.append(f"{package} {importlib.metadata.version(package)}")
        except importlib.metadata.PackageNotFoundError:
            missing.append(package)
    text = f"Python {platform.python_version()} ({sys.executable}); {', '.join(found)}"
    if missing:
        return Line(Status.FAIL, f"{text}; missing: {', '.join(missing)}",
                    "install refact-lsp again: pipx install --force refact-lsp")
    return Line(Status.OK, text)


def _backend(settings: Settings) -> list[Line]:
    """The llama.cpp build (CPU features, GPU backend) and whether layers go to a GPU."""
    try:
        import llama_cpp

        from refact_lsp.build_info import build_info

        info = build_info().splitlines()
    except (ImportError, OSError) as exc:
        return [Line(Status.FAIL, f"llama.cpp: cannot load llama-cpp-python ({exc})",
                     f"install a prebuilt llama-cpp-python wheel ({INSTALL_DOCS})")]
    lines = [Line(Status.OK, "llama.cpp: " + "; ".join(info)), *_cpu_extensions(info)]
    if not llama_cpp.llama_supports_gpu_offload():
        lines.append(Line(Status.NOTE, "layers run on the CPU: this llama-cpp-python has no "
                                       "GPU backend",
                          f"for a GPU, install its CUDA or Metal build ({INSTALL_DOCS})"
                          if settings.n_gpu_layers != 0 else ""))
    elif settings.n_gpu_layers == 0:
        lines.append(Line(Status.NOTE, "layers run on the CPU: nGpuLayers is 0"))
    else:
        layers = "all" if settings.n_gpu_layers < 0 else str(settings.n_gpu_layers)
        lines.append(Line(Status.OK, f"GPU offload: {layers} layers go to the GPU"))
    return lines


def _cpu_extensions(info: list[str]) -> list[Line]:
    """A note where the CPU has vector extensions (AVX-512, AVX-VNNI) the build leaves
    unused: a generic build is slower on such a CPU than it needs to be."""
    from refact_lsp.build_info import cpu_features

    unused = unused_extensions(cpu_flags(), cpu_features("\n".join(info)))
    if not unused:
        return []
    return [Line(Status.NOTE, f"the CPU has {', '.join(unused)}, which this llama.cpp build "
                              "does not use", 'a faster build: CMAKE_ARGS="$(python -m '
                 'refact_lsp.cpu_build)" pip install --no-cache-dir --force-reinstall '
                 'llama-cpp-python')]


def _model(settings: Settings) -> Line:
    """The model file: present, its size, its checksum; nothing is downloaded."""
    name = settings.model
    entry = models.CATALOG.get(name.lower())
    if entry is None:
        path = Path(name).expanduser()
        try:
            models.check_gguf(path)
        except models.ModelError as exc:
            return Line(Status.FAIL, f"model: {exc}",
                        "give a GGUF file or a catalog name (`refact-lsp models` lists "
                        "them) with --model, REFACT_LSP_MODEL or the model setting")
        return Line(Status.OK, f"model: {path} ({models.size_text(path.stat().st_size)}, sha256 "
                               f"{models.sha256_of(path)[:16]}...)")
    found = models.verify(name, settings.cache_dir)
    if found is None:
        return Line(Status.FAIL, f"model {name}: not downloaded yet (about "
                                 f"{models.size_text(entry.download_mb * 10**6)} from "
                                 f"{entry.source.repo_id})",
                    f"download it: refact-lsp models download {name}")
    if not found.verified:
        return Line(Status.FAIL, f"model {name}: {found.path} does not match its checksum",
                    f"download it again: refact-lsp models remove {name}, then "
                    f"refact-lsp models download {name}")
    pinned = "the catalog's" if entry.pinned_in_code else "its first download's"
    return Line(Status.OK, f"model {name}: {found.path} ({models.size_text(found.size)}, sha256 "
                           f"checked against {pinned})")


def _engine(settings: Settings) -> list[Line]:
    """Load the model (or connect to the engine) and generate a few tokens."""
    try:
        engine = create_engine(settings)
    except (models.ModelError, EngineError) as exc:
        return [Line(Status.FAIL, f"engine: {exc}")]
    try:
        loaded = (f"loaded {engine.description}" if settings.engine.kind == EngineKind.LLAMA_CPP
                  else f"reachable, {'key accepted' if settings.engine.api_key else 'no key'}:"
                       f" {engine.description}")
        return [Line(Status.OK, loaded), _test_generation(engine, settings)]
    finally:
        engine.close()


def _test_generation(engine: Engine, settings: Settings) -> Line:
    prompt = render(engine.template, settings.fim_order, TEST_PREFIX, TEST_SUFFIX,
                    path="doctor.py")
    try:
        generation = engine.generate(GenerationRequest(
            prompt=prompt, max_tokens=TEST_TOKENS, should_stop=lambda text: False,
            key="refact-lsp-doctor"))
    except EngineError as exc:
        return Line(Status.FAIL, f"test generation: {exc}")
    if generation.stopped_by in (StopReason.CONTEXT, StopReason.DEADLINE,
                                 StopReason.CANCELLED):
        return Line(Status.FAIL, f"test generation stopped: {generation.stopped_by}")
    tokens, seconds = generation.generated_tokens, generation.generate_ms / 1000
    speed = tokens / seconds if seconds > 0 else 0.0
    text = (f"test generation: {tokens} tokens in {generation.generate_ms:.0f} ms "
            f"({speed:.1f} tokens/s), after a {generation.prompt_tokens}-token prompt in "
            f"{generation.prompt_ms:.0f} ms")
    if tokens and speed < SLOW_TOKENS_PER_S:
        return Line(Status.NOTE, f"{text}: slow, suggestions will take seconds",
                    "a quieter CPU (other programs take it now?), more threads "
                    f"(--n-threads), a smaller model or a GPU build ({INSTALL_DOCS})")
    return Line(Status.OK, text)


def _cache(settings: Settings) -> Line:
    directory = models.cache_dir(settings.cache_dir)
    found = models.downloaded(settings.cache_dir)
    count = f"{len(found)} model" + ("" if len(found) == 1 else "s")
    text = f"cache dir: {directory} ({count}, " \
           f"{models.size_text(sum(item.size for item in found))})"
    existing = next(path for path in (directory, *directory.parents) if path.exists())
    if not os.access(existing, os.W_OK):
        return Line(Status.NOTE, f"{text}: not writable, so no download or acceptance "
                                 "totals can be kept there", "set --cache-dir or cacheDir")
    return Line(Status.OK, text)


def _acceptance(settings: Settings) -> Line:
    path = models.cache_dir(settings.cache_dir) / TOTALS_FILE
    totals = read_totals(path)
    counts = totals.total
    if not counts.shown:
        return Line(Status.NOTE, f"acceptance: nothing counted yet (kept in {path})")
    languages = sorted(totals.by_language.items(), key=lambda item: -item[1].shown)[:5]
    each = ", ".join(f"{language} {language_counts.accepted}/{language_counts.shown}"
                     for language, language_counts in languages)
    return Line(Status.NOTE, f"acceptance on this machine: {counts.shown} shown, "
                             f"{counts.accepted} accepted ({counts.accepted / counts.shown:.0%})"
                             f", {counts.partially_accepted} partly, {counts.accepted_chars} "
                             f"characters accepted; {each} (in {path})")
