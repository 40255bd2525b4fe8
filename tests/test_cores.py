"""Threads for llama.cpp: one per physical core the process may run on (engines/cores.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from refact_lsp.engines.cores import physical_cores


def topology(root: Path, siblings: dict[int, str]) -> Path:
    for cpu, listed in siblings.items():
        folder = root / f"cpu{cpu}" / "topology"
        folder.mkdir(parents=True)
        (folder / "thread_siblings_list").write_text(listed + "\n")
    return root


def test_hyper_thread_siblings_count_as_one_core(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    cpus = topology(tmp_path, {0: "0,2", 1: "1,3", 2: "0,2", 3: "1,3"})
    assert physical_cores(cpus) == 2


def test_only_the_cpus_the_process_may_use_count(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {2})
    assert physical_cores(topology(tmp_path, {0: "0", 1: "1", 2: "2", 3: "3"})) == 1


def test_without_a_topology_each_allowed_cpu_counts(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2})
    assert physical_cores(tmp_path) == 3
