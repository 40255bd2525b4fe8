"""python -m benchmarks.humaneval_infill --limit 100 --seed 0 --mode single|multi|both|random-span

Drives the real server over LSP on HumanEval infilling tasks, runs each problem's tests
on the accepted suggestion, and prints pass@1 with median and p95 latency, next to the
raw model cut by a rule that knows the task.

The server and the raw model take turns task by task, so that both meet the same load
on a shared machine. `--jobs N` runs N such pairs at once on shares of the problems (for
a GPU or many cores: each pair's latencies then include the others' load). With
`--engine-url` both systems generate on one shared server (llama.cpp's llama-server,
through its OpenAI completions with the server's own prompts) that batches the jobs'
requests: the way to run the full sets on a GPU in minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import json
import os
import signal
import statistics
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from lsprotocol import types

from benchmarks.busy import busy
from benchmarks.humaneval_infill import execute, tasks
from benchmarks.humaneval_infill.client import Editor
from benchmarks.humaneval_infill.raw import RawModel
from benchmarks.humaneval_infill.tasks import MULTI, RANDOM_SPAN, SINGLE, Task
from benchmarks.replay import percentile
from refact_lsp.config import EngineSettings
from refact_lsp.engines.base import Engine
from refact_lsp.engines.http import OpenAIEngine
from refact_lsp.models import resolve

SERVER = "refact-lsp server over LSP"
RAW_NAMES = {SINGLE: "raw model, first line", MULTI: "raw model, oracle line count",
             RANDOM_SPAN: "raw model, oracle span length"}


@dataclass
class Score:
    system: str
    kind: str
    passed: list[bool] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)

    def add(self, passed: bool, seconds: float, tokens: int) -> None:
        self.passed.append(passed)
        self.seconds.append(seconds)
        self.tokens.append(tokens)

    def row(self) -> str:
        times = self.seconds or [0.0]
        p95 = percentile(times, 0.95)
        rate = 100 * sum(self.passed) / max(1, len(self.passed))
        tokens = statistics.median(self.tokens) if self.tokens else 0
        return (f"{self.system:<30} {self.kind:<7} {len(self.passed):>6} {rate:>7.1f}% "
                f"{statistics.median(times):>8.2f} {p95:>8.2f} {tokens:>8.0f}")

    @staticmethod
    def header() -> str:
        return (f"{'system':<30} {'mode':<7} {'tasks':>6} {'pass@1':>8} {'median s':>8} "
                f"{'p95 s':>8} {'tokens':>8}")


def _middle(task: Task, filled: str) -> str:
    """What a system put at the cursor: the filled file less the unchanged ends."""
    if not filled.startswith(task.prefix) or not filled.endswith(task.suffix):
        return filled
    return filled[len(task.prefix):len(filled) - len(task.suffix)]


Fill = Callable[[Task], Awaitable[tuple[str, float, int]]]  # (filled file, seconds, tokens)


async def run(samples: dict[str, list[Task]], args: argparse.Namespace, settings: dict,
              log: TextIO | None) -> list[Score]:
    """Each task through each system in turn; returns the scores per system and kind."""
    systems = args.systems.split(",")
    trigger = types.InlineCompletionTriggerKind[args.trigger.capitalize()]
    editor = Editor(args.model, settings, args.think_s, trigger) \
        if "server" in systems else None
    raw = RawModel(_raw_engine(args), args.raw_stops_at_cut) if "raw" in systems else None
    fills: list[tuple[dict[str, str], Fill]] = []  # (system name by kind, fill)
    if editor:
        await editor.start()
        fills.append(({kind: SERVER for kind in RAW_NAMES}, editor.complete))
    if raw:
        async def raw_fill(task: Task) -> tuple[str, float, int]:
            return raw.complete(task)
        fills.append((RAW_NAMES, raw_fill))
    scores = []
    try:
        for _, fill in fills:  # the first request loads the model: not counted
            await fill(next(iter(samples.values()))[0])
        for kind, sample in samples.items():
            kind_scores = [Score(names[kind], kind) for names, _ in fills]
            for number, task in enumerate(sample, start=1):
                for score, (_, fill) in zip(kind_scores, fills, strict=True):
                    filled, seconds, tokens = await fill(task)
                    passed = execute.passes(tasks.program(task, filled))
                    score.add(passed, seconds, tokens)
                    if log:  # as it goes, so that a run cut short still tells
                        entry = {"system": score.system, "task": task.task_id,
                                 "passed": passed, "seconds": round(seconds, 3),
                                 "tokens": tokens, "middle": _middle(task, filled)}
                        if editor and score.system == SERVER:
                            entry["evidence"] = editor.evidence  # for confidence_fit.py
                        log.write(json.dumps(entry) + "\n")
                        log.flush()
                print(f"\r{kind} {number}/{len(sample)}", end="", flush=True)
            print("\r", end="")
            scores += kind_scores
    finally:
        if editor:
            await editor.stop()
        if raw:
            raw.close()
    return scores


def _raw_engine(args: argparse.Namespace) -> Engine:
    """The raw model's engine: llama.cpp in process, or the shared server at --engine-url."""
    if args.engine_url:
        return OpenAIEngine(EngineSettings(kind="openai", url=args.engine_url), n_ctx=4096,
                            template=None)
    from refact_lsp.engines.llama_cpp import LlamaCppEngine  # needs llama-cpp-python

    # kv_reuse off: llama.cpp's own reuse of the exact common prefix, every prompt exact
    return LlamaCppEngine(resolve(args.model), n_ctx=4096, n_threads=args.threads,
                          kv_reuse=False)


def run_shards(args: argparse.Namespace) -> list[Score]:
    """This benchmark `args.jobs` times at once, each on its share of the problems,
    writing its lines to `args.log`.I as it goes; the scores are read back from those
    (a shard that failed or was stopped counts as far as it came)."""
    logs = [Path(f"{args.log}.{index}") for index in range(args.jobs)]
    argv = _without_options(sys.argv[1:], ("--jobs", "--log", "--busy"))
    shards = [subprocess.Popen([sys.executable, "-m", "benchmarks.humaneval_infill", *argv,
                                "--shard", f"{index}/{args.jobs}", "--log", str(log)],
                               stdout=subprocess.DEVNULL, start_new_session=True)
              for index, log in enumerate(logs)]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stopped: stop the shards too
    try:
        failed = [index for index, shard in enumerate(shards) if shard.wait() != 0]
    finally:
        for shard in shards:  # each shard with its server: a process group of its own
            with contextlib.suppress(ProcessLookupError):
                os.killpg(shard.pid, signal.SIGTERM)
    if failed:
        print(f"shards {failed} failed; they count as far as they came", file=sys.stderr)
    lines = [line for log in logs if log.exists() for line in log.read_text().splitlines()]
    Path(args.log).write_text("".join(line + "\n" for line in lines))
    for log in logs:
        log.unlink(missing_ok=True)
    return scores_from_log(lines)


def log_lines(paths: Iterable[str | Path]) -> list[str]:
    """The lines of `--log` files, as written or gzip-compressed (`.gz`: the logs kept in
    results/)."""
    lines = []
    for path in map(Path, paths):
        with (gzip.open if path.suffix == ".gz" else open)(path, "rt", encoding="utf-8") as log:
            lines += [line.rstrip("\n") for line in log if line.strip()]
    return lines


def scores_from_log(lines: list[str]) -> list[Score]:
    """Scores per kind and system from `--log` lines, in the order they first appear."""
    scores: dict[tuple[str, str], Score] = {}
    for line in lines:
        entry = json.loads(line)
        kind = entry["task"].split("/")[2]  # HumanEval/0/single/L12
        score = scores.setdefault((kind, entry["system"]), Score(entry["system"], kind))
        score.add(entry["passed"], entry["seconds"], entry["tokens"])
    order = [SINGLE, MULTI, RANDOM_SPAN]
    return sorted(scores.values(), key=lambda score: order.index(score.kind))


def _without_options(argv: list[str], names: tuple[str, ...]) -> list[str]:
    """`argv` less the options `names` and their values (`--x v` or `--x=v`)."""
    kept: list[str] = []
    skip = False
    for item in argv:
        if skip:
            skip = False
        elif item in names:
            skip = True
        elif not item.startswith(tuple(name + "=" for name in names)):
            kept.append(item)
    return kept


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.humaneval_infill",
                                     description=__doc__.split("\n\n")[1])
    parser.add_argument("--mode", choices=(SINGLE, MULTI, "both", RANDOM_SPAN),
                        default="both", help="both: single and multi")
    parser.add_argument("--limit", type=int, help="a random sample of this many tasks "
                                                  "per mode (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", default="qwen2.5-coder-0.5b")
    parser.add_argument("--threads", type=int,
                        help="CPU threads for both the server and the raw model")
    parser.add_argument("--think-s", type=float, default=3.0,
                        help="seconds the file is open before Enter opens the hole's line "
                             "(the server may warm its cache meanwhile); 0: open the file "
                             "with the hole and ask at once")
    parser.add_argument("--settings", default="{}",
                        help="more server settings, as JSON (initializationOptions)")
    parser.add_argument("--trigger", choices=("invoked", "automatic"), default="invoked",
                        help="how the server is asked: invoked (a key press where the "
                             "person put the cursor) or automatic (as while typing: nothing "
                             "inside a word or in the indentation of a line of code)")
    parser.add_argument("--systems", default="server,raw",
                        help="server, raw, or both (comma-separated)")
    parser.add_argument("--engine-url",
                        help="generate on this shared server (such as llama-server at "
                             "http://127.0.0.1:8080) instead of in process, both systems")
    parser.add_argument("--raw-stops-at-cut", action="store_true",
                        help="the raw model stops where its cut falls (the same text, less "
                             "time: its latency is then not the reference's)")
    parser.add_argument("--log", help="write one JSON line per task and system here")
    parser.add_argument("--busy", type=int, default=0, metavar="N",
                        help="keep N cores busy with a compute loop all along (a loaded "
                             "machine)")
    parser.add_argument("--jobs", type=int, default=1,
                        help="run this many server and raw model pairs at once, each on a "
                             "share of the problems (for a GPU or many cores; each one's "
                             "latencies then include the others' load)")
    parser.add_argument("--part", metavar="I/N",
                        help="only share I (0 to N-1) of the problems, dealt as --jobs "
                             "deals them: a full set split across runs, their logs joined "
                             "with --from-logs")
    parser.add_argument("--shard", help=argparse.SUPPRESS)  # I/N: the share of one job
    parser.add_argument("--from-logs", nargs="+", metavar="LOG",
                        help="run nothing: print the scores of earlier --log files "
                             "(plain or .gz)")
    args = parser.parse_args()
    if args.from_logs:
        scores = scores_from_log(log_lines(args.from_logs))
    elif args.jobs > 1:
        if not args.log:
            parser.error("--jobs needs --log: each job writes its lines beside it as it goes")
        with busy(args.busy):  # once for all the jobs, not in each of them
            scores = run_shards(args)
    else:
        kinds = [SINGLE, MULTI] if args.mode == "both" else [args.mode]
        samples = {kind: tasks.sample(tasks.build(kind), args.limit, args.seed)
                   for kind in kinds}
        for share in (args.part, args.shard):  # the run's share, then this job's of it
            if share:
                index, count = map(int, share.split("/"))
                samples = {kind: tasks.shard(sample, index, count, args.seed)
                           for kind, sample in samples.items()}
        settings = json.loads(args.settings)
        if args.threads:
            settings["nThreads"] = args.threads
        if args.engine_url:
            settings["engine"] = {"kind": "openai", "url": args.engine_url}
        with open(args.log, "w") if args.log else contextlib.nullcontext() as log, \
                busy(args.busy):
            scores = asyncio.run(run(samples, args, settings, log))
    print(Score.header())
    for score in scores:
        print(score.row())


if __name__ == "__main__":
    main()
