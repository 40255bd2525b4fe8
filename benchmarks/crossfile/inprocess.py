"""The same lines asked of the server's own completer and engine in this process.

Over LSP (run.py) every ask starts a server and waits for its index and for the warm-up
of its whole window: minutes a line on 2 cores. Here the model is loaded once and each
ask builds the prompt as the server does (the completer, the retrieval, the layout) and
generates from it, so a change to retrieval or to the layout is compared on the model in
minutes. What differs from the server: nothing is warmed before the ask and the engine's
KV cache carries over from one ask to the next, so the seconds are not the server's
latency (the LSP run measures that).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

from lsprotocol import types

from benchmarks.crossfile.run import Condition, Outcome, emptied
from benchmarks.crossfile.sample import Sample
from benchmarks.humaneval_infill.client import accept
from refact_lsp.completion import Completer, Job, Result
from refact_lsp.config import Settings
from refact_lsp.documents import Document
from refact_lsp.engines import create_engine
from refact_lsp.repository import Repository

INDEX_S = 300.0  # the longest wait for the index to be built


class InProcess:
    """One engine for every ask; a repository of its own for each."""

    def __init__(self, model: str, settings: dict[str, Any]) -> None:
        self.settings, problems = Settings().updated(
            {"model": model, "workspaceContext": True, **settings})
        if problems:
            raise ValueError("; ".join(problems))
        self.engine = create_engine(self.settings)

    def ask(self, sample: Sample, root: Path, condition: Condition) -> Outcome:
        """The line the completer writes for `sample` in `condition`."""
        with emptied(root, sample) as text:
            document = Document((root / sample.path).as_uri(), text, 1, sample.language)
            repository = _repository(sample, root, condition, document)
            try:
                completer = Completer(self.engine, dataclasses.replace(
                    self.settings, workspace_context=repository is not None), repository)
                cursor = types.Position(sample.line, len(sample.indent))
                started = time.perf_counter()
                job = completer.prepare(document, cursor)
                result = completer.run(job) if isinstance(job, Job) else job
                seconds = time.perf_counter() - started
                indexed = repository.progress()["files"] if repository else None
            finally:
                if repository is not None:
                    repository.close()
        if isinstance(result, Result) and result.text:
            item = types.InlineCompletionItem(result.text,
                                              range=types.Range(result.start, result.end))
            text = accept(text, item, cursor)
        saw = isinstance(job, Job) and f"{sample.source}\n" in job.prompt.text
        return Outcome(condition, sample, text.split("\n")[sample.line].strip(), seconds,
                       indexed, saw)

    def close(self) -> None:
        self.engine.close()


def _repository(sample: Sample, root: Path, condition: Condition, document: Document
                ) -> Repository | None:
    """What the server would hold in `condition` once A (`document`) is open and its
    index has settled, as the LSP run asks: nothing, the project's index, or B opened
    before A without a folder."""
    if condition == Condition.IN_FILE:
        return None
    repository = Repository([str(root)] if condition == Condition.WORKSPACE else [],
                            isolated=False)
    if condition == Condition.OPEN_FILE:
        source = root / sample.source
        repository.opened(Document(source.as_uri(), source.read_text(encoding="utf-8"), 1,
                                   sample.language))
    repository.opened(document)
    deadline = time.monotonic() + INDEX_S
    while repository.progress()["pending"] and time.monotonic() < deadline:
        time.sleep(0.05)
    return repository
