"""How long the workspace index takes to build in the background, how much memory it
adds, and how long a request can wait for it.

The index of a folder (by default a copy of the standard library's `Lib/` without
site-packages, about 1,800 files) is built by a `BackgroundIndexer` thread with its
default step and rest, as the server runs it. Meanwhile the main thread stands for a
request: it sleeps 1 ms again and again and measures how much later than asked it gets
the GIL back; the worst of those waits is the longest a request waits for the index.
RSS is read from /proc before the build (with the grammars loaded) and at its peak.
Run: nice -n 10 .venv/bin/python -m benchmarks.workspace_index [FOLDER]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from refact_lsp import languages
from refact_lsp.workspace import BackgroundIndexer, WorkspaceIndex

STDLIB = Path(sys.base_prefix) / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}"
TICK_S = 0.001


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _copy_stdlib(target: Path) -> Path:
    """The standard library's sources as a workspace: no site-packages, no bytecode."""
    shutil.copytree(STDLIB, target, symlinks=True, ignore=shutil.ignore_patterns(
        "site-packages", "__pycache__", "config-*", "lib-dynload"))
    return target


def measure(folder: Path) -> None:
    for name in languages.names():  # grammars load once per process, before the baseline
        languages.load(name)
    baseline_kb = _status_kb("VmRSS")
    index = WorkspaceIndex([folder])
    indexer = BackgroundIndexer(index)
    waits = []
    started = time.perf_counter()
    indexer.start()
    while index.pending():
        asked = time.perf_counter()
        time.sleep(TICK_S)
        waits.append(time.perf_counter() - asked - TICK_S)
    elapsed = time.perf_counter() - started
    indexer.stop()
    files, known = index.counts()
    waits.sort()
    print(f"folder: {folder}  files indexed: {files} of {known}")
    print(f"build time: {elapsed:.1f} s (wall, background thread with rests)")
    peak_mb, now_mb = ((_status_kb(field) - baseline_kb) / 1024 for field in ("VmHWM", "VmRSS"))
    print(f"RSS added at peak: {peak_mb:.1f} MB (baseline {baseline_kb / 1024:.1f} MB); "
          f"now {now_mb:.1f} MB")
    print(f"longest single step (one file, GIL passed between slices): "
          f"{index.longest_step_s * 1000:.0f} ms")
    print(f"a request's wait for the GIL: median {statistics.median(waits) * 1000:.2f} ms, "
          f"p99 {waits[int(len(waits) * 0.99)] * 1000:.1f} ms, max {waits[-1] * 1000:.1f} ms "
          f"over {len(waits)} ticks")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path,
                        help="the workspace to index (default: a copy of the stdlib's Lib/)")
    args = parser.parse_args()
    if args.folder:
        measure(args.folder)
        return
    with tempfile.TemporaryDirectory() as scratch:
        measure(_copy_stdlib(Path(scratch) / "Lib"))


if __name__ == "__main__":
    main()
