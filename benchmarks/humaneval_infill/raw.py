"""The reference: the raw model through llama.cpp, with a hand-built PSM prompt and its
output cut by a rule that knows the task (first line, the reference's line count, or for
a random span the span's length in characters: an oracle's cut)."""

from __future__ import annotations

import time

from benchmarks.humaneval_infill.tasks import MULTI, RANDOM_SPAN, SINGLE, Task
from refact_lsp.engines.base import Engine, GenerationRequest
from refact_lsp.prompts import FimOrder, render

MAX_TOKENS = {SINGLE: 48, MULTI: 128, RANDOM_SPAN: 128}


class RawModel:
    """An engine (llama.cpp in process, or llama-server) without any of the server's
    context, stop or trim rules.

    With `stop_at_cut` generation ends where the cut falls (the same text, fewer tokens):
    for runs that compare pass@1 only, such as the full sets on a shared GPU server.
    """

    def __init__(self, engine: Engine, stop_at_cut: bool = False) -> None:
        self.engine = engine
        self.stop_at_cut = stop_at_cut

    def complete(self, task: Task) -> tuple[str, float, int]:
        """The filled document, the seconds generation took and the tokens generated
        (greedy, no stop rule but the model's end of text and MAX_TOKENS)."""
        prompt = render(self.engine.template, FimOrder.PSM, task.prefix, task.suffix)
        keep = 1 if task.kind == SINGLE else task.middle_lines
        started = time.perf_counter()
        generation = self.engine.generate(GenerationRequest(
            prompt=prompt, max_tokens=MAX_TOKENS[task.kind],
            should_stop=lambda text: self.stop_at_cut and cut(task, text, keep) != text))
        seconds = time.perf_counter() - started
        middle = cut(task, generation.text, keep)
        return task.prefix + middle + task.suffix, seconds, generation.generated_tokens

    def close(self) -> None:
        self.engine.close()


def cut(task: Task, text: str, keep: int) -> str:
    """The raw output cut where the task says: a random span at its own length, a line
    task after `keep` lines."""
    if task.kind == RANDOM_SPAN:
        return text[:len(task.middle)]
    return "\n".join(text.split("\n")[:keep])
