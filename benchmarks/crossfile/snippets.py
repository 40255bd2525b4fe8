"""Without the model: does the workspace's retrieval put B, and B's definition of the
name, among the snippets for each line? It explains the workspace condition's figures
in seconds, and shows a change to retrieval.py before an hours' run.

The index is built in process over the workspace copy (file A emptied, as the server
sees it) and `retrieval.select` is asked at the cursor with the default context budget;
tokens are counted as characters / 3 (the server counts them with the model's
tokenizer, so its choice may differ at the budget's edge).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from benchmarks.crossfile.run import emptied
from benchmarks.crossfile.sample import Sample
from refact_lsp.config import Settings
from refact_lsp.retrieval import select
from refact_lsp.workspace import WorkspaceIndex

CHARS_PER_TOKEN = 3


@dataclass(frozen=True)
class Found:
    """How many of the lines had B among their snippets, and B's definition of the name."""

    lines: int = 0
    source: int = 0
    definition: int = 0


def retrieved(samples: list[Sample], root: Path, budget: int = Settings().context_tokens
              ) -> Found:
    """Count, over `samples` of the project copied at `root`, what retrieval found."""
    source = definition = 0
    for sample in samples:
        with emptied(root, sample) as text:
            index = WorkspaceIndex([root], isolated=False)
            try:
                while index.build_step(1.0):
                    pass
                lines = text.split("\n")
                offset = sum(len(line) + 1 for line in lines[:sample.line]) + len(sample.indent)
                snippets = select(index, root / sample.path, text, offset,
                                  lambda part: len(part) // CHARS_PER_TOKEN, budget)
            finally:
                index.close()
        from_source = [snippet for snippet in snippets if snippet.path == sample.source]
        source += bool(from_source)
        definition += any(_defines(snippet.text, sample.name) for snippet in from_source)
    return Found(len(samples), source, definition)


def _defines(text: str, name: str) -> bool:
    """Whether a snippet's text defines `name` (def, class, function, type, interface,
    const, an assignment): a mention alone does not tell the model what it is."""
    word = re.escape(name)
    return re.search(rf"(?:\b(?:def|class|function|type|interface|const|let|var|enum)\s+{word}"
                     rf"(?![\w$])|^\s*{word}\s*(?::[^=\n]*)?=)", text, re.MULTILINE) is not None
