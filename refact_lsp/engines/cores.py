"""How many threads llama.cpp gets by default: one per physical core this process may
run on.

A hyper-thread shares its core's vector units with its sibling: a second llama.cpp
thread there adds little to the matrix kernels, and every one of llama.cpp's barriers
then waits for the slower of the two. Cores outside the process's CPU affinity (a
container's or `taskset`'s limit) are not counted either.
"""

from __future__ import annotations

import os
from pathlib import Path

SYSFS_CPUS = Path("/sys/devices/system/cpu")


def physical_cores(cpus: Path = SYSFS_CPUS) -> int:
    """Physical cores among the CPUs this process may run on (Linux: a core is a set of
    hyper-thread siblings); elsewhere, or where the topology cannot be read, the CPUs."""
    try:
        allowed = sorted(os.sched_getaffinity(0))
    except AttributeError:  # no affinity API (macOS)
        return max(1, os.cpu_count() or 1)
    cores = set()
    for cpu in allowed:
        try:
            cores.add((cpus / f"cpu{cpu}" / "topology" / "thread_siblings_list")
                      .read_text().strip())
        except OSError:
            return max(1, len(allowed))
    return max(1, len(cores))
