"""python -m benchmarks.crossfile [--limit N] [--seed S] [--languages python,typescript]
                                  [--defaults] [--in-process] [--conditions in-file,workspace]

Cross-file line completion: lines of pinned real projects that first use a name their
file imports from another file of the project (sample.py), asked of the real server over
LSP in three conditions (run.py): A alone without a workspace folder (in-file), A alone
with the project as the workspace folder (the index must find B), and B opened before A
without a folder (the open-file context). The three take turns line by line, so that a
shared machine's load weighs on all alike. The whole window by default (jumpPromptMs 0:
the figures show the context, not the jump ladder); `--defaults` keeps the shipped
settings. Printed per condition: exact match and edit similarity of the first line, the
share of suggested lines that hold the imported name, the median latency; then the
ratios the issue's targets are stated in. Before that, in seconds and without the model,
how often retrieval puts B and B's definition of the name among the snippets
(snippets.py); `--snippets-only` prints only that. `--in-process` asks the server's own
completer in this process instead (inprocess.py): the same prompts without a server's
start and warm-up per ask, for comparing retrieval and layout changes on the model in
minutes; it also counts the asks whose prompt held B. `--conditions` picks some of the
three.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks.crossfile import projects
from benchmarks.crossfile.inprocess import InProcess
from benchmarks.crossfile.run import Condition, Outcome, ask
from benchmarks.crossfile.sample import Sample, candidates, choose
from benchmarks.crossfile.snippets import retrieved

MODEL = "qwen2.5-coder-0.5b"
WHOLE_WINDOW = {"jumpPromptMs": 0}
HEADER = (f"{'condition':<12}{'lines':>6}{'exact':>8}{'edit sim':>10}{'has name':>10}"
          f"{'median s':>10}{'B in prompt':>13}")


Ask = Callable[[Sample, Path, Condition], Awaitable[Outcome]]


def over_lsp(model: str, settings: dict[str, Any]) -> Ask:
    """Asks of a fresh server over LSP (run.py), as a person's editor asks."""
    return lambda sample, root, condition: ask(sample, root, condition, model, settings)


def in_process(completer: InProcess) -> Ask:
    """Asks of the server's completer in this process (inprocess.py)."""
    async def asked(sample: Sample, root: Path, condition: Condition) -> Outcome:
        return completer.ask(sample, root, condition)
    return asked


async def run_samples(samples: list[Sample], root: Path, asker: Ask,
                      conditions: Sequence[Condition] = tuple(Condition),
                      verbose: bool = False) -> list[Outcome]:
    """Each sample in each condition, in turns; `root` holds the project's copy."""
    outcomes = []
    for number, sample in enumerate(samples, 1):
        for condition in conditions:
            outcome = await asker(sample, root, condition)
            outcomes.append(outcome)
            if verbose:
                print(f"{number:>3} {condition:<10} {outcome.seconds:6.2f} s "
                      f"{'=' if outcome.exact else ' '} {outcome.line!r}", flush=True)
        if verbose:
            print(f"    {sample.path}:{sample.line + 1} uses {sample.name} "
                  f"({sample.source}): {sample.target!r}", flush=True)
    return outcomes


def table(outcomes: list[Outcome]) -> list[str]:
    """A row per condition, then the workspace's figures against the in-file ones."""
    rows, figures = [HEADER], {}
    for condition in Condition:
        mine = [o for o in outcomes if o.condition == condition]
        if not mine:
            continue
        figures[condition] = (100 * sum(o.exact for o in mine) / len(mine),
                              statistics.fmean(o.similarity for o in mine),
                              statistics.median(o.seconds for o in mine))
        exact, similarity, median = figures[condition]
        named = 100 * sum(o.named for o in mine) / len(mine)
        saw = [o.saw_source for o in mine if o.saw_source is not None]
        shown = f"{100 * sum(saw) / len(saw):>12.1f}%" if saw else f"{'-':>13}"
        rows.append(f"{condition:<12}{len(mine):>6}{exact:>7.1f}%{similarity:>10.1f}"
                    f"{named:>9.1f}%{median:>10.2f}{shown}")
    base = figures.get(Condition.IN_FILE)
    for condition in (Condition.WORKSPACE, Condition.OPEN_FILE):
        if base and condition in figures:
            exact, similarity, median = figures[condition]
            ratio = f"{exact / base[0]:.2f}" if base[0] else "-"
            rows.append(f"{condition} / in-file: exact match x{ratio}, edit similarity "
                        f"{similarity - base[1]:+.1f} points, median latency "
                        f"x{median / base[2]:.2f}")
    return rows


async def run_project(project: projects.Project, args: argparse.Namespace,
                      asker: Ask) -> list[Outcome]:
    """Draw the project's lines, say what retrieval finds for them, then ask the server
    (unless --snippets-only); its table is printed."""
    with tempfile.TemporaryDirectory(prefix="crossfile-") as scratch:
        root = projects.copy_workspace(project, Path(scratch) / "workspace")
        qualified = candidates(root, project.language)
        samples = choose(qualified, args.limit, args.seed)
        print(f"\n{project.name} ({project.language}, released {project.released}): "
              f"{len(samples)} lines of {len(qualified)} that qualify, "
              f"in {len({s.path for s in samples})} files", flush=True)
        found = retrieved(samples, root)
        print(f"retrieval without the model: B among the snippets for {found.source} "
              f"of {found.lines} lines, B's definition of the name for "
              f"{found.definition}", flush=True)
        if args.snippets_only:
            return []
        outcomes = await run_samples(samples, root, asker, args.conditions, args.verbose)
    indexed = [o.indexed or 0 for o in outcomes if o.condition == Condition.WORKSPACE]
    if indexed:
        print(f"files in the index when asked (workspace): {min(indexed)} to {max(indexed)}")
    print("\n".join(table(outcomes)), flush=True)
    return outcomes


async def main_async(args: argparse.Namespace) -> int:
    settings = {**({} if args.defaults else WHOLE_WINDOW), **json.loads(args.settings)}
    print(f"model {args.model}, settings {settings or 'the defaults'}, seed {args.seed}"
          f"{', in process' if args.in_process else ''}")
    completer = InProcess(args.model, settings) \
        if args.in_process and not args.snippets_only else None
    asker = in_process(completer) if completer else over_lsp(args.model, settings)
    everything: list[Outcome] = []
    try:
        for project in projects.PROJECTS:
            if project.language in args.languages:
                everything += await run_project(project, args, asker)
    finally:
        if completer:
            completer.close()
    if len({o.sample.language for o in everything}) > 1:
        print("\nall languages\n" + "\n".join(table(everything)))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[1].split("\n")[0])
    parser.add_argument("--limit", type=int, default=40, help="lines per language")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", default=MODEL)
    parser.add_argument("--languages", default="python,typescript",
                        type=lambda text: set(text.split(",")))
    parser.add_argument("--defaults", action="store_true",
                        help="the shipped settings (the jump ladder on), not the whole window")
    parser.add_argument("--settings", default="{}", help="more settings, as JSON")
    parser.add_argument("--conditions", default=",".join(Condition),
                        type=lambda text: [Condition(name) for name in text.split(",")],
                        help="which of in-file, workspace and 'B open' to ask in")
    parser.add_argument("--in-process", action="store_true",
                        help="ask the server's completer in this process, not over LSP: "
                             "minutes, not hours; its seconds are not the server's latency")
    parser.add_argument("--snippets-only", action="store_true",
                        help="only what retrieval finds for the lines, without the model")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="print each line's suggestion in each condition")
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
