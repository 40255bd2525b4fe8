"""How fast context extraction is, and how stable its prompts stay while a person types.

Speed: for files of 300, 3,000 and 30,000 lines (real standard-library Python, repeated),
a person types a short line at each of several places; every keystroke is an incremental
edit, a reparse and an extraction. The extraction alone is timed; p50 and p95 are printed,
with the first extraction at each place (when its lines are counted for the first time)
shown apart.

Stability: a function of a real ~1,000-line module is deleted and typed back one character
at a time. Each keystroke's prompt is laid out suffix-first and tokenized; the figure is
the share of its tokens that are a prefix of the previous prompt's tokens, which is what
the engine's KV cache keeps.

Token counts come from the model's own tokenizer (vocabulary only, no weights).
Run: .venv/bin/python -m benchmarks.context_speed [--model PATH]
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import llama_cpp

from benchmarks.replay import percentile
from refact_lsp import context
from refact_lsp.config import Settings
from refact_lsp.documents import Document
from refact_lsp.prompts import TEMPLATES, FimOrder, render

MODEL = Path("/root/.cache/refact-lsp/models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf")
STDLIB = Path("/root/.pyenv/versions/3.11.7/lib/python3.11")
SOURCES = ("argparse.py", "typing.py", "inspect.py", "tarfile.py")
REPLAY_FILE = "functools.py"
REPLAY_FUNCTION = "def lru_cache("
TYPED_LINE = "        result = compute(value, limit=10)\n"
PLACES = 8


class Tokenizer:
    def __init__(self, model: Path) -> None:
        self.llm = llama_cpp.Llama(model_path=str(model), vocab_only=True, verbose=False)

    def count(self, text: str) -> int:
        return len(self.tokenize(text, special=False))

    def tokenize(self, text: str, special: bool) -> list[int]:
        return self.llm.tokenize(text.encode("utf-8", "surrogatepass"), add_bos=False,
                                 special=special)


def source_lines(count: int) -> str:
    lines: list[str] = []
    while len(lines) < count:
        for name in SOURCES:
            lines += (STDLIB / name).read_text().splitlines(keepends=True)
    return "".join(lines[:count])


def type_text(document: Document, offset: int, text: str) -> Iterator[int]:
    """Types `text` at `offset`, one incremental edit per character; yields the cursor."""
    for char in text:
        position = document.position_at(offset)
        document.replace(position, position, char)
        offset += 1
        yield offset


def speed(lines: int, tokenizer: Tokenizer, budgets: tuple[int, int]) -> None:
    document = Document(f"file:///bench{lines}.py", source_lines(lines), 0, "python")
    document.tree()
    rng = random.Random(lines)
    warm, cold, reparse = [], [], []
    for _ in range(PLACES):
        starts = document.line_starts()
        offset = starts[rng.randrange(len(starts) // 10, len(starts) * 9 // 10)]
        for step, cursor in enumerate(type_text(document, offset, TYPED_LINE)):
            began = time.perf_counter()
            document.tree()
            parsed = time.perf_counter()
            context.build(document, cursor, tokenizer.count, *budgets)
            done = time.perf_counter()
            reparse.append(parsed - began)
            (cold if step == 0 else warm).append(done - parsed)
    print(f"{lines:>6} lines: extraction p50 {ms(statistics.median(warm))} "
          f"p95 {ms(percentile(warm, 0.95))} max {ms(max(warm))} | first at a place "
          f"p50 {ms(statistics.median(cold))} | reparse p50 {ms(statistics.median(reparse))}")


def stability(tokenizer: Tokenizer, budgets: tuple[int, int]) -> None:
    source = (STDLIB / REPLAY_FILE).read_text()
    start = source.index(REPLAY_FUNCTION)
    end = re.compile(r"^\S", re.MULTILINE).search(source, start + 1).start()
    body = source[start:end]
    document = Document(f"file:///{REPLAY_FILE}", source[:start] + source[end:], 0, "python")
    template = TEMPLATES["refact"]
    previous: list[int] = []
    shares = []
    for cursor in type_text(document, start, body):
        ctx = context.build(document, cursor, tokenizer.count, *budgets)
        prompt = render(template, FimOrder.SPM, ctx.prefix, ctx.suffix)
        tokens = [token for text, special in prompt.parts
                  for token in tokenizer.tokenize(text, special)]
        common = next((i for i, (a, b) in enumerate(zip(tokens, previous, strict=False))
                       if a != b), min(len(tokens), len(previous)))
        if previous:
            shares.append(common / len(tokens))
        previous = tokens
    print(f"stability: typing {len(body)} characters of {REPLAY_FUNCTION[4:-1]} into "
          f"{REPLAY_FILE} ({source.count(chr(10))} lines): mean KV-prefix share "
          f"{statistics.mean(shares):.1%}, prompts at 90% or more "
          f"{sum(s >= 0.9 for s in shares) / len(shares):.1%}, lowest {min(shares):.1%}")


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--model", type=Path, default=MODEL)
    args = parser.parse_args()
    tokenizer = Tokenizer(args.model)
    budgets = Settings().budgets()
    print(f"budgets: prefix {budgets[0]} tokens, suffix {budgets[1]} tokens")
    for lines in (300, 3_000, 30_000):
        speed(lines, tokenizer, budgets)
    stability(tokenizer, budgets)


if __name__ == "__main__":
    main()
