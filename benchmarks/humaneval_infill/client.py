"""The real server as an editor drives it: a subprocess spoken to over LSP on stdio."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from lsprotocol import types

from benchmarks import replay
from benchmarks.humaneval_infill.tasks import RANDOM_SPAN, Task


class Editor:
    """One server process; each task is opened as a document, completed and closed.

    With `think_s` > 0 a task is met as in an editor: the file is open (without the
    hole's line) for that long, then Enter is pressed on the line above the hole (the
    editor indents the new line) and the completion is asked for at once; a random span
    is open with its hole for that long. With 0 the file is opened with the hole and
    asked about at once: a cold start.
    """

    def __init__(self, model: str, settings: dict[str, Any], think_s: float,
                 trigger: types.InlineCompletionTriggerKind =
                 types.InlineCompletionTriggerKind.Invoked) -> None:
        """`trigger`: how the completion is asked for (Invoked: a key press; Automatic:
        while typing, when the server shows nothing inside a word or in indentation)."""
        self.session = replay.Editor(["--model", model], settings, name="humaneval-infill")
        self.think_s, self.trigger = think_s, trigger
        self.count = 0
        # what the model said of the last suggestion shown (confidence.py), for the
        # gate's calibration; None where it came from the cache or nothing was shown
        self.evidence: dict[str, Any] | None = None

    async def start(self) -> None:
        await self.session.start()

    async def complete(self, task: Task) -> tuple[str, float, int]:
        """The document after accepting the first inline item (unchanged where there is
        none), the seconds from request to answer, and the tokens generated for it."""
        self.count += 1
        uri = f"file:///humaneval/task_{self.count}.py"
        if self.think_s > 0 and task.kind != RANDOM_SPAN:
            self.session.open(uri, task.before_enter)
            await asyncio.sleep(self.think_s)
            above = task.document.split("\n")[task.line - 1]
            self.session.insert(uri, 2, types.Position(task.line - 1, len(above)),
                                "\n" + task.document.split("\n")[task.line])
        else:
            self.session.open(uri, task.document)
            await asyncio.sleep(self.think_s)
        before = await self.session.stats()
        cursor = types.Position(task.line, task.character)
        started = time.perf_counter()
        result = await self.session.ask(uri, cursor, trigger=self.trigger)
        seconds = time.perf_counter() - started
        after = await self.session.stats()
        tokens = after["generated_tokens"] - before["generated_tokens"]
        self.evidence = replay.shown_evidence(before, after)
        self.session.close(uri)
        if not result or not result.items:
            return task.document, seconds, tokens
        return accept(task.document, result.items[0], cursor), seconds, tokens

    async def stop(self) -> None:
        await self.session.stop()


def accept(text: str, item: types.InlineCompletionItem, cursor: types.Position) -> str:
    """Apply an inline item as an editor does: its text replaces its range, or is
    inserted at the cursor where it has none."""
    insert = item.insert_text if isinstance(item.insert_text, str) else item.insert_text.value
    rng = item.range or types.Range(cursor, cursor)
    start, end = _offset(text, rng.start), _offset(text, rng.end)
    return text[:start] + insert + text[end:]


def _offset(text: str, position: types.Position) -> int:
    """String index of an LSP position (UTF-16 columns)."""
    lines = text.split("\n")
    before = sum(len(line) + 1 for line in lines[:position.line])
    line = lines[position.line] if position.line < len(lines) else ""
    units = 0
    for index, char in enumerate(line):
        if units >= position.character:
            return before + index
        units += 2 if ord(char) > 0xFFFF else 1
    return before + len(line)
