"""The HumanEval chat benchmark: its questions and programs, and a whole run on two
problems with the tiny random-weight Refact GGUF (tiny_gguf.py), so that it cannot rot:
the server over LSP against the engine's chat in process (the reference for a model
without a GGUF chat template)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.humaneval_chat import prompts
from benchmarks.humaneval_chat.__main__ import Score, from_log, report
from benchmarks.humaneval_infill import execute, tasks
from tests.support.tiny_gguf import write_tiny_refact_gguf

ROOT = Path(__file__).resolve().parent.parent


def problem(number: int) -> dict:
    return tasks.problems()[number]


def test_the_question_is_the_prompt_in_a_code_block():
    first = problem(0)
    asked = prompts.question(first)
    assert asked.startswith(prompts.INSTRUCTION)
    assert f"```python\n{first['prompt'].strip()}\n```" in asked


def test_a_whole_function_in_a_fenced_block_passes_with_the_prompts_imports():
    first = problem(0)  # has_close_elements(numbers: List[float], ...): List from the prompt
    solution = "\n".join([
        "def has_close_elements(numbers: List[float], threshold: float) -> bool:",
        "    for i, a in enumerate(numbers):",
        "        for b in numbers[i + 1:]:",
        "            if abs(a - b) < threshold:",
        "                return True",
        "    return False"])
    answer = f"Here it is:\n\n```python\n{solution}\n```\n\nIt compares every pair."
    assert execute.passes(prompts.program(first, answer))
    assert not execute.passes(prompts.program(first, "```python\ndef f():\n    pass\n```"))


def test_an_answer_that_is_only_a_body_goes_under_the_prompts_signature():
    second = problem(2)  # truncate_number(number: float) -> float
    assert second["entry_point"] == "truncate_number"
    assert execute.passes(prompts.program(second, "return number % 1.0"))
    assert execute.passes(prompts.program(second, "```\n    return number % 1.0\n```"))


def test_the_report_gives_both_rates_the_gap_and_the_medians():
    server = Score("refact/chat over LSP", [True, False, True, True], [1.0, 2.0, 3.0, 9.0])
    direct = Score("llama-cpp-python chat completion", [True, False, False, True],
                   [1.0, 1.0, 2.0, 2.0])
    printed = report(server, direct)
    assert "refact/chat over LSP                    4    75.0%      2.50" in printed
    assert "llama-cpp-python chat completion        4    50.0%      1.50" in printed
    assert "gap (server - reference): +25.0 points, 3 vs 2 passed" in printed


def test_a_failed_answer_is_told_empty_cut_uncompilable_or_wrong(tmp_path: Path):
    first = problem(0)
    reasons = {answer: prompts.failure(first, answer) for answer in [
        "", "```python\ndef has_close_elements(numbers, threshold):\n    for",
        "```python\ndef has_close_elements(numbers, threshold) return\n```",
        "```python\ndef has_close_elements(numbers, threshold):\n    return True\n```"]}
    assert list(reasons.values()) == list(prompts.Failure)
    log = tmp_path / "chat.jsonl"
    log.write_text("".join(json.dumps({"system": "server", "task": first["task_id"],
                                       "passed": False, "seconds": 1.0, "answer": answer})
                           + "\n" for answer in reasons))
    [server] = from_log(str(log))
    assert server.rate == 0 and dict(server.failures) == dict.fromkeys(prompts.Failure, 1)
    assert "server failed: 1 empty answer, 1 cut at max tokens, 1 does not compile, " \
        "1 tests fail" in report(server, server)


@pytest.mark.model
def test_two_problems_run_through_both_systems_on_the_tiny_model(tmp_path: Path):
    model = write_tiny_refact_gguf(tmp_path / "tiny.gguf")
    log = tmp_path / "answers.jsonl"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.humaneval_chat", "--limit", "2", "--seed", "3",
         "--model", str(model), "--max-tokens", "12", "--threads", "1",
         "--gpu-layers", "0", "--log", str(log)],
        capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-4000:]
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    sample = [p["task_id"] for p in tasks.sample(tasks.problems(), 2, 3)]
    for system in ("refact/chat over LSP", "engine chat, in process"):
        assert [e["task"] for e in entries if e["system"] == system] == sample
        assert f"{system:<34}      2 " in done.stdout, done.stdout
    assert any(e["answer"] for e in entries), entries  # the random model says something
    # The same model, template and greedy decoding: the server changes no answer.
    answers = {(e["system"], e["task"]): e["answer"] for e in entries}
    for task in sample:
        assert answers["refact/chat over LSP", task] == answers["engine chat, in process", task]
    assert "gap (server - reference): " in done.stdout
