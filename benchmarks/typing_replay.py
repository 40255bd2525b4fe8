"""Typing replay: how long a person waits for a suggestion while writing code.

A person retypes the bodies of several functions of a Python standard-library module:
one incremental `didChange` per keystroke at 12 keystrokes/s, an inline completion
request after each (the stale one cancelled), and a pause at every new line, where the
wait for the suggestion is measured and its first line compared with the line then
typed; with `--read-s`, the person then reads the suggestion that long before typing
on (0 by default: typing resumes the moment it arrives), and with `--patience` waits at
most that long for it (by default as long as it takes). Printed for each system, in one
run:

- warm: the server as shipped (KV reuse, suggestion cache, warm-up);
- cold: the same replay with reuse and caches disabled;
- floor: the time to generate the suggestion's tokens alone on a warm cache;
- chat (with `--chat TOKENS`): the warm server while a chat answer of up to TOKENS
  tokens streams all along (`refact/chat`, one after another): each pause's wait is a
  completion's wait while the same model writes a chat answer;
- llama-server: llama.vim's way (given --llama-server PATH or a built binary):
  `/infill` with 256 lines before the cursor, 64 after, n_predict 128,
  t_max_predict_ms 1000, cache_prompt, one request in flight.

    .venv/bin/python -m benchmarks.typing_replay --functions 3
    .venv/bin/python -m benchmarks.typing_replay --minutes 30 --only warm   # RSS soak
    .venv/bin/python -m benchmarks.typing_replay --functions 1 --only warm --chat 256
    .venv/bin/python -m benchmarks.typing_replay --functions 3 --only warm --workspace

`--workspace` gives the warm server a copy of the standard library's `Lib/` (about 1,800
files) as its workspace folder, `workspaceContext` on: it indexes them while the person
types, and the document is the copy's module (on disk as the editor holds it at the start,
the functions emptied).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import statistics
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from lsprotocol import types

from benchmarks.busy import busy
from benchmarks.replay import (
    Block,
    Editor,
    function_blocks,
    keys,
    memory_mb,
    percentile,
)
from benchmarks.workspace_index import copy_stdlib
from refact_lsp import models

MODEL = "qwen2.5-coder-0.5b"
SERVER_FLAGS: list[str] = []  # such as ["-v"] to see the server's debug log
MODULE = Path(sysconfig.get_paths()["stdlib"]) / "configparser.py"
VERBOSE = "-v" in sys.argv or "--verbose" in sys.argv
IN_TIME_S = 2.0  # the p95 target: a later suggestion finds the person typing on


@dataclass(frozen=True)
class Person:
    """How the replayed person types: keystrokes a second, seconds spent reading each
    pause's suggestion, and the most seconds waited for one (None: as long as it takes)."""

    keys_per_s: float = 12.0
    read_s: float = 0.0
    patience: float | None = None


@dataclass
class Run:
    """What one system did over the replay."""

    name: str
    waits: list[float] = field(default_factory=list)  # seconds, at each pause
    exact: int = 0  # pauses where the suggestion's first line was the line then typed
    exact_in_time: int = 0  # ... and it came within IN_TIME_S
    late: int = 0  # pauses waited longer than IN_TIME_S (or given up on: --patience)
    floors: list[float] = field(default_factory=list)  # seconds of generation alone
    rss_mb: list[float] = field(default_factory=list)  # sampled after each block
    peak_rss_mb: float = 0.0
    reuse: float | None = None  # share of prompt tokens served from the KV cache
    cancelled: int = 0
    failed: int = 0
    cache_hits: int = 0
    chats: int = 0  # chat answers completed while typing (the chat system)
    chat_chars: int = 0

    def record(self, waited: float, suggested: str, typed: str) -> None:
        """One pause: the wait, and whether the suggestion's first line was the line
        the person then typed (and came in time to be of use)."""
        self.waits.append(waited)
        exact = bool(suggested) and first_line(suggested) == typed.strip()
        self.exact += exact
        self.exact_in_time += exact and waited <= IN_TIME_S
        self.late += waited > IN_TIME_S

    def row(self) -> str:
        waits = self.waits
        p50 = statistics.median(waits) if waits else 0
        p95 = percentile(waits, 0.95) if waits else 0
        exact = 100 * self.exact / len(waits) if waits else 0
        in_time = 100 * self.exact_in_time / len(waits) if waits else 0
        reuse = f"{100 * self.reuse:.0f}%" if self.reuse is not None else "-"
        floor = f"{statistics.median(self.floors):.2f}" if self.floors else "-"
        rss = f"{self.peak_rss_mb:.0f}" if self.peak_rss_mb else "-"
        return (f"{self.name:<13}{len(waits):>7}{p50:>8.2f}{p95:>8.2f}{max(waits, default=0):>8.2f}"
                f"{floor:>8}{exact:>8.0f}%{in_time:>8.0f}%{self.late:>6}{reuse:>8}{rss:>9}"
                f"{self.cancelled:>7}{self.failed:>6}"
                f"{self.cache_hits:>6}")


HEADER = (f"{'system':<13}{'pauses':>7}{'p50 s':>8}{'p95 s':>8}{'max s':>8}{'floor':>8}"
          f"{'exact':>9}{'in 2 s':>9}{'late':>6}{'reused':>8}{'peak MB':>9}{'cancel':>7}{'fail':>6}"
          f"{'hits':>6}")


def choose(count: int) -> list[Block]:
    """`count` function bodies spread over the module, first to last."""
    blocks = function_blocks(MODULE, min_lines=3, max_lines=8)
    step = max(1, len(blocks) // count)
    return blocks[::step][:count]


def document_without(blocks: list[Block]) -> str:
    lines = MODULE.read_text().split("\n")
    for block in reversed(blocks):
        lines[block.start:block.start + len(block.lines)] = [""]
    return "\n".join(lines)


def first_line(text: str) -> str:
    return text.split("\n")[0].strip()


async def replay_server(name: str, options: dict[str, Any], blocks: list[Block],
                        person: Person, model: str, deadline: float,
                        chat_tokens: int = 0, workspace: Path | None = None) -> Run:
    """Type the blocks into one document through the real server over LSP; with
    `chat_tokens`, while chat answers of that many tokens stream one after another; with
    `workspace`, the folder the server opens, which holds the document."""
    run = Run(name)
    editor = Editor(["--model", model, *SERVER_FLAGS], options, name=name)
    await editor.start(workspace)
    uri = (workspace / MODULE.name).as_uri() if workspace else f"file:///replay/{MODULE.name}"
    stop_chatting = asyncio.Event()
    chatting = asyncio.ensure_future(keep_chatting(editor, chat_tokens, run, stop_chatting)) \
        if chat_tokens else None
    while True:
        editor.open(uri, document_without(blocks))
        version = 1
        for block in blocks:
            line, column = block.start, 0
            for number, key in enumerate(keys(block.lines)):
                version += 1
                editor.insert(uri, version, types.Position(line, column), key)
                if key.startswith("\n"):
                    line, column = line + 1, len(key) - 1
                else:
                    column += len(key)
                if number == 0 or key.startswith("\n"):
                    await pause(editor, uri, types.Position(line, column), block,
                                line - block.start, run, person.patience)
                    await asyncio.sleep(person.read_s)
                else:
                    editor.ask_soon(uri, types.Position(line, column))
                    await asyncio.sleep(1 / person.keys_per_s)
            run.rss_mb.append(editor.rss_mb())
        editor.close(uri)
        if time.monotonic() > deadline:
            break
    if chatting is not None:
        stop_chatting.set()
        await chatting
        print(f"{name}: {run.chats} chat answers of {run.chat_chars} characters in all "
              f"streamed while typing", flush=True)
    stats = await editor.stats()
    run.reuse = stats["reused_tokens"] / max(1, stats["prompt_tokens"])
    run.cache_hits = stats["cache_hits"]
    drafted, accepted = stats["drafted_tokens"], stats["accepted_tokens"]
    print(f"{name}: prompt-lookup drafts {accepted} accepted of {drafted} "
          f"({100 * accepted / max(1, drafted):.0f}%); "
          f"{stats['generate_ms'] / max(1, stats['generated_tokens']):.1f} ms a generated token",
          flush=True)
    run.peak_rss_mb = editor.peak_rss_mb()
    run.cancelled, run.failed = editor.cancelled, editor.failed
    for message in dict.fromkeys(editor.messages):
        print(f"{name}: the server said: {message}")
    await editor.stop()
    return run


CHAT_QUESTION = ("Write a Python class for a bank account with deposit, withdraw and a "
                 "transaction history, with docstrings.")  # a long answer


async def keep_chatting(editor: Editor, max_tokens: int, run: Run, stop: asyncio.Event
                        ) -> None:
    """Ask `refact/chat` again each time an answer ends, until `stop`; the answer then
    streaming is cancelled ($/cancelRequest) and its answer awaited."""
    for number in itertools.count(1):
        msg_id = f"chat-{number}"
        asked = asyncio.ensure_future(editor.client.protocol.send_request_async(
            "refact/chat", {"messages": [{"role": "user", "content": CHAT_QUESTION}],
                            "maxTokens": max_tokens}, msg_id=msg_id))
        stopped = asyncio.ensure_future(stop.wait())
        await asyncio.wait({asked, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if not asked.done():
            editor.client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id=msg_id))
            await asyncio.gather(asked, return_exceptions=True)
            return
        stopped.cancel()
        run.chats += 1
        run.chat_chars += len(getattr(asked.result(), "text", "") or "")


async def pause(editor: Editor, uri: str, at: types.Position, block: Block, index: int,
                run: Run, patience: float | None) -> None:
    """The person stops at a new line and waits for the suggestion."""
    before = await editor.stats()
    waited, text = await editor.timed_ask(uri, at, patience)
    after = await editor.stats()
    run.record(waited, text, block.lines[index])
    last = after["last"]
    # The floor is the pause's own generation: not a keystroke's that was cancelled (the
    # last one where the pause was answered from the cache, or given up on).
    generated = after["generations"] > before["generations"] and last \
        and last["stopped_by"] != "cancelled"
    if generated:
        run.floors.append(last["generate_ms"] / 1000)
    if VERBOSE:
        how = (f"prompt {last['prompt_ms']:.0f} ms for {last['prompt_tokens']} tokens "
               f"({last['prompt_tokens'] - last['reused_tokens']} new"
               f"{', a smaller window' if last['short_window'] else ''}), "
               f"{last['generated_tokens']} generated in {last['generate_ms']:.0f} ms"
               if generated else "no generation of its own")
        print(f"{run.name} {waited:6.2f} s  typed next {block.lines[index].strip()!r}  "
              f"suggested {first_line(text)!r}  ({how})", flush=True)


async def replay_llama_server(binary: Path, model_path: Path, blocks: list[Block],
                              person: Person) -> Run:
    """The same keystrokes the llama.vim way, straight to llama.cpp's server."""
    from tests.support.engine_servers import free_port, start_llama_server

    run = Run("llama-server")
    log = Path(tempfile.mkdtemp(prefix="replay-")) / "llama-server.log"
    server = start_llama_server(binary, model_path, free_port(), log, slots=1,
                                extra=["-b", "1024", "-ub", "1024"])
    lines = document_without(blocks).split("\n")
    in_flight: asyncio.Task[str] | None = None
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=120) as client:
            for block in blocks:
                line, column = block.start, 0
                for number, key in enumerate(keys(block.lines)):
                    if key.startswith("\n"):
                        lines[line + 1:line + 1] = [key[1:]]
                        line, column = line + 1, len(key) - 1
                    else:
                        lines[line] = lines[line][:column] + key + lines[line][column:]
                        column += len(key)
                    if in_flight and not in_flight.done():
                        in_flight.cancel()
                        run.cancelled += 1
                    request = asyncio.ensure_future(_infill(client, lines, line, column))
                    in_flight = request
                    if number == 0 or key.startswith("\n"):
                        started = time.perf_counter()
                        await asyncio.wait({request}, timeout=person.patience)
                        text = request.result() if request.done() else ""
                        run.record(time.perf_counter() - started, text,
                                   block.lines[line - block.start])
                        await asyncio.sleep(person.read_s)
                    else:
                        await asyncio.sleep(1 / person.keys_per_s)
            if in_flight:
                in_flight.cancel()
        run.peak_rss_mb = memory_mb(server.process.pid)
    finally:
        server.stop()
    return run


async def _infill(client: httpx.AsyncClient, lines: list[str], line: int,
                  column: int) -> str:
    """One llama.vim request: 256 lines before, 64 after, the line's prefix as prompt."""
    current = lines[line]
    body = {
        "input_prefix": "".join(text + "\n" for text in lines[max(0, line - 256):line]),
        "prompt": current[:column],
        "input_suffix": current[column:] + "\n"
        + "".join(text + "\n" for text in lines[line + 1:line + 65]),
        "input_extra": [], "n_predict": 128, "t_max_predict_ms": 1000, "top_k": 40,
        "top_p": 0.99, "samplers": ["top_k", "top_p", "infill"], "stream": False,
        "cache_prompt": True, "n_indent": len(current) - len(current.lstrip()),
    }
    try:
        response = await client.post("/infill", json=body)
        return str(response.json().get("content", ""))
    except (httpx.HTTPError, ValueError):
        return ""


async def main_async(args: argparse.Namespace) -> int:
    blocks = choose(args.functions)
    model_path = models.resolve(args.model)
    deadline = time.monotonic() + args.minutes * 60
    print(f"module {MODULE} ({len(MODULE.read_text().splitlines())} lines), "
          f"{len(blocks)} functions, {sum(len(b.lines) for b in blocks)} lines, "
          f"{sum(len(k) for b in blocks for k in keys(b.lines))} characters, "
          f"{args.keys_per_s} keystrokes/s, {args.read_s} s reading each pause's "
          f"suggestion, patience {args.patience or 'unlimited'}, model {model_path.name}")
    person = Person(args.keys_per_s, args.read_s, args.patience)
    runs: list[Run] = []

    def done(run: Run) -> None:  # printed at once: a later system that fails loses nothing
        runs.append(run)
        print(f"{HEADER}\n{run.row()}" if len(runs) == 1 else run.row(), flush=True)

    jump = {} if args.jump_ms is None else {"jumpPromptMs": args.jump_ms}
    if args.only in (None, "warm"):
        with tempfile.TemporaryDirectory(prefix="typing-replay-") as scratch:
            workspace = _workspace(Path(scratch), blocks) if args.workspace else None
            indexing = {"workspaceContext": True} if workspace else {}
            done(await replay_server("warm", {"maxTokens": args.max_tokens, **jump,
                                              **indexing, **json.loads(args.settings)},
                                     blocks, person, args.model, deadline,
                                     workspace=workspace))
    if args.chat:
        done(await replay_server("warm+chat", {"maxTokens": args.max_tokens, **jump,
                                               **json.loads(args.settings)}, blocks,
                                 person, args.model, 0, chat_tokens=args.chat))
    if args.only in (None, "cold"):
        done(await replay_server("cold", {"maxTokens": args.max_tokens, "kvReuse": False,
                                          "jumpPromptMs": 0,
                                          "cache": False},
                                 blocks, person, args.model, 0))
    binary = args.llama_server or _built_llama_server()
    if args.only in (None, "llama-server") and binary:
        done(await replay_llama_server(binary, model_path, blocks, person))
    warm = runs[0] if runs and runs[0].name == "warm" else None
    if warm and warm.waits:
        p50 = statistics.median(warm.waits)
        floor = statistics.median(warm.floors) if warm.floors else None
        if floor:
            print(f"warm p50 / floor p50: {p50 / floor:.2f}")
        for other in runs[1:]:
            if other.waits:
                print(f"{other.name} p50 / warm p50: {statistics.median(other.waits) / p50:.1f}x")
        if len(warm.rss_mb) > 2:
            print(f"RSS after each function: {', '.join(f'{v:.0f}' for v in warm.rss_mb)} MB "
                  f"(model file {model_path.stat().st_size / 1e6:.0f} MB)")
    return 0


def _workspace(scratch: Path, blocks: list[Block]) -> Path:
    """A copy of the standard library whose module holds what the editor opens."""
    folder = copy_stdlib(scratch / "Lib")
    (folder / MODULE.name).write_text(document_without(blocks))
    return folder


def _built_llama_server() -> Path | None:
    from tests.support.engine_servers import llama_server_binary

    return llama_server_binary()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--functions", type=int, default=3)
    parser.add_argument("--keys-per-s", type=float, default=12.0)
    parser.add_argument("--read-s", type=float, default=0.0,
                        help="seconds the person reads each pause's suggestion before "
                        "typing on (the server may use them)")
    parser.add_argument("--patience", type=float,
                        help="seconds the person waits at a pause before typing on without "
                        "the suggestion (default: as long as it takes)")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--model", default=MODEL)
    parser.add_argument("--llama-server", type=Path, help="llama.cpp's llama-server binary")
    parser.add_argument("--only", choices=("warm", "cold", "llama-server"))
    parser.add_argument("--jump-ms", type=int,
                        help="the warm server's jumpPromptMs (smaller windows after a jump; "
                        "default: its default)")
    parser.add_argument("--settings", default="{}",
                        help="more settings of the warm server, as JSON (initializationOptions)")
    parser.add_argument("--chat", type=int, default=0, metavar="TOKENS",
                        help="also replay while chat answers of up to TOKENS tokens stream "
                        "(refact/chat, one after another)")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="print each pause: the wait, the line then typed, the suggestion")
    parser.add_argument("--minutes", type=float, default=0.0,
                        help="repeat the warm replay for this long (RSS soak)")
    parser.add_argument("--workspace", action="store_true",
                        help="the warm server indexes a copy of the standard library as its "
                        "workspace while the person types (workspaceContext on)")
    parser.add_argument("--busy", type=int, default=0, metavar="N",
                        help="keep N cores busy with a compute loop all along (a loaded "
                             "machine)")
    args = parser.parse_args()
    with busy(args.busy):
        return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
