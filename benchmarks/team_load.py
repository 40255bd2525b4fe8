"""Team load: 8 people typing, each with their own LSP server process, on one shared
engine on 127.0.0.1; compared with one person alone on the same engine.

Each person retypes function bodies of this repository's own modules, a character at a
time at typing speed with a pause after each line, and asks for an inline completion
after every keystroke. A request still pending at the next keystroke is cancelled with
$/cancelRequest, as editors do. Printed per phase: requests served, cancelled and
failed (an error answer, a timeout, or an error shown to the person), and the p50/p95
latency of the served ones. The suggestion cache is off, so every served request is a
generation on the shared engine.

    .venv/bin/python benchmarks/team_load.py                # llama-server if built
    .venv/bin/python benchmarks/team_load.py --engine openai --seconds 60
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pygls.lsp.client import LanguageClient

from benchmarks.replay import Block, function_blocks, keys, percentile, start_server
from refact_lsp import models
from tests.support.engine_servers import (
    EngineProcess,
    free_port,
    llama_server_binary,
    start_llama_cpp_server,
    start_llama_server,
)

ROOT = Path(__file__).resolve().parent.parent

MODEL = "qwen2.5-coder-0.5b"
REQUEST_TIMEOUT_S = 60.0


@dataclass
class Tally:
    latencies_ms: list[float] = field(default_factory=list)
    cancelled: int = 0
    failed: int = 0
    suggestions: int = 0  # served requests that had something to show

    def add(self, other: Tally) -> None:
        self.latencies_ms += other.latencies_ms
        self.cancelled += other.cancelled
        self.failed += other.failed
        self.suggestions += other.suggestions


def blocks() -> list[Block]:
    """Function bodies of 3 to 8 lines from the project's modules, in a fixed order."""
    return [block for path in sorted((ROOT / "refact_lsp").rglob("*.py"))
            for block in function_blocks(path)]


class Person:
    """One editor: an LSP server process, the documents typed, and a typing rhythm."""

    def __init__(self, index: int, work: list[Block], engine: EngineProcess) -> None:
        self.index = index
        self.work = work
        self.engine = engine
        self.random = random.Random(index)
        self.client = LanguageClient("team-load", "1")
        self.errors: list[str] = []

        @self.client.feature(types.WINDOW_SHOW_MESSAGE)
        def show_message(params: types.ShowMessageParams) -> None:
            if params.type == types.MessageType.Error:
                self.errors.append(params.message)

        self.documents = 0
        self.pending: list[asyncio.Task[None]] = []
        self.previous: tuple[str, asyncio.Task[None]] | None = None
        self.cancelled_ids: set[str] = set()

    async def start(self) -> None:
        """Start the LSP server and wait until its engine answers."""
        options = {"engine": {"kind": self.engine.kind, "url": self.engine.url},
                   "maxTokens": 64, "cache": False}
        self._log = await start_server(self.client)
        capabilities = types.ClientCapabilities(text_document=types.
                                                TextDocumentClientCapabilities(
                                                    inline_completion=types.
                                                    InlineCompletionClientCapabilities()))
        await self.client.initialize_async(types.InitializeParams(
            capabilities=capabilities, initialization_options=options))
        self.client.initialized(types.InitializedParams())
        uri = self._open(self.work[0])
        await self._ask(uri, types.Position(self.work[0].start, 0))
        self._close(uri)

    def _open(self, block: Block) -> str:
        """A document holding the block's module with an empty line for the block."""
        self.documents += 1
        uri = f"file:///team/person{self.index}/{self.documents}/{block.path.name}"
        text = block.path.read_text().split("\n")
        text[block.start:block.start + len(block.lines)] = [""]
        self.client.text_document_did_open(types.DidOpenTextDocumentParams(
            types.TextDocumentItem(uri=uri, language_id="python", version=1,
                                   text="\n".join(text))))
        return uri

    def _close(self, uri: str) -> None:
        self.client.text_document_did_close(types.DidCloseTextDocumentParams(
            types.TextDocumentIdentifier(uri)))

    async def _ask(self, uri: str, position: types.Position, msg_id: str | None = None
                   ) -> types.InlineCompletionList | None:
        params = types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri), position=position,
            context=types.InlineCompletionContext(types.InlineCompletionTriggerKind.Automatic))
        return await self.client.protocol.send_request_async(
            types.TEXT_DOCUMENT_INLINE_COMPLETION, params, msg_id=msg_id)

    async def type_for(self, seconds: float) -> Tally:
        """Type blocks until `seconds` have passed; every keystroke asks for a completion."""
        tally = Tally()
        errors_before = len(self.errors)
        deadline = time.monotonic() + seconds
        for block in itertools.cycle(self.work):
            if not await self._type(block, deadline, tally):
                break
        await asyncio.gather(*self.pending)
        self.pending.clear()
        tally.failed += len(self.errors) - errors_before
        return tally

    async def _type(self, block: Block, deadline: float, tally: Tally) -> bool:
        """Type one block into a fresh document; False once the deadline has passed."""
        uri = self._open(block)
        line, column = block.start, 0
        try:
            for version, key in enumerate(keys(block.lines), start=2):
                if time.monotonic() > deadline:
                    return False
                if self.previous and not self.previous[1].done():
                    self.cancelled_ids.add(self.previous[0])
                    self.client.protocol.notify(types.CANCEL_REQUEST,
                                                types.CancelParams(id=self.previous[0]))
                at = types.Position(line, column)
                self.client.text_document_did_change(types.DidChangeTextDocumentParams(
                    types.VersionedTextDocumentIdentifier(uri=uri, version=version),
                    [types.TextDocumentContentChangePartial(types.Range(at, at), key)]))
                line, column = (line + 1, len(key) - 1) if key.startswith("\n") \
                    else (line, column + len(key))
                msg_id = f"{uri}#{version}"
                task = asyncio.ensure_future(
                    self._timed(uri, types.Position(line, column), msg_id, tally))
                self.pending.append(task)
                self.previous = (msg_id, task)
                await asyncio.sleep(self.random.uniform(1.0, 3.0) if key.startswith("\n")
                                    else self.random.uniform(0.08, 0.25))
            return True
        finally:
            self._close(uri)

    async def _timed(self, uri: str, position: types.Position, msg_id: str,
                     tally: Tally) -> None:
        started = time.perf_counter()
        try:
            result = await asyncio.wait_for(self._ask(uri, position, msg_id),
                                            REQUEST_TIMEOUT_S)
        except JsonRpcException as exc:
            if exc.code == types.LSPErrorCodes.RequestCancelled:
                tally.cancelled += 1
            else:
                tally.failed += 1
            return
        except asyncio.TimeoutError:
            tally.failed += 1
            return
        if msg_id in self.cancelled_ids:
            tally.cancelled += 1  # answered after the next keystroke: the editor drops it
            return
        tally.latencies_ms.append((time.perf_counter() - started) * 1000)
        tally.suggestions += bool(result and result.items)

    async def stop(self) -> None:
        await self.client.shutdown_async(None)
        self.client.exit(None)
        await self.client.stop()


def report(name: str, people: int, tally: Tally) -> str:
    served = len(tally.latencies_ms)
    p50, p95 = (f"{percentile(tally.latencies_ms, q):.0f}" if served else "-"
                for q in (0.50, 0.95))
    requests = served + tally.cancelled + tally.failed
    return (f"{name:<8}{people:>7}{requests:>10}{served:>8}{tally.cancelled:>11}"
            f"{tally.failed:>8}{tally.suggestions:>13}{p50:>9}{p95:>9}")


async def run(engine: EngineProcess, people: int, seconds: float) -> list[str]:
    work = blocks()
    random.Random(0).shuffle(work)
    team = [Person(i, work[i::people], engine) for i in range(people)]
    await asyncio.gather(*(person.start() for person in team))
    alone = await team[0].type_for(seconds)
    together = Tally()
    for tally in await asyncio.gather(*(person.type_for(seconds) for person in team)):
        together.add(tally)
    await asyncio.gather(*(person.stop() for person in team))
    return [f"{'':<8}{'people':>7}{'requests':>10}{'served':>8}{'cancelled':>11}"
            f"{'failed':>8}{'suggestions':>13}{'p50 ms':>9}{'p95 ms':>9}",
            report("alone", 1, alone), report("team", people, together)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    binary = llama_server_binary()
    parser.add_argument("--engine", choices=("llama-server", "openai"),
                        default="llama-server" if binary else "openai",
                        help="llama-server (default where built) or openai "
                             "(llama-cpp-python's server)")
    parser.add_argument("--people", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=30.0,
                        help="typing time of each phase (alone, then the team)")
    args = parser.parse_args()
    model = models.resolve(MODEL)
    log = Path(tempfile.mkdtemp(prefix="refact-team-load-")) / f"{args.engine}.log"
    if args.engine == "llama-server":
        if binary is None:
            parser.error("llama-server is not built: run benchmarks/build_llama_server.sh")
        engine = start_llama_server(binary, model, free_port(), log, slots=args.people)
        shared = f"llama-server, {args.people} slots of 4096 tokens"
    else:
        engine = start_llama_cpp_server(model, free_port(), log)
        shared = "llama-cpp-python's server (one request at a time)"
    try:
        print(f"{args.people} LSP servers on one {shared}, {MODEL}, {os.cpu_count()} CPUs; "
              f"{args.seconds:.0f} s of typing a phase; engine log {log}", flush=True)
        lines = asyncio.run(run(engine, args.people, args.seconds))
    finally:
        engine.stop()
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
