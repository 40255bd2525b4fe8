"""One line asked of the real server over LSP, in one of three conditions.

Each ask has a server process of its own: what one ask opened (the recently visited
code the server keeps) must not reach the next one, nor one condition's the other's. The
workspace is a copy of the project in which file A on disk holds exactly the editor's
text: the line emptied to its indentation, so that neither the index nor anything else
can read the answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lsprotocol import types

from benchmarks.crossfile.sample import Sample
from benchmarks.humaneval_infill.client import accept
from benchmarks.replay import Editor
from refact_lsp.text import StrEnum

SETTLE_S = 300.0  # the longest wait for the index to settle, or a warm-up to end
ASK_S = 600.0  # the longest wait for an answer


class Condition(StrEnum):
    """What the server may see besides A: nothing, the workspace folder, or B open (the
    open-file context, without a folder, so that it is that context alone)."""

    IN_FILE = "in-file"  # A alone, no workspace folder
    WORKSPACE = "workspace"  # A alone, the project as the workspace folder
    OPEN_FILE = "B open"  # B opened before A, no workspace folder


@dataclass(frozen=True)
class Outcome:
    """What the server suggested for a sample's line in one condition."""

    condition: Condition
    sample: Sample
    line: str  # the line once the first item is accepted, without its indentation
    seconds: float  # from the request to its answer
    indexed: int | None  # files in the server's index when it was asked
    saw_source: bool | None = None  # whether B was in the prompt, where it is known

    @property
    def exact(self) -> bool:
        return self.line == self.sample.target

    @property
    def similarity(self) -> float:
        return edit_similarity(self.line, self.sample.target)

    @property
    def named(self) -> bool:
        """Whether the suggested line holds the imported name (as a word)."""
        return re.search(rf"(?<![\w$]){re.escape(self.sample.name)}(?![\w$])",
                         self.line) is not None


def edit_similarity(line: str, target: str) -> float:
    """Edit similarity, 0 to 100: difflib's ratio (2 * matches / total length)."""
    return 100 * difflib.SequenceMatcher(None, line, target).ratio()


@contextlib.contextmanager
def emptied(root: Path, sample: Sample) -> Iterator[str]:
    """File A on disk with the sample's line emptied (its indentation kept) while in the
    block; its text, which the editor opens. The file is restored after."""
    path = root / sample.path
    original = path.read_bytes()
    lines = original.decode("utf-8", "replace").replace("\r\n", "\n").split("\n")
    lines[sample.line] = sample.indent
    text = "\n".join(lines)
    path.write_text(text, encoding="utf-8")
    try:
        yield text
    finally:
        path.write_bytes(original)


async def ask(sample: Sample, root: Path, condition: Condition, model: str,
              settings: dict[str, Any]) -> Outcome:
    """Ask a fresh server for the sample's line, `root` being the project's copy. As a
    person does: the folder is opened and indexed, the files are opened and the server
    has warmed its prompt (or SETTLE_S has passed), then the line is asked for."""
    editor = Editor(["--model", model], {"workspaceContext": True, **settings},
                    name="crossfile")
    with emptied(root, sample) as text:
        await editor.start(root if condition == Condition.WORKSPACE else None)
        try:
            stats = await settled(editor)
            if condition == Condition.OPEN_FILE:
                source = root / sample.source
                editor.open(source.as_uri(), source.read_text(encoding="utf-8"),
                            sample.language)
                stats = await settled(editor, stats["warmed_tokens"])
            uri = (root / sample.path).as_uri()
            editor.open(uri, text, sample.language)
            stats = await settled(editor, stats["warmed_tokens"])
            cursor = types.Position(sample.line, len(sample.indent))
            started = time.perf_counter()
            result = await asyncio.wait_for(editor.ask(uri, cursor), ASK_S)
            seconds = time.perf_counter() - started
        finally:
            await editor.stop()
    if result and result.items:
        text = accept(text, result.items[0], cursor)
    return Outcome(condition, sample, text.split("\n")[sample.line].strip(), seconds,
                   stats["index"]["files"] if stats["index"] else None)


async def settled(editor: Editor, warmed: int | None = None, limit_s: float = SETTLE_S
                  ) -> dict[str, Any]:
    """Wait until the server's index has no work left (the workspace walked, the open
    documents parsed) and, given `warmed`, more than that many prompt tokens were warmed
    (the document just opened), at most `limit_s`; the server's stats then."""
    deadline = time.monotonic() + limit_s
    while True:
        stats = await editor.stats()
        busy = (stats["index"] is not None and stats["index"]["pending"]) \
            or (warmed is not None and stats["warmed_tokens"] <= warmed)
        if not busy or time.monotonic() > deadline:
            return stats
        await asyncio.sleep(0.1)
