"""The two systems the benchmark asks: the real server over LSP (`refact/chat`), and the
same GGUF called directly with the same chat template, the reference.

The reference is llama-cpp-python's `create_chat_completion` where the GGUF carries a
chat template (llama-cpp-python renders it with Jinja2, as the server does), and the
engine's own chat (`LlamaCppEngine.chat`) for a Refact model (its card's format, which
llama-cpp-python does not know) or one without a template.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Protocol

from pygls.exceptions import JsonRpcException

from benchmarks import replay
from refact_lsp.chat import CHAT_TEMPLATE_KEY, Message, Role
from refact_lsp.engines.base import ChatRequest
from refact_lsp.engines.cores import physical_cores

CHAT_METHOD = "refact/chat"
N_CTX = 4096


class System(Protocol):
    name: str

    async def answer(self, question: str, max_tokens: int) -> tuple[str, float]:
        """The answer to one user message, greedy, and the seconds it took."""

    async def close(self) -> None:
        """Stop the process or free the model."""


class ServerChat:
    """The real server, as an editor asks it: one process, `refact/chat` over stdio."""

    name = "refact/chat over LSP"

    def __init__(self, model: str, settings: dict[str, Any]) -> None:
        self.session = replay.Editor(["--model", model], settings, name="humaneval-chat")
        self.failures: list[str] = []  # why the server refused a request

    async def start(self) -> None:
        await self.session.start()

    async def answer(self, question: str, max_tokens: int) -> tuple[str, float]:
        """A request the server refuses (a question too long for its chat context) is
        an empty answer: a failed task, as the reference's is."""
        started = time.perf_counter()
        try:
            result = await self.session.client.protocol.send_request_async(CHAT_METHOD, {
                "messages": [{"role": "user", "content": question}],
                "maxTokens": max_tokens})
        except JsonRpcException as exc:
            self.failures.append(str(exc))
            return "", time.perf_counter() - started
        seconds = time.perf_counter() - started
        return (result["text"] if isinstance(result, dict) else result.text), seconds

    async def close(self) -> None:
        await self.session.stop()


class LlamaCppPythonChat:
    """llama-cpp-python's chat completion on the GGUF, with the template it carries."""

    name = "llama-cpp-python chat completion"

    def __init__(self, llm: Any) -> None:
        self.llm = llm

    async def answer(self, question: str, max_tokens: int) -> tuple[str, float]:
        started = time.perf_counter()
        reply = self.llm.create_chat_completion(
            messages=[{"role": "user", "content": question}], max_tokens=max_tokens,
            temperature=0.0)
        return reply["choices"][0]["message"]["content"] or "", time.perf_counter() - started

    async def close(self) -> None:
        self.llm.close()


class EngineChat:
    """The engine's chat in this process, without the server (Refact's card format)."""

    name = "engine chat, in process"

    def __init__(self, engine: Any) -> None:
        self.engine = engine

    async def answer(self, question: str, max_tokens: int) -> tuple[str, float]:
        started = time.perf_counter()
        generation = self.engine.chat(ChatRequest([Message(Role.USER, question)], max_tokens))
        return generation.text, time.perf_counter() - started

    async def close(self) -> None:
        self.engine.close()


def reference(path: Path, threads: int | None, gpu_layers: int, seed: int,
              kind: str = "auto") -> System:
    """The direct reference on the GGUF at `path` (`kind`: auto, llama-cpp-python or
    engine; auto takes llama-cpp-python where the GGUF has a chat template and is not
    a Refact model)."""
    threads = threads or physical_cores()
    if kind in ("auto", "llama-cpp-python"):
        from llama_cpp import Llama

        llm = Llama(str(path), n_ctx=N_CTX, n_threads=threads, n_gpu_layers=gpu_layers,
                    seed=seed, verbose=False)
        # The server gives a Refact model its card's format whatever its GGUF carries.
        own = CHAT_TEMPLATE_KEY in llm.metadata \
            and llm.metadata.get("general.architecture") != "refact"
        if kind == "llama-cpp-python" or own:
            return LlamaCppPythonChat(llm)
        llm.close()
    from refact_lsp.engines.llama_cpp import LlamaCppEngine

    return EngineChat(LlamaCppEngine(path, n_ctx=N_CTX, n_threads=threads,
                                     n_gpu_layers=gpu_layers))
