"""The embedded engine's raw speed, as llama-bench measures it: prompt and generation
throughput for the llama.cpp build in use, and with `--compare` for two builds in one run;
with several `--threads` for each thread count (GEN or GEN/BATCH: generation and prompt
threads apart), and with `--busy N` while N other processes keep a core each busy.

    .venv/bin/python -m benchmarks.engine_speed [--model PATH] [--threads N] [--repeat 3]
    .venv/bin/python -m benchmarks.engine_speed --compare /other/venv/bin/python
    .venv/bin/python -m benchmarks.engine_speed --threads 1 2 1/2 --busy 1

Prompt throughput is 512 tokens evaluated at depth 0 and at depth 2,560 (ending at 3,072
tokens of context); generation throughput is one token at a time, 64 of them, at depth 0
and at depth 3,072. The tokens are real code (a standard-library module), evaluated with
the same batch size as the server (512). Each figure is the median of `--repeat` runs;
with `--compare` the two builds run in turns (A, B, A, B, ...) in separate processes, so
that a change in the machine's load falls on both alike.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.busy import busy
from refact_lsp.engines.cores import physical_cores

PROMPT_TOKENS = 512
DEEP = 2560
GENERATED = 64
MEASURES = ("pp512 @ 0", f"pp512 @ {DEEP}", "tg64 @ 0", f"tg64 @ {DEEP + PROMPT_TOKENS}")


def measure(model: Path, threads: int, threads_batch: int) -> dict[str, object]:
    """One run of each measure in this process: tokens per second, and the build."""
    import llama_cpp  # before numpy (engine.py says why)

    def empty_cache() -> None:
        llama_cpp.llama_memory_clear(llm._ctx.memory, True)  # noqa: SLF001
        llm.reset()

    from refact_lsp.build_info import build_info
    llm = llama_cpp.Llama(model_path=str(model), n_ctx=4096, n_batch=512, n_ubatch=512,
                          n_threads=threads, n_threads_batch=threads_batch, n_gpu_layers=0,
                          flash_attn=True, verbose=False)
    source = Path(argparse.__file__).read_text(encoding="utf-8")
    tokens = llm.tokenize(source.encode("utf-8"), add_bos=False, special=False)
    tokens = (tokens * (1 + (DEEP + PROMPT_TOKENS) // len(tokens)))[:DEEP + PROMPT_TOKENS]
    figures: dict[str, float] = {}
    for depth in (0, DEEP):
        empty_cache()
        if depth:
            llm.eval(tokens[:depth])
        started = time.perf_counter()
        llm.eval(tokens[depth:depth + PROMPT_TOKENS])
        figures[f"pp512 @ {depth}"] = PROMPT_TOKENS / (time.perf_counter() - started)
    for depth in (0, DEEP + PROMPT_TOKENS):
        empty_cache()
        if depth:
            llm.eval(tokens[:depth])
        started = time.perf_counter()
        for token in tokens[:GENERATED]:
            llm.eval([token])
        figures[f"tg64 @ {depth}"] = GENERATED / (time.perf_counter() - started)
    llm.close()
    return {"figures": figures, "build": build_info()}


def _run(python: str, model: Path, threads: str) -> dict[str, object]:
    """`measure` in a fresh process of `python` (its own llama-cpp-python build)."""
    root = Path(__file__).resolve().parent.parent
    output = subprocess.run(
        [python, "-m", "benchmarks.engine_speed", "--model", str(model), "--threads",
         threads, "--measure-once"], cwd=root, check=True, capture_output=True,
        text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def _threads(spec: str) -> tuple[int, int]:
    """GEN or GEN/BATCH: generation threads, and prompt (batch) threads."""
    generation, _, batch = spec.partition("/")
    return int(generation), int(batch or generation)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=None,
                        help="a GGUF file (default: the test model, qwen2.5-coder-0.5b)")
    parser.add_argument("--threads", nargs="+", default=[str(physical_cores())],
                        metavar="GEN[/BATCH]", help="threads for generation (and for "
                        "prompts, where different); several: each measured in turns")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--compare", metavar="PYTHON",
                        help="another interpreter whose llama-cpp-python build to measure")
    parser.add_argument("--busy", type=int, default=0, metavar="N",
                        help="keep N cores busy with a compute loop all along")
    parser.add_argument("--measure-once", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.model is None:
        from refact_lsp.models import resolve
        args.model = resolve("qwen2.5-coder-0.5b")
    if args.measure_once:
        print(json.dumps(measure(args.model, *_threads(args.threads[0]))))
        return
    builds = {"this build": sys.executable}
    if args.compare:
        builds["compared"] = args.compare
    columns = {(f"{name}, {spec} threads" if len(args.threads) > 1 else name): (python, spec)
               for name, python in builds.items() for spec in args.threads}
    runs: dict[str, list[dict[str, float]]] = {column: [] for column in columns}
    described: dict[str, str] = {}
    with busy(args.busy):
        for _ in range(args.repeat):
            for column, (python, spec) in columns.items():
                result = _run(python, args.model, spec)
                runs[column].append(result["figures"])  # type: ignore[arg-type]
                described[column] = str(result["build"])
    print(f"model {args.model.name}, threads {' '.join(args.threads)}, {args.busy} cores "
          f"kept busy, median of {args.repeat} runs, tokens per second")
    for name, python in builds.items():
        build = next(described[column] for column, (used, _) in columns.items()
                     if used == python)
        print(f"\n{name} ({python}):\n  " + build.replace("\n", "\n  "))
    width = max(14, *(len(column) + 2 for column in columns))
    print(f"\n{'measure':<16}" + "".join(f"{column:>{width}}" for column in columns)
          + ("       ratio" if len(columns) == 2 else ""))
    for key in MEASURES:
        medians = [statistics.median(run[key] for run in runs[column]) for column in columns]
        ratio = f"{medians[1] / medians[0]:>11.2f}x" if len(columns) == 2 else ""
        print(f"{key:<16}" + "".join(f"{value:>{width}.1f}" for value in medians) + ratio)


if __name__ == "__main__":
    main()
