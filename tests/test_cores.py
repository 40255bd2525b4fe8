"""Threads for llama.cpp: one per physical core the process may run on, less the cores
other programs keep busy (engines/cores.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from refact_lsp.engines.cores import (
    TICKS_PER_S,
    WINDOW_S,
    OtherLoad,
    busy_ticks,
    own_ticks,
    physical_cores,
    threads_for,
)


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


def _stat(busy: int, idle: int) -> str:
    """/proc/stat with `busy` ticks of user time and `idle` of idle (and a little
    iowait, which is idle too)."""
    return f"cpu  {busy} 0 0 {idle} 7 0 0 0 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\nintr 1\n"


def _self_stat(ticks: int) -> str:
    fields = ["S", *["0"] * 10, str(ticks), "0", *["0"] * 30]
    return "4048 (python (x)) " + " ".join(fields)


def test_busy_and_own_ticks_are_read_from_proc() -> None:
    assert busy_ticks("cpu  10 1 2 100 5 3 4 6 0 0\n") == 10 + 1 + 2 + 3 + 4 + 6
    assert own_ticks(_self_stat(42)) == 42  # a name with spaces and parentheses


def test_the_cores_other_programs_take_are_measured_window_by_window(tmp_path: Path
                                                                      ) -> None:
    stat, self_stat = tmp_path / "stat", tmp_path / "self"
    now = [0.0]
    stat.write_text(_stat(0, 0))
    self_stat.write_text(_self_stat(0))
    load = OtherLoad(stat, self_stat, clock=lambda: now[0])
    # two seconds: this process ran one core's worth, others another core's worth
    now[0] = 2.0
    stat.write_text(_stat(4 * TICKS_PER_S, 0))
    self_stat.write_text(_self_stat(2 * TICKS_PER_S))
    assert load.update() == pytest.approx(1.0) and load.taken == pytest.approx(1.0)
    now[0] = 3.0  # then only this process, half a core
    stat.write_text(_stat(int(4.5 * TICKS_PER_S), 10 * TICKS_PER_S))
    self_stat.write_text(_self_stat(int(2.5 * TICKS_PER_S)))
    assert load.update() == pytest.approx(0.0)
    missing = OtherLoad(tmp_path / "none", self_stat)  # not Linux
    missing.start()  # no thread: nothing to measure
    assert missing.update() == 0.0


def test_the_sampler_thread_measures_until_stopped() -> None:
    load = OtherLoad()
    load.start()
    assert load.thread is not None and load.thread.is_alive()
    load.stop()
    load.thread.join(timeout=2 * WINDOW_S)
    assert not load.thread.is_alive()


def test_a_core_others_keep_mostly_busy_is_left_out() -> None:
    assert threads_for(2, 0.0) == 2
    assert threads_for(2, 0.5) == 2  # a light load: all cores still pay
    assert threads_for(2, 0.65) == 1  # a busy program beside ours gets about 2/3 of a core
    assert threads_for(2, 3.0) == 1  # at least one
    assert threads_for(8, 2.0) == 6


@pytest.mark.model
def test_the_engine_gives_up_a_core_another_program_takes(model_path: Path) -> None:
    from refact_lsp.engines.base import GenerationRequest
    from refact_lsp.engines.llama_cpp import LlamaCppEngine
    from refact_lsp.prompts import Prompt

    engine = LlamaCppEngine(model_path, n_ctx=512)
    fixed = LlamaCppEngine(model_path, n_ctx=512, n_threads=2)
    try:
        import llama_cpp

        cores = physical_cores()

        engine._load.stop()  # type: ignore[union-attr]  # noqa: SLF001
        engine._load.taken = 1.0  # type: ignore[union-attr]  # noqa: SLF001
        request = GenerationRequest(prompt=Prompt(parts=(("def add(a, b):", False),)), max_tokens=2,
                                    should_stop=lambda text: False)
        engine.generate(request)
        fixed.generate(request)
        assert llama_cpp.llama_n_threads(engine.llm.ctx) == max(1, cores - 1)
        assert llama_cpp.llama_n_threads(fixed.llm.ctx) == 2  # set by the person: kept
        engine._load.taken = 0.0  # type: ignore[union-attr]  # noqa: SLF001
        engine.generate(request)
        assert llama_cpp.llama_n_threads(engine.llm.ctx) == cores
    finally:
        engine.close()
        fixed.close()
