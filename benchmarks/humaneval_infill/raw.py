"""The reference: the raw model through llama.cpp, with a hand-built PSM prompt and its
output cut by a rule that knows the task (first line, or the reference's line count)."""

from __future__ import annotations

import time

from benchmarks.humaneval_infill.tasks import MULTI, SINGLE, Task
from refact_lsp.engines.base import GenerationRequest
from refact_lsp.engines.llama_cpp import LlamaCppEngine
from refact_lsp.models import resolve
from refact_lsp.prompts import PSM, render

MAX_TOKENS = {SINGLE: 48, MULTI: 128}


class RawModel:
    """Our llama.cpp engine without any of the server's context, stop or trim rules."""

    def __init__(self, model: str, n_threads: int | None = None) -> None:
        self.engine = LlamaCppEngine(resolve(model), n_ctx=4096, n_threads=n_threads)

    def complete(self, task: Task) -> tuple[str, float, int]:
        """The filled document, the seconds generation took and the tokens generated
        (greedy, no stop rule but the model's end of text and MAX_TOKENS)."""
        prompt = render(self.engine.template, PSM, task.prefix, task.suffix)
        started = time.perf_counter()
        generation = self.engine.generate(GenerationRequest(
            prompt=prompt, max_tokens=MAX_TOKENS[task.kind], should_stop=lambda _: False))
        seconds = time.perf_counter() - started
        keep = 1 if task.kind == SINGLE else task.middle_lines
        middle = "\n".join(generation.text.split("\n")[:keep])
        return task.prefix + middle + task.suffix, seconds, generation.generated_tokens

    def close(self) -> None:
        self.engine.close()
