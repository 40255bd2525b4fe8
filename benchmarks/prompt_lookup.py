"""Prompt-lookup decoding in the embedded engine on HumanEval multi-line holes: the time
a generated token takes with and without drafts, how many drafts the model confirmed,
and whether the output stayed identical to plain greedy decoding.

    .venv/bin/python -m benchmarks.prompt_lookup --limit 40 --seed 0 [--threads 2]

Each hole's PSM prompt is generated greedily twice, up to 128 tokens or the model's end
of text (no stop rule: the same work for both), once with drafts and once without, in
alternating order so that a change in the machine's load falls on both alike. The
prompt is evaluated before the timed part (only generation is compared).
"""

from __future__ import annotations

import argparse
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.humaneval_infill.tasks import MULTI, build, sample
from refact_lsp.engines.base import Engine, Generation, GenerationRequest
from refact_lsp.engines.cores import physical_cores
from refact_lsp.prompts import FimOrder, Prompt, render

MAX_TOKENS = 128


@dataclass
class Side:
    """One way of decoding, summed over the holes."""

    tokens: int = 0
    generate_ms: float = 0.0
    drafted: int = 0
    accepted: int = 0
    per_token_ms: list[float] = field(default_factory=list)  # one per hole

    def add(self, generation: Generation) -> None:
        self.tokens += generation.generated_tokens
        self.generate_ms += generation.generate_ms
        self.drafted += generation.drafted_tokens
        self.accepted += generation.accepted_tokens
        if generation.generated_tokens:
            self.per_token_ms.append(generation.generate_ms / generation.generated_tokens)

    @property
    def ms_a_token(self) -> float:
        return self.generate_ms / max(1, self.tokens)


def _greedy(engine: Engine, prompt: Prompt, *, lookup: bool) -> Generation:
    return engine.generate(GenerationRequest(prompt=prompt, max_tokens=MAX_TOKENS,
                                             should_stop=lambda text: False, lookup=lookup))


def run(model: Path, threads: int, limit: int, seed: int) -> None:
    from refact_lsp.engines.llama_cpp import LlamaCppEngine  # before numpy (engine.py)

    engine = LlamaCppEngine(model, n_ctx=4096, n_threads=threads)
    plain, drafted = Side(), Side()
    identical = 0
    tasks = sample(build(MULTI), limit, seed)
    try:
        for number, task in enumerate(tasks):
            prompt = render(engine.template, FimOrder.PSM, task.prefix, task.suffix)
            _greedy(engine, prompt, lookup=False)  # the prompt cached: generation is timed
            order = (False, True) if number % 2 == 0 else (True, False)
            results = {lookup: _greedy(engine, prompt, lookup=lookup) for lookup in order}
            plain.add(results[False])
            drafted.add(results[True])
            identical += results[False].text == results[True].text
            print(f"{number + 1}/{len(tasks)}", end="\r", flush=True)
    finally:
        engine.close()
    print(f"model {model.name}, {threads} threads, {len(tasks)} HumanEval multi-line "
          f"holes (seed {seed}), greedy, up to {MAX_TOKENS} tokens")
    print(f"identical output: {identical} of {len(tasks)}")
    print(f"drafts accepted: {drafted.accepted} of {drafted.drafted} "
          f"({100 * drafted.accepted / max(1, drafted.drafted):.0f}%), "
          f"{drafted.accepted / max(1, drafted.tokens):.2f} a generated token")
    for name, side in (("without drafts", plain), ("with drafts", drafted)):
        print(f"{name:<15} {side.tokens:>6} tokens  {side.ms_a_token:6.1f} ms a token "
              f"(median of holes {statistics.median(side.per_token_ms or [0]):.1f})")
    print(f"speed-up a generated token: {plain.ms_a_token / max(1e-9, drafted.ms_a_token):.2f}x")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=None,
                        help="a GGUF file (default: the test model, qwen2.5-coder-0.5b)")
    parser.add_argument("--threads", type=int, default=physical_cores())
    parser.add_argument("--limit", type=int, default=40, help="holes (a seeded sample)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.model is None:
        from refact_lsp.models import resolve
        args.model = resolve("qwen2.5-coder-0.5b")
    run(args.model, args.threads, args.limit, args.seed)


if __name__ == "__main__":
    main()
