"""Record the model's greedy token streams once, then score stop rules in seconds.

    python -m benchmarks.humaneval_infill.replay record --limit 100 --seed 1 --out s1.json
    python -m benchmarks.humaneval_infill.replay score s1.json

`record` builds each task's prompts as the server does (`Completer.prepare`: the healed
prompt, and the one with the cursor's indentation for the retry) and generates from
each, greedy, without any stop rule, up to 64 tokens (single-line) or 128 (multi-line),
keeping the text after every token. `score` replays `stops.py` as it is now over those
streams exactly as `Completer.run` would (stop in the loop, trim, retry unhealed where
nothing fits), runs the tests, and prints pass@1 and generated tokens. Greedy decoding
makes a stopped generation a prefix of the recorded one, so the replay is exact, except
for the time budget, which is simulated at --ms-per-token.
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
from typing import Any

from benchmarks.humaneval_infill import execute, tasks
from benchmarks.humaneval_infill.tasks import MULTI, SINGLE, Task
from refact_lsp import stops
from refact_lsp.languages import load

CAP = {SINGLE: 64, MULTI: 128}  # the server's max_tokens is 128; single lines end sooner


def record(args: argparse.Namespace) -> None:
    from refact_lsp.completion import Completer, Job
    from refact_lsp.config import Settings
    from refact_lsp.documents import Document, Position
    from refact_lsp.engines import create_engine
    from refact_lsp.engines.base import GenerationRequest

    settings = Settings(model=args.model, n_threads=args.threads, cache=False)
    engine = create_engine(settings)
    completer = Completer(engine, settings)

    def stream(prompt: Any, cap: int) -> dict[str, Any]:
        texts: list[str] = []

        def keep(text: str) -> bool:
            texts.append(text)
            return False

        generation = engine.generate(GenerationRequest(
            prompt=prompt, max_tokens=cap, should_stop=keep, cancel=threading.Event()))
        return {"texts": texts, "ended": generation.stopped_by == "eos",
                "ms_per_token": generation.generate_ms / max(1, len(texts))}

    records = []
    for kind in _kinds(args.mode):
        for task in tasks.sample(tasks.build(kind), args.limit, args.seed):
            document = Document("file:///task.py", task.document, 1, "python")
            job = completer.prepare(document, Position(task.line, task.character))
            entry: dict[str, Any] = {"task": task.task_id, "kind": kind}
            if isinstance(job, Job):
                plan = job.plan
                entry.update(before=plan.before, after=plan.after, situation=plan.situation,
                             healed=stream(job.prompt, CAP[kind]))
                if job.unhealed_prompt is not None:
                    entry["unhealed"] = stream(job.unhealed_prompt, CAP[kind])
            records.append(entry)
            print(f"\r{kind} {len(records)}", end="", flush=True)
    print()
    with open(args.out, "w") as out:
        json.dump(records, out)


def replay(plan: stops.Plan, recorded: dict[str, Any],
           ms_per_token: float) -> tuple[stops.Suggestion | None, int]:
    """What the server would have shown, and the tokens it would have generated."""
    now = [0.0]
    stopper = stops.Stopper(plan, clock=lambda: now[0])
    texts = recorded["texts"]
    for count, text in enumerate(texts, start=1):
        now[0] += ms_per_token / 1000
        if stopper(text):
            return stops.finish(plan, text, ended=False), count
    return stops.finish(plan, texts[-1] if texts else "", ended=recorded["ended"]), len(texts)


def score(args: argparse.Namespace) -> None:
    with open(args.recording) as file:
        records = json.load(file)
    by_id = {task.task_id: task for kind in (SINGLE, MULTI) for task in tasks.build(kind)}
    language = load("python")
    results: dict[str, list[tuple[bool, int]]] = {}
    for entry in records:
        task: Task = by_id[entry["task"]]
        text, count = "", 0
        if "healed" in entry:
            plan = stops.decide(entry["before"], entry["after"], entry["situation"],
                                max_lines=args.max_lines, time_budget_ms=args.time_budget_ms,
                                language=language.ts_language if language else None)
            suggestion, count = replay(plan, entry["healed"], args.ms_per_token)
            if suggestion is None and "unhealed" in entry:
                suggestion, more = replay(stops.unhealed(plan), entry["unhealed"],
                                          args.ms_per_token)
                count += more
            text = suggestion.text if suggestion else ""
        passed = execute.passes(tasks.program(task, task.prefix + text + task.suffix))
        results.setdefault(entry["kind"], []).append((passed, count))
        if args.verbose:
            print(f"{'PASS' if passed else 'FAIL'} {task.task_id}: {text!r}")
    for kind, rows in results.items():
        rate = 100 * sum(passed for passed, _ in rows) / len(rows)
        tokens = statistics.median(count for _, count in rows)
        print(f"{kind:<7} {len(rows):>5} tasks  pass@1 {rate:5.1f}%  "
              f"median tokens {tokens:.0f}")


def _kinds(mode: str) -> list[str]:
    return [SINGLE, MULTI] if mode == "both" else [mode]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.humaneval_infill.replay")
    commands = parser.add_subparsers(dest="command", required=True)
    rec = commands.add_parser("record", help="record greedy token streams")
    rec.add_argument("--mode", choices=("single", "multi", "both"), default="both")
    rec.add_argument("--limit", type=int)
    rec.add_argument("--seed", type=int, default=0)
    rec.add_argument("--model", default="qwen2.5-coder-0.5b")
    rec.add_argument("--threads", type=int)
    rec.add_argument("--out", required=True)
    sco = commands.add_parser("score", help="replay the stop rules over a recording")
    sco.add_argument("recording")
    sco.add_argument("--ms-per-token", type=float, default=18.0,
                     help="simulated decode speed, for the time budget")
    sco.add_argument("--time-budget-ms", type=int, default=1000)
    sco.add_argument("--max-lines", type=int, default=8)
    sco.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    if args.command == "record":
        record(args)
    else:
        score(args)


if __name__ == "__main__":
    main()
