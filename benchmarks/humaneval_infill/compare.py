"""python -m benchmarks.humaneval_infill.compare --server LOG... --reference LOG...

The server against the raw model on the tasks that both sets of `--log` files (plain or
`.gz`) have:
pass@1 by the hole's size, and the tasks that one passes and the other fails, by what
the server wrote. The two sides may come from different runs: the server's rows from a
full run, the reference's from a run of the raw model alone (`--systems raw`), which
answers a task the same whatever ran before it.
"""

from __future__ import annotations

import argparse
import collections
import json
from collections.abc import Iterable
from pathlib import Path

from benchmarks.humaneval_infill.__main__ import RAW_NAMES, SERVER, log_lines

SIZES = ((1, 1, "1"), (2, 3, "2-3"), (4, 6, "4-6"), (7, 10_000, "7+"))


def rows(paths: Iterable[Path], systems: Iterable[str]) -> dict[str, dict]:
    """task id -> its row, from the log lines of these systems (a later line wins)."""
    names = set(systems)
    found = {}
    for line in log_lines(paths):
        entry = json.loads(line)
        if entry["system"] in names:
            found[entry["task"]] = entry
    return found


def hole_lines(task_id: str) -> int:
    """Lines of the hole, from the id: "HumanEval/0/single/L7" or ".../multi/L7-9"."""
    first, _, last = task_id.rsplit("/L", 1)[1].partition("-")
    return int(last or first) - int(first) + 1


def kind_of_answer(middle: str, hole: int) -> str:
    """What the server wrote, against the hole's size."""
    lines = len(middle.rstrip("\n").split("\n")) if middle.strip() else 0
    if lines == 0:
        return "empty"
    return "fewer lines" if lines < hole else "as many lines" if lines == hole \
        else "more lines"


def report(server: dict[str, dict], reference: dict[str, dict]) -> str:
    """The comparison on the tasks both sides answered, as printed."""
    common = [task for task in server if task in reference]
    out = [f"{len(common)} tasks of {len({task.split('/')[1] for task in common})} "
           f"problems in both",
           f"{'hole lines':<10} {'tasks':>6} {'server':>8} {'reference':>10}"]
    for low, high, name in (*SIZES, (1, 10_000, "all")):
        group = [task for task in common if low <= hole_lines(task) <= high]
        if group:
            out.append(f"{name:<10} {len(group):>6} {_pass_rate(server, group):>7.1f}% "
                       f"{_pass_rate(reference, group):>9.1f}%")
    for name, server_passed in (("server wins", True), ("server losses", False)):
        group = [task for task in common if server[task]["passed"] == server_passed
                 and reference[task]["passed"] != server_passed]
        kinds = collections.Counter(kind_of_answer(server[task]["middle"], hole_lines(task))
                                    for task in group)
        problems = collections.Counter(task.split("/")[1] for task in group).most_common(3)
        out.append(f"{name}: {len(group)}; the server's answer: "
                   + ", ".join(f"{kind} {count}" for kind, count in kinds.most_common())
                   + "; most in HumanEval/" + ", /".join(f"{p} ({n})" for p, n in problems))
    return "\n".join(out)


def _pass_rate(side: dict[str, dict], tasks: list[str]) -> float:
    return 100 * sum(side[task]["passed"] for task in tasks) / len(tasks)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.humaneval_infill.compare",
                                     description=__doc__.split("\n\n")[1])
    parser.add_argument("--server", nargs="+", required=True, type=Path, metavar="LOG")
    parser.add_argument("--reference", nargs="+", required=True, type=Path, metavar="LOG")
    args = parser.parse_args()
    print(report(rows(args.server, [SERVER]), rows(args.reference, RAW_NAMES.values())))


if __name__ == "__main__":
    main()
