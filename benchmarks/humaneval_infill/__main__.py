"""python -m benchmarks.humaneval_infill --limit 100 --seed 0 --mode single|multi|both

Drives the real server over LSP on HumanEval infilling tasks, runs each problem's tests
on the accepted suggestion, and prints pass@1 with median and p95 latency, next to the
raw model cut by a rule that knows the task.

The server and the raw model take turns task by task, so that both meet the same load
on a shared machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from benchmarks.humaneval_infill import execute, tasks
from benchmarks.humaneval_infill.client import Editor
from benchmarks.humaneval_infill.raw import RawModel
from benchmarks.humaneval_infill.tasks import MULTI, SINGLE, Task

SERVER = "refact-lsp server over LSP"
RAW_NAMES = {SINGLE: "raw model, first line", MULTI: "raw model, oracle line count"}


@dataclass
class Score:
    system: str
    kind: str
    passed: list[bool] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)

    def add(self, passed: bool, seconds: float) -> None:
        self.passed.append(passed)
        self.seconds.append(seconds)

    def row(self) -> str:
        times = sorted(self.seconds) or [0.0]
        p95 = times[min(len(times) - 1, int(0.95 * len(times)))]
        rate = 100 * sum(self.passed) / max(1, len(self.passed))
        return (f"{self.system:<30} {self.kind:<7} {len(self.passed):>6} {rate:>7.1f}% "
                f"{statistics.median(times):>8.2f} {p95:>8.2f}")


def _middle(task: Task, filled: str) -> str:
    """What a system put at the cursor: the filled file less the unchanged ends."""
    if not filled.startswith(task.prefix) or not filled.endswith(task.suffix):
        return filled
    return filled[len(task.prefix):len(filled) - len(task.suffix)]


Fill = Callable[[Task], Awaitable[tuple[str, float]]]


async def run(samples: dict[str, list[Task]], model: str, settings: dict,
              systems: list[str], threads: int | None, log: list[dict]) -> list[Score]:
    """Each task through each system in turn; returns the scores per system and kind."""
    editor = Editor(model, settings) if "server" in systems else None
    raw = RawModel(model, threads) if "raw" in systems else None
    fills: list[tuple[dict[str, str], Fill]] = []  # (system name by kind, fill)
    if editor:
        await editor.start()
        fills.append(({SINGLE: SERVER, MULTI: SERVER}, editor.complete))
    if raw:
        async def raw_fill(task: Task) -> tuple[str, float]:
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
                    filled, seconds = await fill(task)
                    passed = execute.passes(tasks.program(task, filled))
                    score.add(passed, seconds)
                    log.append({"system": score.system, "task": task.task_id,
                                "passed": passed, "seconds": round(seconds, 3),
                                "middle": _middle(task, filled)})
                print(f"\r{kind} {number}/{len(sample)}", end="", flush=True)
            print("\r", end="")
            scores += kind_scores
    finally:
        if editor:
            await editor.stop()
        if raw:
            raw.close()
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.humaneval_infill",
                                     description=__doc__.split("\n\n")[1])
    parser.add_argument("--mode", choices=("single", "multi", "both"), default="both")
    parser.add_argument("--limit", type=int, help="a random sample of this many tasks "
                                                  "per mode (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", default="qwen2.5-coder-0.5b")
    parser.add_argument("--threads", type=int,
                        help="CPU threads for both the server and the raw model")
    parser.add_argument("--settings", default="{}",
                        help="more server settings, as JSON (initializationOptions)")
    parser.add_argument("--systems", default="server,raw",
                        help="server, raw, or both (comma-separated)")
    parser.add_argument("--log", help="write one JSON line per task and system here")
    args = parser.parse_args()
    kinds = [SINGLE, MULTI] if args.mode == "both" else [args.mode]
    samples = {kind: tasks.sample(tasks.build(kind), args.limit, args.seed) for kind in kinds}
    settings = json.loads(args.settings)
    if args.threads:
        settings["nThreads"] = args.threads
    log: list[dict] = []
    scores = asyncio.run(run(samples, args.model, settings, args.systems.split(","),
                             args.threads, log))
    print(f"{'system':<30} {'mode':<7} {'tasks':>6} {'pass@1':>8} {'median s':>8} "
          f"{'p95 s':>8}")
    for score in scores:
        print(score.row())
    if args.log:
        with open(args.log, "w") as out:
            out.writelines(json.dumps(entry) + "\n" for entry in log)


if __name__ == "__main__":
    main()
