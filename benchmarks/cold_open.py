"""python -m benchmarks.cold_open [--limit N] [--seed S] [--settings JSON]

Cold open on real code: a file of a real project is opened with one line emptied to its
indentation and the suggestion is asked for at once, as when a person opens a file and
starts on a line. The lines are any line of code (not blank, not only a comment or a
string) of the non-test files of pinned releases from after the test model's training
data (crossfile/projects.py), drawn with a seed. Each line is asked in turn of:

- the server (the shipped settings, or with `--settings`), one process for all lines: the
  model is loaded once and no file of the project was seen before, so every open is cold;
  the (automatic) request goes out right after didOpen;
- the raw model: llama.cpp, greedy, on a PSM prompt of the 3,000 characters before the
  cursor and the 1,000 after it, its first line (no stop or trim rule of the server; its
  wait is the prompt and the generation).

Printed per language and for all: exact match and edit similarity of the line, the
share of lines with a suggestion, the median and p95 wait.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TextIO

from lsprotocol import types

from benchmarks.crossfile import projects
from benchmarks.crossfile.run import edit_similarity
from benchmarks.crossfile.sample import MAX_LINE, choose, code_names, source_files
from benchmarks.humaneval_infill.client import accept
from benchmarks.replay import Editor, percentile, shown_evidence
from refact_lsp.engines.base import GenerationRequest
from refact_lsp.models import resolve
from refact_lsp.prompts import FimOrder, render

MODEL = "qwen2.5-coder-0.5b"
RAW_BEFORE, RAW_AFTER = 3000, 1000  # characters around the cursor the raw model sees
RAW_MAX_TOKENS = 48
QUIET_S = 1.0  # after the raw model, before the server is asked again
SERVER, RAW = "server", "raw model 3,000/1,000"
HEADER = f"{'system':<24}{'lines':>6}{'exact':>8}{'edit sim':>10}{'shown':>8}" \
         f"{'median s':>10}{'p95 s':>8}"


@dataclass(frozen=True)
class Line:
    """One line to complete: line `line` (0-based) of `path`, emptied to `indent`."""

    language: str
    project: str
    path: str  # relative to the project's source folder
    line: int
    indent: str
    target: str  # the line without its indentation

    def document(self, text: str) -> str:
        lines = text.split("\n")
        lines[self.line] = self.indent
        return "\n".join(lines)


@dataclass(frozen=True)
class Outcome:
    system: str
    sample: Line
    suggested: str  # the line once the first suggestion is accepted, stripped
    seconds: float
    shown: bool
    # what the model said of the suggestion shown (confidence.py), for the gate's
    # calibration (confidence_fit.py); None for the raw model and answers from the cache
    evidence: dict[str, Any] | None = None

    @property
    def exact(self) -> bool:
        return self.suggested == self.sample.target

    @property
    def similarity(self) -> float:
        return edit_similarity(self.suggested, self.sample.target)


def code_lines(root: Path, project: projects.Project) -> list[Line]:
    """Every line of code of the project's source files: one with a name outside
    comments and strings, at most MAX_LINE characters."""
    found = []
    for path in source_files(root, project.language):
        text = path.read_text(encoding="utf-8", errors="replace").replace("\r\n", "\n")
        lines = text.split("\n")
        for number, names in sorted(code_names(text, project.language).items()):
            original = lines[number] if number < len(lines) else ""
            if names and original.strip() and len(original) <= MAX_LINE:
                found.append(Line(project.language, project.name,
                                  path.relative_to(root).as_posix(), number,
                                  original[:len(original) - len(original.lstrip())],
                                  original.strip()))
    return found


class RawModel:
    """The model alone on a fixed window: the reference a cold open should reach."""

    def __init__(self, model: str, threads: int | None) -> None:
        from refact_lsp.engines.llama_cpp import LlamaCppEngine  # needs llama-cpp-python

        self.engine = LlamaCppEngine(resolve(model), n_ctx=4096, n_threads=threads,
                                     kv_reuse=False)

    def complete(self, sample: Line, text: str) -> Outcome:
        document = sample.document(text)
        offset = sum(len(line) + 1 for line in document.split("\n")[:sample.line]) \
            + len(sample.indent)
        prompt = render(self.engine.template, FimOrder.PSM,
                        document[max(0, offset - RAW_BEFORE):offset],
                        document[offset:offset + RAW_AFTER])
        started = time.perf_counter()
        generation = self.engine.generate(GenerationRequest(
            prompt=prompt, max_tokens=RAW_MAX_TOKENS, should_stop=lambda out: "\n" in out))
        seconds = time.perf_counter() - started
        line = generation.text.split("\n")[0].strip()
        return Outcome(RAW, sample, line, seconds, bool(line))

    def close(self) -> None:
        self.engine.close()


async def ask_server(editor: Editor, sample: Line, text: str) -> Outcome:
    """Open the file with the line emptied and ask at once; close it after."""
    document = sample.document(text)
    uri = f"file:///cold-open/{sample.project}/{sample.path}"
    editor.open(uri, document, sample.language)
    cursor = types.Position(sample.line, len(sample.indent))
    before = await editor.stats()
    started = time.perf_counter()
    result = await editor.ask(uri, cursor)
    seconds = time.perf_counter() - started
    after = await editor.stats()
    editor.close(uri)
    shown = bool(result and result.items)
    if shown:
        document = accept(document, result.items[0], cursor)
    return Outcome(SERVER, sample, document.split("\n")[sample.line].strip(), seconds, shown,
                   shown_evidence(before, after) if shown else None)


def rows(outcomes: list[Outcome]) -> list[str]:
    table = [HEADER]
    for system in dict.fromkeys(outcome.system for outcome in outcomes):
        mine = [outcome for outcome in outcomes if outcome.system == system]
        waits = [outcome.seconds for outcome in mine]
        table.append(
            f"{system:<24}{len(mine):>6}{100 * sum(o.exact for o in mine) / len(mine):>7.1f}%"
            f"{statistics.fmean(o.similarity for o in mine):>10.1f}"
            f"{100 * sum(o.shown for o in mine) / len(mine):>7.0f}%"
            f"{statistics.median(waits):>10.2f}{percentile(waits, 0.95):>8.2f}")
    return table


async def run(samples: list[tuple[Line, str]], args: argparse.Namespace,
              log: TextIO | None) -> list[Outcome]:
    """Each line of the server and the raw model in turn (a load weighs on both)."""
    editor = Editor(["--model", args.model], json.loads(args.settings), name="cold-open")
    raw = RawModel(args.model, args.threads) if not args.server_only else None
    await editor.start()
    outcomes = []
    try:
        await ask_server(editor, *samples[0])  # loads the model: not counted
        for number, (sample, text) in enumerate(samples, 1):
            answers = [await ask_server(editor, sample, text)]
            if raw:
                answers.append(raw.complete(sample, text))
                # the server leaves out cores other programs kept busy just before a
                # request (engines/cores.py): the raw model's are not a busy machine's
                await asyncio.sleep(QUIET_S)
            for outcome in answers:
                outcomes.append(outcome)
                if log:
                    log.write(json.dumps({**asdict(outcome), "exact": outcome.exact}) + "\n")
                    log.flush()
                if args.verbose:
                    print(f"{outcome.system:<24}{outcome.seconds:6.2f} s "
                          f"{'=' if outcome.exact else ' '} {outcome.suggested!r}")
            if args.verbose:
                print(f"  {sample.project} {sample.path}:{sample.line + 1} "
                      f"{sample.target!r}", flush=True)
            else:
                print(f"\r{number}/{len(samples)}", end="", flush=True)
    finally:
        await editor.stop()
        if raw:
            raw.close()
    print("\r", end="")
    return outcomes


def chosen_lines(args: argparse.Namespace) -> list[tuple[Line, str]]:
    """The drawn lines of each project, with their file's text."""
    samples = []
    for project in projects.PROJECTS:
        if project.language not in args.languages:
            continue
        root = projects.unpacked(project)
        lines = code_lines(root, project)
        mine = choose(lines, args.limit, args.seed)
        print(f"{project.name} ({project.language}, released {project.released}): "
              f"{len(mine)} of {len(lines)} lines of code, in "
              f"{len({line.path for line in mine})} files")
        samples += [(line, (root / line.path).read_text(encoding="utf-8", errors="replace")
                     .replace("\r\n", "\n")) for line in mine]
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[1].split("\n")[0])
    parser.add_argument("--limit", type=int, default=20, help="lines per language")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", default=MODEL)
    parser.add_argument("--threads", type=int, help="CPU threads of the raw model")
    parser.add_argument("--languages", default="python,typescript",
                        type=lambda text: set(text.split(",")))
    parser.add_argument("--settings", default="{}", help="server settings, as JSON")
    parser.add_argument("--server-only", action="store_true", help="no raw model")
    parser.add_argument("--log", help="write one JSON line per line and system here")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    samples = chosen_lines(args)
    print(f"model {args.model}, server settings {args.settings}, seed {args.seed}")
    with open(args.log, "w") if args.log else contextlib.nullcontext() as log:
        outcomes = asyncio.run(run(samples, args, log))
    for language in sorted({sample.language for sample, _ in samples}):
        print(f"\n{language}\n" + "\n".join(
            rows([o for o in outcomes if o.sample.language == language])))
    print("\nall\n" + "\n".join(rows(outcomes)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
