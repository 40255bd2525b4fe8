"""Another program on the machine: N processes that keep a core each busy with a plain
compute loop, for as long as a benchmark runs (`--busy N`), so that what the server shows
on a loaded machine is measured as well as what it shows on a quiet one."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator

LOOP = "x = 0\nwhile True:\n    x = (x * 31 + 7) % 1000003\n"


@contextlib.contextmanager
def busy(cores: int) -> Iterator[list[subprocess.Popen]]:
    """Keep `cores` cores busy meanwhile (none for 0); yields the loops' processes."""
    loops = [subprocess.Popen([sys.executable, "-c", LOOP]) for _ in range(cores)]
    try:
        yield loops
    finally:
        for loop in loops:
            loop.kill()
            loop.wait()
