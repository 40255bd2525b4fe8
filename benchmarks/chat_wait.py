"""How long a completion waits while a chat answer streams on the same model.

The embedded engine and the inference worker as the server runs them, in one process:
in each round a completion is asked alone (idle), then again while a chat answer
streams (asked once the answer has `--after` tokens). The two kinds alternate, so that
the load of a shared machine weighs on both alike. Printed: each kind's median and
worst wait, the chat's time per token (what a completion may wait for at most, besides
one run of drafted tokens), and whether the chat was still streaming when the
completion came back (it must be: the completion did not wait for the answer).

    .venv/bin/python -m benchmarks.chat_wait --rounds 5
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from typing import Any

from refact_lsp import models
from refact_lsp.chat import Message, Role
from refact_lsp.chat_service import ChatJob
from refact_lsp.completion import Worker
from refact_lsp.engines.base import GenerationRequest
from refact_lsp.engines.llama_cpp import LlamaCppEngine
from refact_lsp.prompts import render

PREFIX = ("import math\n\n\ndef circle_area(radius):\n    return math.pi * radius ** 2\n\n\n"
          "def square_area(side):\n    return ")
SUFFIX = "\n\n\nprint(circle_area(2), square_area(3))\n"
QUESTION = "Explain in detail how Python's dictionaries work, with examples."


class Completion:
    """A completion job: the same FIM prompt each time (the main KV cache holds it)."""

    warm_only = False

    def __init__(self, engine: LlamaCppEngine, max_tokens: int) -> None:
        self.cancel = threading.Event()
        self.request = GenerationRequest(render(engine.template, "auto", PREFIX, SUFFIX),
                                         max_tokens, lambda text: "\n" in text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="qwen2.5-coder-0.5b")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--after", type=int, default=8, help="chat tokens before asking")
    parser.add_argument("--chat-tokens", type=int, default=96)
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    engine = LlamaCppEngine(models.resolve(args.model), n_ctx=1024, n_threads=args.threads,
                            n_gpu_layers=0)
    worker = Worker(lambda job: engine.generate(job.request))
    idle: list[float] = []
    busy: list[float] = []
    per_token: list[float] = []
    streaming = 0
    try:
        worker.submit("doc", Completion(engine, args.max_tokens)).result()  # warm the cache
        for _ in range(args.rounds):
            idle.append(timed(worker, Completion(engine, args.max_tokens)))
            waited, still, chat_ms = while_chatting(worker, engine, args)
            busy.append(waited)
            streaming += still
            per_token.append(chat_ms)
    finally:
        worker.close()
        engine.close()
    print(f"model {args.model}, {args.threads} threads, {args.rounds} rounds, completion "
          f"of up to {args.max_tokens} tokens asked after {args.after} chat tokens")
    print(f"idle:          median {1000 * statistics.median(idle):7.0f} ms, "
          f"max {1000 * max(idle):7.0f} ms")
    print(f"while chatting: median {1000 * statistics.median(busy):7.0f} ms, "
          f"max {1000 * max(busy):7.0f} ms "
          f"(chat still streaming at the answer: {streaming}/{args.rounds})")
    print(f"chat: median {statistics.median(per_token):.0f} ms a token")
    return 0


def timed(worker: Worker, job: Completion) -> float:
    started = time.perf_counter()
    worker.submit("doc", job).result()
    return time.perf_counter() - started


def while_chatting(worker: Worker, engine: LlamaCppEngine, args: Any
                   ) -> tuple[float, bool, float]:
    """A completion asked once the chat answer has `args.after` tokens: its wait,
    whether the chat still streamed when it came back, and the chat's ms a token."""
    reports: list[float] = []
    job = ChatJob(engine, [Message(Role.USER, QUESTION)], args.chat_tokens,
                  lambda text: reports.append(time.perf_counter()))
    chat = worker.submit(f"chat:{time.monotonic()}", job)
    while len(reports) < args.after:
        time.sleep(0.005)
    waited = timed(worker, Completion(engine, args.max_tokens))
    still = not chat.done()
    job.cancel.set()
    chat.result()
    gaps = [b - a for a, b in zip(reports[1:args.after], reports[2:args.after], strict=False)]
    return waited, still, 1000 * statistics.median(gaps) if gaps else 0.0


if __name__ == "__main__":
    raise SystemExit(main())
