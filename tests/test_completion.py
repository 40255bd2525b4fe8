"""One request end to end without a model: Completer (prepare, run, the retry without
healed indentation, the suggestion cache, candidates), Worker (supersede, warm-ups,
cancel inside the token loop) and the service's told-once rule, on the scripted engine."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from refact_lsp import service as service_module
from refact_lsp.completion import Completer, Job, Result, Worker
from refact_lsp.config import Settings
from refact_lsp.documents import Document, Position
from refact_lsp.engines.base import EngineError, StopReason
from refact_lsp.service import CompletionService
from tests.support.scripted_engine import ScriptedEngine

SOURCE = "import os\n\n\ndef area(width, height):\n    \n\n\nprint(area(2, 3))\n"
BODY = Position(4, 4)  # the empty function body


def document(text: str = SOURCE, uri: str = "file:///work/shapes.py",
             language: str = "python") -> Document:
    return Document(uri, text, 1, language)


def completer(*answers: Any, **settings: Any) -> tuple[Completer, ScriptedEngine]:
    engine = ScriptedEngine(answers=list(answers))
    return Completer(engine, Settings(**settings)), engine


def run(completer: Completer, doc: Document, position: Position) -> Result:
    prepared = completer.prepare(doc, position)
    return completer.run(prepared) if isinstance(prepared, Job) else prepared


# -- Completer -------------------------------------------------------------------------


def test_a_block_is_generated_healed_trimmed_and_placed_at_the_cursor() -> None:
    """The cursor's indentation is left out of the prompt (the model writes it again),
    the block ends where the code after it starts, and the range is the cursor."""
    comp, engine = completer("    return width * height\n\n\nprint(area(2, 3))\n")
    result = run(comp, document(), BODY)
    assert result.text == "return width * height"
    assert (result.start, result.end) == (BODY, BODY)
    prompt = engine.requests[0].prompt
    assert prompt.prefix.endswith("def area(width, height):\n")  # healed: no indentation
    assert result.reason == StopReason.STOP  # the stop rule ended it at the blank line


def test_a_model_that_refuses_the_healed_prompt_is_asked_again_with_the_indentation() -> None:
    comp, engine = completer("        x = 1\n", "return width * height\n")
    result = run(comp, document(), BODY)
    assert result.text == "return width * height"
    assert len(engine.requests) == 2
    assert engine.requests[1].prompt.prefix.endswith("):\n    ")


def test_nothing_is_generated_inside_a_comment_or_a_disabled_language() -> None:
    comp, engine = completer("never")
    commented = document("# compute the area of\n")
    assert run(comp, commented, Position(0, 9)).text == ""
    off, _ = completer("never", disabled_languages=("python",))
    assert off.prepare(document(), BODY).reason == "language disabled"
    assert engine.requests == []


def test_typing_into_a_suggestion_is_served_from_the_cache() -> None:
    comp, engine = completer("    return width * height\n\n")
    doc = document()
    assert run(comp, doc, BODY).text == "return width * height"
    doc.replace(BODY, BODY, "return w")
    hit = comp.prepare(doc, Position(4, 12))
    assert isinstance(hit, Result) and hit.reason == "cache"
    assert hit.text == "idth * height"
    assert len(engine.requests) == 1 and comp.stats.cache_hits == 1
    comp.forget(doc.uri)
    assert isinstance(comp.prepare(doc, Position(4, 12)), Job)


def test_of_several_candidates_the_surest_that_fits_is_shown_first() -> None:
    engine = ScriptedEngine(answers=["    return 0\n\n", "    return width * height\n\n",
                                     "    )))\n"], logprobs=[-2.0, -0.3, -0.1],
                            candidates=True)
    comp = Completer(engine, Settings(candidates=3))
    result = run(comp, document(), BODY)
    assert result.text == "return width * height"  # ")))" was surer but does not parse
    assert [choice.text for choice in result.choices()] == ["return width * height",
                                                            "return 0"]
    assert len(engine.requests[0].more_stops) == 2


def test_on_one_line_the_greedy_candidate_comes_first_and_alternatives_are_distinct() -> None:
    line = "def area(width, height):\n    return wi\n"
    engine = ScriptedEngine(answers=["dth + height\n", "dth * height\n", "dth + height\n",
                                     "dth - height\n"], logprobs=[-0.9, -0.2, -0.1, -0.5],
                            candidates=True)
    comp = Completer(engine, Settings(candidates=4))
    result = run(comp, document(line), Position(1, 13))
    assert [choice.text for choice in result.choices()] == [
        "dth + height", "dth * height", "dth - height"]  # greedy, then by log-probability
    assert all(choice.end == Position(1, 13) for choice in result.choices())
    assert len(engine.requests[0].more_stops) == 3  # sampled for one line too


def test_the_cache_keeps_the_alternatives_that_agree_with_what_was_typed() -> None:
    engine = ScriptedEngine(answers=["    return width * height\n\n", "    return 0\n\n"],
                            logprobs=[-0.5, -0.9], candidates=True)
    comp = Completer(engine, Settings(candidates=2))
    doc = document()
    assert len(run(comp, doc, BODY).choices()) == 2
    again = comp.prepare(doc, BODY)  # an editor asking again, for its "next" key
    assert isinstance(again, Result) and again.reason == "cache"
    assert [choice.text for choice in again.choices()] == ["return width * height", "return 0"]
    doc.replace(BODY, BODY, "return w")
    typed = comp.prepare(doc, Position(4, 12))
    assert isinstance(typed, Result)
    assert [choice.text for choice in typed.choices()] == ["idth * height"]
    assert len(engine.requests) == 1


def test_one_candidate_means_no_alternatives() -> None:
    comp, engine = completer("    return width * height\n\n")
    result = run(comp, document(), BODY)
    assert result.alternatives == () and len(result.choices()) == 1
    assert engine.requests[0].more_stops == ()
    assert Result("", BODY, BODY).choices() == ()


def test_a_warm_job_only_evaluates_the_prompt() -> None:
    comp, engine = completer("unused")
    job = comp.prepare(document(), BODY, warm=True)
    assert isinstance(job, Job) and job.warm_only
    assert comp.run(job) is None
    assert engine.warmed == [job.prompt] and engine.requests == []


# -- Worker ----------------------------------------------------------------------------


def job_for(comp: Completer, doc: Document, warm: bool = False) -> Job:
    job = comp.prepare(doc, BODY, warm=warm)
    assert isinstance(job, Job)
    return job


def test_a_newer_request_for_a_document_cancels_the_running_one_within_a_token() -> None:
    started, release = threading.Event(), threading.Event()

    def block_at_token(index: int) -> None:
        if index == 3:
            started.set()
            release.wait(5)

    comp, engine = completer("    return width * height\n\n", "    return 0\n\n")
    engine.on_token = block_at_token
    worker = Worker(comp.run)
    try:
        doc = document()
        first = worker.submit(doc.uri, job_for(comp, doc))
        assert started.wait(5)
        second = worker.submit(doc.uri, job_for(comp, doc))  # supersedes the first
        release.set()
        assert first.result(5).reason == StopReason.CANCELLED
        assert first.result(5).generation.generated_tokens == 3  # stopped at the next token
        assert second.result(5).text == "return 0"
    finally:
        worker.close()


def test_a_queued_request_superseded_before_it_runs_is_settled_empty() -> None:
    release = threading.Event()
    comp, engine = completer("    return 1\n\n", "    return 2\n\n", "    return 3\n\n")
    engine.on_token = lambda index: release.wait(5)
    worker = Worker(comp.run)
    try:
        a, b = document(uri="file:///a.py"), document(uri="file:///b.py")
        running = worker.submit(a.uri, job_for(comp, a))
        queued = worker.submit(b.uri, job_for(comp, b))
        worker.supersede(b.uri)
        assert queued.result(5) is None
        release.set()
        assert running.result(5).text == "return 1"
    finally:
        worker.close()


def test_warm_ups_run_when_idle_and_yield_to_a_request() -> None:
    comp, engine = completer("    return 1\n\n")
    warm_started, release = threading.Event(), threading.Event()

    def slow_warm(prompt: Any, cancel: threading.Event, short_prompts: Any = ()) -> int:
        warm_started.set()
        while not cancel.is_set() and not release.is_set():
            time.sleep(0.001)
        return 0 if cancel.is_set() else 1

    engine.warm = slow_warm  # type: ignore[method-assign]
    worker = Worker(comp.run)
    try:
        doc = document()
        worker.warm(job_for(comp, doc, warm=True))
        assert warm_started.wait(5)
        answer = worker.submit(doc.uri, job_for(comp, doc))  # stops the warm-up
        assert answer.result(5).text == "return 1"
        assert not release.is_set()
    finally:
        worker.close()


# -- the service (no LSP) -----------------------------------------------------------------


def test_the_service_tells_a_failing_engine_once_until_a_request_works(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A problem is shown once, however many requests and warm-ups meet it; once a real
    request worked, the same problem is news again."""

    class Flaky(ScriptedEngine):
        failing = True

        def generate(self, request: Any) -> Any:
            if self.failing:
                raise EngineError("the engine at http://x broke")
            return super().generate(request)

    engine = Flaky(answers=["    return 1\n\n"])
    monkeypatch.setattr(service_module, "create_engine", lambda settings, progress: engine)
    told: list[str] = []
    doc = document()
    service = CompletionService(Settings(cache=False), {doc.uri: doc}, told.append,
                                NoProgress)

    async def session() -> list[Result | None]:
        service.loop = asyncio.get_running_loop()
        answers = [await service.suggest(doc.uri, BODY) for _ in range(3)]
        service.warm_soon(doc.uri, BODY, delay=0)
        await asyncio.sleep(0.2)  # the warm-up ran
        answers.append(await service.suggest(doc.uri, BODY))
        engine.failing = False
        answers.append(await service.suggest(doc.uri, BODY))
        engine.failing = True
        answers.append(await service.suggest(doc.uri, BODY))
        return answers

    answers = asyncio.run(session())
    service.unload_engine()
    assert [answer.text if answer else None for answer in answers] == \
        [None, None, None, None, "return 1", None]
    assert told == ["the engine at http://x broke"] * 2
    assert engine.warmed  # the warm-up reached the engine and did not reset the rule


class NoProgress:
    def begin(self, title: str) -> None:
        pass

    def __call__(self, done: int, total: int | None, message: str) -> None:
        pass

    def end(self, message: str) -> None:
        pass
