"""How many threads llama.cpp gets by default: one per physical core this process may
run on, less the cores other programs keep busy (measured before each request).

A hyper-thread shares its core's vector units with its sibling: a second llama.cpp
thread there adds little to the matrix kernels, and every one of llama.cpp's barriers
then waits for the slower of the two. Cores outside the process's CPU affinity (a
container's or `taskset`'s limit) are not counted either.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

SYSFS_CPUS = Path("/sys/devices/system/cpu")
TICKS_PER_S = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


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


# -- cores other programs take --------------------------------------------------------

PROC_STAT = Path("/proc/stat")
PROC_SELF_STAT = Path("/proc/self/stat")
WINDOW_S = 0.5  # measured over the last half second before a request
TAKEN_MARGIN = 0.4  # a core counts as taken once others use 60% of it


def busy_ticks(stat: str) -> int:
    """Clock ticks all CPUs spent on anything but idling (/proc/stat's first line:
    user nice system idle iowait irq softirq steal ...; a hypervisor's steal counts)."""
    fields = [int(value) for value in stat.split("\n", 1)[0].split()[1:9]]
    return sum(fields) - fields[3] - fields[4]


def own_ticks(self_stat: str) -> int:
    """Clock ticks this process's threads ran (/proc/self/stat: utime and stime, after
    the command name, which may hold spaces)."""
    fields = self_stat.rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


class OtherLoad:
    """How many cores other programs kept busy over the last WINDOW_S, measured by a
    sampler thread (two small /proc reads a window).

    With as many llama.cpp threads as cores, a core another program takes makes every
    barrier wait for the thread that lost it: generation with 2 threads on 2 cores, one
    of them busy, runs at half the speed of 1 thread (benchmarks/engine_speed.py
    --busy 1). The engine reads this before each request and leaves such cores out.
    """

    def __init__(self, stat: Path = PROC_STAT, self_stat: Path = PROC_SELF_STAT,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.stat, self.self_stat, self.clock = stat, self_stat, clock
        self.taken = 0.0  # cores, over the last window; 0 where /proc cannot be read
        self._last = self._sample()
        self._stopped = threading.Event()
        self.thread: threading.Thread | None = None

    def _sample(self) -> tuple[float, int, int] | None:
        try:
            return (self.clock(), busy_ticks(self.stat.read_text()),
                    own_ticks(self.self_stat.read_text()))
        except (OSError, ValueError, IndexError):  # not Linux
            return None

    def update(self) -> float:
        """Close a window: the cores other programs used since the last one."""
        now = self._sample()
        if now is not None and self._last is not None and now[0] > self._last[0]:
            others = (now[1] - self._last[1]) - (now[2] - self._last[2])
            self.taken = max(0.0, others / TICKS_PER_S / (now[0] - self._last[0]))
        self._last = now
        return self.taken

    def start(self) -> None:
        """Measure in the background until `stop`; nothing to measure without /proc."""
        if self._last is not None:
            self.thread = threading.Thread(target=self._run, name="other-load", daemon=True)
            self.thread.start()

    def _run(self) -> None:
        while not self._stopped.wait(WINDOW_S):
            self.update()

    def stop(self) -> None:
        self._stopped.set()


def threads_for(cores: int, taken: float) -> int:
    """llama.cpp threads for `cores` cores of which others take `taken`: one less for
    each core others keep mostly busy, at least one."""
    return max(1, cores - math.floor(taken + TAKEN_MARGIN))
