"""Soak: a long editing session against the real server over LSP, for crashes, lost
edits, memory growth and leaked threads.

Keystrokes retype function bodies of standard-library modules, one document after
another (20 open at once in the full run): one incremental `didChange` a keystroke and
an inline completion request after each, the previous one cancelled with
`$/cancelRequest`. Then documents of 1 MB are opened, asked for a completion and
closed, one after another. Printed: the server's resident memory after warm-up (the
first tenth of the keystrokes), after the typing, after the big documents and once all
are closed; its threads; whether every document's text on the server is still the
text typed. It fails (exit 1) on a crash, a lost edit, a request that failed, growth
of more than 50 MB after warm-up, or more threads than after warm-up.

    .venv/bin/python -m benchmarks.soak                     # a short run, a few minutes
    .venv/bin/python -m benchmarks.soak --keystrokes 20000 --documents 20 --big 100
    .venv/bin/python -m benchmarks.soak --model qwen2.5-coder-0.5b   # the real model

By default the server runs the tiny random-weight model of tests/support/tiny_gguf.py: the
criteria are about the server, and the model's share of memory is fixed at load.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from lsprotocol import types

from benchmarks.replay import Block, Editor, _plain, function_blocks, keys, proc_status
from tests.support.tiny_gguf import write_tiny_refact_gguf

STDLIB = Path(sysconfig.get_paths()["stdlib"])
MAX_GROWTH_MB = 50.0
BIG_MB = 1


@dataclass
class Typed:
    """One document being retyped: its text, and its function bodies in turn."""

    uri: str
    text: str
    blocks: itertools.cycle[Block]
    version: int = 1


def modules(count: int) -> list[Typed]:
    """`count` standard-library modules of a few hundred lines with bodies to retype."""
    found = []
    for path in sorted(STDLIB.glob("*.py")):
        text = path.read_text(encoding="utf-8", errors="replace")
        if not 200 <= text.count("\n") <= 3000:
            continue
        try:
            blocks = function_blocks(path)
        except (SyntaxError, ValueError):
            continue
        if len(blocks) >= 3:
            found.append(Typed(f"file:///soak/{path.name}", text, itertools.cycle(blocks)))
        if len(found) == count:
            return found
    raise SystemExit(f"only {len(found)} suitable modules in {STDLIB}")


def change(editor: Editor, doc: Typed, start: types.Position, end: types.Position,
           text: str) -> None:
    doc.version += 1
    editor.client.text_document_did_change(types.DidChangeTextDocumentParams(
        types.VersionedTextDocumentIdentifier(uri=doc.uri, version=doc.version),
        [types.TextDocumentContentChangePartial(types.Range(start, end), text)]))


async def retype(editor: Editor, doc: Typed, budget: int, keys_per_s: float) -> int:
    """Delete the document's next function body and type it again, at most `budget`
    keystrokes; returns the keystrokes sent. The text ends as it began when the body is
    typed whole."""
    block = next(doc.blocks)
    last = block.lines[-1]
    change(editor, doc, types.Position(block.start, 0),
           types.Position(block.start + len(block.lines) - 1, len(last)), "")
    line, column, sent = block.start, 0, 0
    for key in keys(block.lines):
        if sent == budget:
            break
        at = types.Position(line, column)
        change(editor, doc, at, at, key)
        if key.startswith("\n"):
            line, column = line + 1, len(key) - 1
        else:
            column += len(key)
        editor.ask_soon(doc.uri, types.Position(line, column))
        sent += 1
        await asyncio.sleep(1 / keys_per_s)
    if sent < sum(1 for _ in keys(block.lines)):  # out of budget: finish it in one edit
        rest = "\n".join(block.lines)[len(_typed(block, sent)):]
        at = types.Position(line, column)
        change(editor, doc, at, at, rest)
    return sent


def _typed(block: Block, count: int) -> str:
    return "".join(itertools.islice(keys(block.lines), count))


async def server_text(editor: Editor, uri: str) -> str | None:
    result = _plain(await editor.client.protocol.send_request_async(
        "refact/documentText", {"textDocument": {"uri": uri}}))
    return result["text"] if result else None


async def keep_log(stream: asyncio.StreamReader, lines: list[str]) -> None:
    """Read the server's stderr as an editor does (a full pipe would stop the server)."""
    while line := await stream.readline():
        lines.append(line.decode(errors="replace").rstrip())


async def soak(args: argparse.Namespace, model: str) -> bool:
    editor = Editor(["--model", model, "--n-threads", str(args.n_threads)],
                    {"maxTokens": 16}, name="soak")
    await editor.start()
    log: list[str] = []
    reading = asyncio.ensure_future(keep_log(editor.client._server.stderr, log))
    docs = modules(args.documents)
    for doc in docs:
        editor.open(doc.uri, doc.text)
    started = time.monotonic()
    figures: dict[str, tuple[float, int]] = {}
    typed, turns = 0, itertools.cycle(docs)
    for phase, target in (("warm", min(args.keystrokes, max(200, args.keystrokes // 10))),
                          ("typed", args.keystrokes)):
        while typed < target:
            typed += await retype(editor, next(turns), target - typed, args.keys_per_s)
        editor.cancel_pending()
        await editor.stats()  # everything sent so far is handled
        figures[phase] = (editor.rss_mb(), proc_status(editor.pid, "Threads"))
    lost = [doc.uri for doc in docs if await server_text(editor, doc.uri) != doc.text]
    typing_s = time.monotonic() - started

    big = ("x = 1\n" + "def f(value):\n    return value * 2\n\n" * 40) * (
        BIG_MB * 1024 * 1024 // 1500)
    started = time.monotonic()
    for number in range(args.big):
        uri = f"file:///soak/big_{number}.py"
        editor.open(uri, big)
        lines = big.split("\n")
        await editor.ask(uri, types.Position(len(lines) - 1, 0))
        editor.close(uri)
    await editor.stats()
    figures["big"] = (editor.rss_mb(), proc_status(editor.pid, "Threads"))
    big_s = time.monotonic() - started

    for doc in docs:
        editor.close(doc.uri)
    stats = await editor.stats()
    figures["closed"] = (editor.rss_mb(), proc_status(editor.pid, "Threads"))
    peak = editor.peak_rss_mb()
    alive = editor.client._server.returncode is None
    messages = list(dict.fromkeys(editor.messages))
    cancelled, failed = editor.cancelled, editor.failed
    await editor.stop()
    await reading

    warm_rss, warm_threads = figures["warm"]
    print(f"model {Path(model).name}; {typed} keystrokes over {len(docs)} documents in "
          f"{typing_s:.0f} s ({typed / typing_s:.0f}/s); {args.big} documents of "
          f"{len(big) / 1e6:.1f} MB opened, completed and closed in {big_s:.0f} s")
    print(f"requests {stats['requests']}, generations {stats['generations']}, cancelled "
          f"by the client {cancelled}, cancelled in the engine {stats['cancelled']}, "
          f"failed {failed}")
    print(f"{'after':<22}{'RSS MB':>8}{'growth':>8}{'threads':>9}")
    for name, label in (("warm", "warm-up"), ("typed", "typing"), ("big", "big documents"),
                        ("closed", "all closed")):
        rss, threads = figures[name]
        print(f"{label:<22}{rss:>8.0f}{rss - warm_rss:>+8.0f}{threads:>9}")
    print(f"peak RSS {peak:.0f} MB; server alive at the end: {alive}; "
          f"documents whose server text differs from the editor's: {len(lost)}")
    for message in messages:
        print(f"the server said: {message}")
    errors = [line for line in log if " ERROR " in line or "Traceback" in line]
    print(f"server log: {len(log)} lines, {len(errors)} errors")
    for line in errors[:5]:
        print(f"  {line}")
    final_rss, final_threads = figures["closed"]
    problems = [problem for problem, bad in (
        ("the server died", not alive),
        (f"edits lost in {lost}", lost),
        (f"{failed} requests failed", failed),
        (f"{len(errors)} errors in the server log", errors),
        (f"RSS grew {final_rss - warm_rss:.0f} MB after warm-up",
         final_rss - warm_rss > MAX_GROWTH_MB),
        (f"threads went from {warm_threads} to {final_threads}", final_threads > warm_threads),
    ) if bad]
    print("PASS" if not problems else "FAIL: " + "; ".join(problems))
    return not problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keystrokes", type=int, default=2000)
    parser.add_argument("--documents", type=int, default=5)
    parser.add_argument("--big", type=int, default=20, help="1 MB documents to open/close")
    parser.add_argument("--keys-per-s", type=float, default=40.0)
    parser.add_argument("--n-threads", type=int, default=1,
                        help="inference threads (the CPUs are often shared)")
    parser.add_argument("--model", help="GGUF path or catalog name (default: the tiny "
                                        "random-weight test model)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        model = args.model or str(write_tiny_refact_gguf(Path(tmp) / "tiny.gguf"))
        return 0 if asyncio.run(soak(args, model)) else 1


if __name__ == "__main__":
    sys.exit(main())
