"""How long the workspace index takes to build in the background, how much memory it
adds, and how long a request can wait for it.

The index of a folder (by default a copy of the standard library's `Lib/` without
site-packages, about 1,800 files) is built by a `BackgroundIndexer` thread with its
default step and rest, as the server runs it. Meanwhile the main thread stands for a
request: it sleeps 1 ms again and again and measures how much later than asked it gets
the GIL back; the worst of those waits is the longest a request waits for the index.
RSS is read from /proc before the build (with the grammars loaded) and at its peak, for
the server's process and for the child that parses.
Run: nice -n 10 .venv/bin/python -m benchmarks.workspace_index [FOLDER]
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from refact_lsp import languages
from refact_lsp.workspace import BackgroundIndexer, WorkspaceIndex

STDLIB = Path(sys.base_prefix) / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}"
TICK_S = 0.001
QUIET_S = 5.0  # ticks measured before the build, for the machine's own noise


def _status_kb(field: str, pid: int | str = "self") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def copy_stdlib(target: Path) -> Path:
    """The standard library's sources as a workspace: no site-packages, no bytecode."""
    shutil.copytree(STDLIB, target, symlinks=True, ignore=shutil.ignore_patterns(
        "site-packages", "__pycache__", "config-*", "lib-dynload"))
    return target


def measure(folder: Path) -> None:
    for name in languages.names():  # grammars load once per process, before the baseline
        languages.load(name)
    baseline_kb = _status_kb("VmRSS")
    quiet_until = time.perf_counter() + QUIET_S
    quiet = _waits(lambda: time.perf_counter() < quiet_until)
    index = WorkspaceIndex([folder])
    indexer = BackgroundIndexer(index)
    pauses = _GcPauses()
    started, cpu = time.perf_counter(), time.process_time()
    indexer.start()
    waits = _waits(index.pending)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    gc.callbacks.remove(pauses)
    indexer.stop()
    child_kb = sum(_status_kb("VmHWM", child.pid) for child in multiprocessing.active_children())
    index.close()
    files, known = index.counts()
    print(f"folder: {folder}  files indexed: {files} of {known}")
    print(f"build time: {elapsed:.1f} s (wall, background thread with rests)")
    peak_mb, now_mb = ((_status_kb(field) - baseline_kb) / 1024 for field in ("VmHWM", "VmRSS"))
    print(f"RSS added at peak: {peak_mb:.1f} MB in the server (baseline "
          f"{baseline_kb / 1024:.1f} MB; now {now_mb:.1f} MB), the parsing process's peak "
          f"{child_kb / 1024:.1f} MB")
    print(f"longest single step (one file, parsed in the child): "
          f"{index.longest_step_s * 1000:.0f} ms")
    print(f"the server's own CPU meanwhile: {cpu:.1f} s (all its threads, the ticking one "
          f"included); its longest garbage collection: {pauses.longest * 1000:.1f} ms")
    for label, found in (("while indexing", waits), (f"the {QUIET_S:.0f} s before", quiet)):
        print(f"a request's wait for the GIL {label}: median "
              f"{statistics.median(found) * 1000:.2f} ms, p99 "
              f"{found[int(len(found) * 0.99)] * 1000:.1f} ms, max {found[-1] * 1000:.1f} ms "
              f"over {len(found)} ticks")


class _GcPauses:
    """The longest garbage collection, which holds the GIL throughout."""

    def __init__(self) -> None:
        self.longest = 0.0
        self._started = 0.0
        gc.callbacks.append(self)

    def __call__(self, phase: str, _info: dict) -> None:
        now = time.perf_counter()
        if phase == "start":
            self._started = now
        else:
            self.longest = max(self.longest, now - self._started)


def _waits(going: Callable[[], bool]) -> list[float]:
    """How much later than asked a 1 ms sleep ends, again and again while `going()`."""
    found = []
    while going():
        asked = time.perf_counter()
        time.sleep(TICK_S)
        found.append(time.perf_counter() - asked - TICK_S)
    return sorted(found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path,
                        help="the workspace to index (default: a copy of the stdlib's Lib/)")
    args = parser.parse_args()
    if args.folder:
        measure(args.folder)
        return
    with tempfile.TemporaryDirectory() as scratch:
        measure(copy_stdlib(Path(scratch) / "Lib"))


if __name__ == "__main__":
    main()
