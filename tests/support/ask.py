"""What the editors' ask tests share: the code asked about and a fake engine whose
chat answer (a docstring, in a fenced block after a line of prose) streams in pieces."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from tests.support.fake_openai import FakeEngine

SOURCE = ("class Shape:\n"
          "    def area(self, width, height):\n"
          "        return width * height\n")
ANSWER_PIECES = ["Here:\n\n", "```python\n", "def area(self, width, height):\n",
                 '    """The area."""\n', "    return width * height\n", "```"]
ANSWER = "".join(ANSWER_PIECES)


def answering_engine() -> Iterator[FakeEngine]:
    """The fake engine, answering every chat with ANSWER, a report for each piece."""
    fake = FakeEngine()
    fake.chat_pieces = ANSWER_PIECES
    fake.chat_delay_s = 0.06
    yield fake
    fake.close()


def project_file(directory: Path) -> Path:
    """SOURCE as `project/shapes.py` under `directory`: the file the editor opens."""
    project = directory / "project"
    project.mkdir()
    source = project / "shapes.py"
    source.write_text(SOURCE)
    return source
