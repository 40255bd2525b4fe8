"""One request end to end without a model: Completer (prepare, run, the retry without
healed indentation, the suggestion cache, candidates), Worker (supersede, warm-ups,
cancel inside the token loop) and the service's told-once rule, on the scripted engine."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from refact_lsp import service as service_module
from refact_lsp.completion import Completer, Job, Result, Worker
from refact_lsp.config import Settings
from refact_lsp.documents import Document, Position
from refact_lsp.engines.base import EngineError, StopReason
from refact_lsp.prompts import TEMPLATES, ContextFile, FimOrder, render
from refact_lsp.repository import Repository
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


def test_a_model_that_only_writes_the_next_line_again_is_asked_once_more_without_it() -> None:
    source = "def area(width, height):\n    \n    return size\n"
    comp, engine = completer("    return size\n", "    size = width * height\n")
    result = run(comp, document(source), Position(1, 4))
    assert result.text == "size = width * height"
    assert [request.avoid_line for request in engine.requests] == ["", "return size"]


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


def test_a_smaller_windows_suggestion_is_served_only_while_typed_into_on_the_ladder() -> None:
    """Typing into it while smaller windows still serve gets its rest; asking again
    where it was made, or once the full window serves, asks the model."""
    comp, engine = completer(*["    return width * height\n\n"] * 3)
    engine.short_window = engine.climbing = True
    doc = document()
    assert run(comp, doc, BODY).text == "return width * height"
    assert isinstance(comp.prepare(doc, BODY), Job)
    doc.replace(BODY, BODY, "return w")
    hit = comp.prepare(doc, Position(4, 12))
    assert isinstance(hit, Result) and (hit.reason, hit.text) == ("cache", "idth * height")
    engine.climbing = False
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


def test_the_confidence_gate_withholds_what_the_model_was_unsure_of() -> None:
    """minConfidence weighs the log-probabilities of the tokens that wrote the shown
    text; 0 shows everything; an engine without probabilities is never gated."""
    answer = "    return width * height\n\n"
    for logprob, gate, shown in [(-2.0, 0.5, False), (-2.0, 0.0, True), (-0.05, 0.5, True)]:
        engine = ScriptedEngine(answers=[answer, answer], logprobs=[logprob, logprob])
        result = run(Completer(engine, Settings(min_confidence=gate)), document(), BODY)
        assert (result.text == "return width * height") is shown, (logprob, gate)
    engine = ScriptedEngine(answers=[answer], logprobs=[-2.0])
    engine.generate = _without_logprobs(engine.generate)  # type: ignore[method-assign]
    result = run(Completer(engine, Settings(min_confidence=0.99)), document(), BODY)
    assert result.text == "return width * height"


def test_the_stats_say_what_the_model_said_of_the_shown_suggestion() -> None:
    """`refact/stats` carries the evidence of the first suggestion shown (the gate's
    calibration reads it), from the candidate that wrote it; none where none is shown."""
    engine = ScriptedEngine(answers=["    return width +\n\n", "    return width * height\n\n"],
                            logprobs=[-0.1, -0.7], candidates=True)
    comp = Completer(engine, Settings(candidates=2))
    assert run(comp, document(), BODY).text == "return width * height"
    shown = comp.stats_dict()["shown_evidence"]
    assert shown["mean_logprob"] == pytest.approx(-0.7) and not shown["short_window"]
    assert 0 < shown["score"] < 1
    nothing = ScriptedEngine(answers=["    return width +\n\n", "    return width +\n\n"],
                             logprobs=[-0.1, -0.1])
    comp = Completer(nothing, Settings())
    assert run(comp, document(), BODY).text == ""
    assert comp.stats_dict()["shown_evidence"] is None


def _without_logprobs(generate: Any) -> Any:
    def wrapped(request: Any) -> Any:
        generation = generate(request)
        generation.token_logprobs = []
        return generation
    return wrapped


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


def test_warm_ups_run_when_idle_and_stop_for_a_request_an_edit_or_a_close() -> None:
    comp, engine = completer("    return 1\n\n")
    started, stopped = threading.Event(), threading.Event()

    def slow_warm(prompt: Any, cancel: threading.Event, short_prompts: Any = ()) -> int:
        started.set()
        if cancel.wait(5):
            stopped.set()
        return 0

    engine.warm = slow_warm  # type: ignore[method-assign]
    worker = Worker(comp.run)
    try:
        doc = document()
        worker.warm(job_for(comp, doc, warm=True))
        assert started.wait(5)
        worker.supersede(document(uri="file:///other.py").uri)  # another document's edit
        assert not stopped.wait(0.2)
        worker.supersede(doc.uri)  # this document edited or closed
        assert stopped.wait(5)
        started.clear()
        stopped.clear()
        worker.warm(job_for(comp, doc, warm=True))
        assert started.wait(5)
        answer = worker.submit(doc.uri, job_for(comp, doc))  # stops the warm-up
        assert answer.result(5).text == "return 1"
        assert stopped.is_set()
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


# -- the repository in the prompt ------------------------------------------------------------

HELPERS = '''"""Helpers."""


def parse_size(text):
    """Bytes in a size such as 10k."""
    units = {"k": 1024, "m": 1024 ** 2}
    return int(text[:-1]) * units[text[-1]]


def unrelated():
    return 42


class Limits:
    maximum = 10
'''
CHECK = ("from helpers import parse_size, Limits\n\ndef check(arg):\n"
         "    size = parse_size(arg)\n    ")


@pytest.fixture
def workspace(tmp_path: Any) -> Any:
    """A folder with helpers.py on disk only and check.py, indexed in this process."""
    (tmp_path / "helpers.py").write_text(HELPERS)
    (tmp_path / "check.py").write_text(CHECK + "\n")
    repository = Repository([str(tmp_path)], isolated=False)
    while repository.index.build_step(1.0):
        pass
    yield tmp_path, repository
    repository.close()


def test_a_file_the_current_one_imports_is_in_the_prompt_as_a_file_before_it(
        workspace: Any) -> None:
    folder, repository = workspace
    engine = ScriptedEngine(answers=["return size\n"])
    comp = Completer(engine, Settings(context_tokens=200, workspace_context=True), repository)
    doc = Document((folder / "check.py").as_uri(), CHECK + "\n", 1, "python")
    job = comp.prepare(doc, Position(4, 4))
    assert isinstance(job, Job)
    text = job.prompt.text
    assert text.startswith(f"<|repo_name|>{folder.name}\n<|file_sep|>helpers.py\n")  # Qwen's
    assert "def parse_size(text):" in text and "class Limits:" in text
    assert "unrelated" not in text
    assert "<|file_sep|>check.py\n<|fim_prefix|>" in text
    assert job.prompt.context_files and all(
        "unrelated" not in item.text for item in job.prompt.context_files)
    off = Completer(engine, Settings(), repository).prepare(doc, Position(4, 4))  # the default
    assert isinstance(off, Job) and "parse_size(text)" not in off.prompt.text


def test_without_a_file_separator_snippets_are_comments_of_the_files_language(
        workspace: Any) -> None:
    folder, repository = workspace
    engine = ScriptedEngine(template=TEMPLATES["refact"])
    doc = Document((folder / "check.py").as_uri(), CHECK + "\n", 1, "python")
    settings = Settings(context_tokens=200, workspace_context=True)
    job = Completer(engine, settings, repository).prepare(doc, Position(4, 4))
    assert isinstance(job, Job)
    prefix = job.prompt.text.split("<fim_prefix>", 1)[1]
    assert prefix.startswith("# Path: helpers.py\n# def parse_size(text):\n")
    js = Document("file:///work/app.js", "import { f } from './lib.js';\nf(\n", 1,
                  "javascript")
    assert render(TEMPLATES["refact"], FimOrder.AUTO, "x", "", (ContextFile("lib.js", "a"),),
                  comment="//").text.startswith("<fim_suffix><fim_prefix>// Path: lib.js\n")
    assert js.language is not None and js.language.line_comment == "//"


def test_the_snippets_budget_is_held_and_taken_from_the_prefix(workspace: Any) -> None:
    folder, repository = workspace
    engine = ScriptedEngine(n_ctx=2048)
    doc = Document((folder / "check.py").as_uri(), CHECK + "\n", 1, "python")
    for budget in range(0, 200, 10):
        settings = Settings(context_tokens=budget, workspace_context=True)
        job = Completer(engine, settings, repository).prepare(doc, Position(4, 4))
        assert isinstance(job, Job)
        files = job.prompt.context_files
        assert sum(len(f"{item.path}\n{item.text}\n") for item in files) <= budget
        # The files' tokens come out of the prefix's budget: the prompt never grows past
        # the window the settings give.
        assert len(job.prompt.text) <= sum(Settings().budgets(2048)) + 64


def test_a_cursor_inside_a_word_backs_the_prompt_up_for_the_model_to_write_it_again() -> None:
    """Token healing: the prompt ends before the word being typed (at the engine's token
    boundary), the engine is told what it must write first, and the suggestion is what
    comes after the cursor."""
    comp, engine = completer("th * height\n")
    doc = document(SOURCE.replace("    \n\n\nprint", "    return wid\n\n\nprint"))
    result = run(comp, doc, Position(4, 14))
    assert result.text == "th * height"
    request = engine.requests[0]
    assert request.heal_text == "wid"
    assert request.prompt.text.endswith("return ")  # Qwen's split layout: the region last
    off, engine = completer("th * height\n", token_healing=False)
    run(off, doc, Position(4, 14))
    assert engine.requests[0].heal_text == "" and engine.requests[0].prompt.text.endswith(
        "return wid")


def test_a_smaller_windows_answer_is_one_line_where_one_parses_the_full_windows_a_block(
        ) -> None:
    """From a smaller window after a jump the model writes one line (provisional, and
    replaced once a larger window is ready), or a block where its first line opens one;
    the full window's answer is the block."""
    lines = "    area = width * height\n    return area\n\n"
    block = "    if width < 0:\n        raise ValueError(width)\n\n"
    comp, engine = completer(lines, block, lines)
    engine.serves_short_prompts = engine.short_window = engine.climbing = True
    assert run(comp, document(), BODY).text == "area = width * height"
    assert engine.requests[0].short_window_stops  # this engine serves smaller windows
    comp.forget(document().uri)
    assert run(comp, document(), BODY).text == "if width < 0:\n        raise ValueError(width)"
    comp.forget(document().uri)
    engine.short_window = engine.climbing = False
    assert run(comp, document(), BODY).text == "area = width * height\n    return area"


def test_the_first_answer_in_a_document_comes_from_a_larger_smallest_window() -> None:
    """Until the model has answered in a document (a file just opened) its smallest
    window holds 192 tokens before the cursor; after that, and for a jump, 128. A
    cancelled request answers nothing, and a document closed and opened again starts
    over."""
    comp, engine = completer("area = width * height\n")
    engine.serves_short_prompts = True
    budgets: list[int] = []
    build = comp.windows.build

    def recorded(document: Document, offset: int, prefix: int, suffix: int,
                 enclosing: bool = False, sibling: bool = False) -> Any:
        budgets.append(prefix)
        return build(document, offset, prefix, suffix, enclosing, sibling)

    comp.windows.build = recorded  # type: ignore[method-assign]

    def smallest(cancel: bool = False) -> int:
        budgets.clear()
        job = comp.prepare(document(), BODY)
        assert isinstance(job, Job) and len(job.short_prompts) == 3
        if cancel:
            job.cancel.set()
        comp.run(job)
        return min(budgets)

    assert [smallest(cancel=True), smallest(), smallest()] == [192, 192, 128]
    comp.forget(document().uri)
    assert smallest() == 192
