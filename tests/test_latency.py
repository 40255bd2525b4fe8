"""What makes a keystroke pay only for what changed, on the real Qwen2.5-Coder-0.5B:
KV-cache reuse (common prefix, and runs of cached tokens moved to where the new prompt
has them: a window start that moved on, a cursor that jumped), cancellation inside the
prompt, warm-up, smaller windows after a jump, candidates decoded in one batch, and the
suggestion cache. Each warm result is checked against an engine that reuses nothing.
(Speed itself is measured by benchmarks/typing_replay.py, never asserted here.)
"""

from __future__ import annotations

import difflib
import sysconfig
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import tree_sitter_python
from tree_sitter import Language

from refact_lsp import stops
from refact_lsp.completion import Completer, Result, ranked_suggestions
from refact_lsp.config import Settings
from refact_lsp.documents import Document, Position
from refact_lsp.engines.base import Generation, GenerationRequest
from refact_lsp.engines.llama_cpp import EXACT_MS, LlamaCppEngine
from refact_lsp.prompts import FimOrder, render
from tests.support.raw_client import RawServer, tiny_server

pytestmark = pytest.mark.model  # starts the server or loads a model (conftest.py)

SOURCE = (Path(sysconfig.get_paths()["stdlib"]) / "textwrap.py").read_text()
HEAD, BODY = SOURCE[:3000], SOURCE[3000:6000]  # about 700 tokens each
SUFFIX = "\n\ndef main():\n    pass\n"


@pytest.fixture(scope="module")
def engines(model_path: Path) -> Iterator[dict[str, LlamaCppEngine]]:
    made = {"warm": LlamaCppEngine(model_path, n_ctx=2048),
            "cold": LlamaCppEngine(model_path, n_ctx=2048, kv_reuse=False),
            "batch": LlamaCppEngine(model_path, n_ctx=2048, candidates=3)}
    yield made
    for engine in made.values():
        engine.close()


def generate(engine: LlamaCppEngine, prefix: str, **options) -> Generation:
    """Greedy, 16 tokens, no stop rule: comparable token for token."""
    prompt = render(engine.template, FimOrder.PSM, prefix, SUFFIX)
    options.setdefault("should_stop", lambda text: False)
    return engine.generate(GenerationRequest(prompt=prompt, max_tokens=16, **options))


def test_a_prompt_whose_tail_changed_reuses_the_rest(engines) -> None:
    warm, cold = engines["warm"], engines["cold"]
    generate(warm, HEAD + BODY)
    typed = generate(warm, HEAD + BODY + "    def wr")
    assert typed.reused_tokens >= typed.prompt_tokens - 16  # FimOrder.PSM: the suffix comes after
    fresh = generate(cold, HEAD + BODY + "    def wr")
    assert fresh.reused_tokens == 0
    assert typed.text == fresh.text


def test_a_window_whose_start_moved_on_is_shifted_into_place(engines) -> None:
    warm, cold = engines["warm"], engines["cold"]
    generate(warm, HEAD + BODY)
    moved = generate(warm, BODY + "    def wr")  # no common prefix at all
    assert moved.reused_tokens >= 0.9 * moved.prompt_tokens
    # Shifted keys are rotated into their new positions, not computed there afresh:
    # close, not bit-identical, so later tokens may part ways. The first line agrees.
    fresh = generate(cold, BODY + "    def wr")
    assert moved.text.split("\n")[0] == fresh.text.split("\n")[0]


def split_prompt(engine: LlamaCppEngine, cursor: int):
    """The SPLIT prompt at a line start of SOURCE[:7000], its region the last 300
    characters: cursors in one window see the same text cut in different places."""
    text = SOURCE[:7000]
    return render(engine.template, FimOrder.SPLIT, text[:cursor], text[cursor:],
                  region_start=cursor - 300)


def generate_split(engine: LlamaCppEngine, cursor: int, **options) -> Generation:
    return engine.generate(GenerationRequest(prompt=split_prompt(engine, cursor), max_tokens=16,
                                             should_stop=lambda text: False, **options))


def test_a_cursor_that_jumped_keeps_the_text_it_moved_across(engines) -> None:
    warm, cold = engines["warm"], engines["cold"]
    here, there = SOURCE.index("\n", 3000) + 1, SOURCE.index("\n", 5000) + 1
    generate_split(warm, here)
    jumped = generate_split(warm, there)
    # The text between the two cursors moved from the suffix into the prefix, and the
    # suffix after `there` moved left: all kept, only the markers and cuts evaluated.
    assert jumped.reused_tokens >= 0.9 * jumped.prompt_tokens
    fresh = generate_split(cold, there)
    assert jumped.text.split("\n")[0] == fresh.text.split("\n")[0]


def test_where_evaluating_again_is_quick_a_jump_is_exact(engines) -> None:
    """On a GPU the moved runs are evaluated again (here: as if the CPU were that fast)."""
    warm, cold = engines["warm"], engines["cold"]
    here, there = SOURCE.index("\n", 3000) + 1, SOURCE.index("\n", 5000) + 1
    generate_split(warm, here)
    warm.cache.exact_ms = 1e9
    try:
        jumped = generate_split(warm, there)
    finally:
        warm.cache.exact_ms = EXACT_MS
    fresh = generate_split(cold, there)
    assert 0 < jumped.reused_tokens < 0.5 * jumped.prompt_tokens  # the common prefix only
    assert jumped.text == fresh.text


def test_a_jump_cancelled_while_evaluating_loses_nothing(engines) -> None:
    warm = engines["warm"]
    here, there = SOURCE.index("\n", 5500) + 1, SOURCE.index("\n", 2500) + 1

    def jump(cancelled_first: bool) -> Generation:
        warm.cache.kv_reuse = False  # `here` evaluated afresh: the same cache both times
        generate_split(warm, here)
        warm.cache.kv_reuse = True
        if cancelled_first:
            cancel = threading.Event()
            cancel.set()
            stopped = generate_split(warm, there, cancel=cancel)
            assert (stopped.stopped_by, stopped.text) == ("cancelled", "")
        return generate_split(warm, there)

    straight, after = jump(False), jump(True)
    # The runs placed beyond the gap left unfilled stayed, moved left: all kept.
    assert after.reused_tokens >= 0.9 * after.prompt_tokens
    assert after.text == straight.text


def test_after_a_jump_smaller_windows_serve_and_climb_to_the_full_one(model_path: Path) -> None:
    engine = LlamaCppEngine(model_path, n_ctx=2048, jump_ms=1)
    cold = LlamaCppEngine(model_path, n_ctx=2048, kv_reuse=False)
    try:
        def window(prefix: str, chars: int | None = None):
            return render(engine.template, FimOrder.PSM, prefix[-chars:] if chars else prefix,
                          SUFFIX)

        def ask(engine: LlamaCppEngine, prefix: str, awaited: bool = False) -> Generation:
            return generate(engine, prefix, short_prompts=(window(prefix, 200),
                                                           window(prefix, 1000)),
                            awaited=awaited)

        assert engine.prompt_ms_per_token is not None  # measured at load
        assert cold.prompt_ms_per_token is None  # no ladder: nothing to measure for
        engine.jump(0, 0)  # the ladder off: the full prompt
        first = ask(engine, HEAD + BODY)
        assert not first.short_window and first.prompt_tokens > 1000
        jump_ms = 100 * engine.prompt_ms_per_token  # slow: more than 100 tokens
        engine.jump(jump_ms, 600 * engine.prompt_ms_per_token)  # a jump: more than 600
        far = SOURCE[9000:15000]
        jumped = ask(engine, far)  # nothing of it cached: the smallest window serves
        assert jumped.short_window and jumped.prompt_tokens < 100
        assert jumped.text
        # A warm-up grows the middle window beside it; the next request is served from
        # that, exactly as from a fresh evaluation.
        engine.warm(window(far + "    ", 1000), threading.Event(), [window(far, 200)])
        middle = ask(engine, far + "    ")
        assert middle.short_window and 200 < middle.prompt_tokens < 400
        assert middle.reused_tokens >= middle.prompt_tokens - 16
        assert middle.text == generate(cold, (far + "    ")[-1000:]).text
        # Typing on in it: served from the cache, while the full window grows behind it
        # (in pieces cut to GROW_MS, whose batch shapes differ from a fresh evaluation's:
        # at a near tie that alone can change greedy text, so the full window's text is
        # not compared below). Once on the ladder, the full window returns only when it
        # starts within jump_ms, however close jump_start_ms would call it.
        engine.jump(jump_ms, 10_000 * engine.prompt_ms_per_token)
        grown = len(engine.cache.background)
        awaited = ask(engine, far + "    ", awaited=True)  # read at once: nothing first
        assert awaited.short_window and len(engine.cache.background) == grown
        typed = ask(engine, far + "    x")
        assert len(engine.cache.background) > grown
        assert typed.short_window and typed.reused_tokens > 0.8 * middle.prompt_tokens
        # The warm-up on the full prompt climbs the rest of the way.
        grown = engine.warm(window(far), threading.Event(),
                            [window(far, 200), window(far, 1000)])
        assert grown > 1000
        back = ask(engine, far + "    ")
        assert not back.short_window
        assert back.reused_tokens >= back.prompt_tokens - 16  # FimOrder.PSM: the suffix is after
        # Off the ladder, a prompt under jump_start_ms away is served whole, however
        # much over jump_ms it takes (here about 200 new tokens).
        longer = ask(engine, far + "    pass\n" + SOURCE[15000:15800])
        assert not longer.short_window
        assert longer.prompt_tokens - longer.reused_tokens > 150
    finally:
        engine.close()
        cold.close()


def _far_from_the_end(model_path: Path, tmp_path: Path, jump_start_ms: int = 1000
                      ) -> tuple[RawServer, str, int]:
    """A server with the ladder on (a jump: more than `jump_start_ms` of prompt away; a
    rung: what starts within 0.2 s) and textwrap.py open with an empty indented line in
    its first class, far from the end: (server, uri, that line)."""
    server = RawServer("--model", str(model_path), "--n-ctx", "2048", "--n-threads", "2",
                       log_path=tmp_path / "server.log")
    server.initialize({"maxTokens": 8, "jumpPromptMs": 200, "jumpStartMs": jump_start_ms})
    at = SOURCE.index("        self.width = width\n") + len("        self.width = width\n")
    uri = "file:///work/wrap.py"
    server.open_document(uri, SOURCE[:at] + "        \n" + SOURCE[at:])
    return server, uri, SOURCE[:at].count("\n")


def test_while_a_suggestion_from_a_smaller_window_is_read_the_full_one_grows(
        model_path: Path, tmp_path: Path) -> None:
    """Over LSP: after a jump the first answer comes from a smaller window, and the idle
    time after it (the person reads the suggestion) climbs to the full window, so that
    the next line there is served from the whole context."""
    server, uri, line = _far_from_the_end(model_path, tmp_path)
    try:
        def stats() -> dict:
            return server.request("refact/stats")["result"]

        # The warm-up of the file's end, far below the cursor, ends first (its tokens
        # would count as growth below). It climbs the ladder there too (the speed is
        # measured at load): about 3,300 tokens, a minute or more on a loaded machine.
        server._wait_for(lambda: stats()["warmed_tokens"] > 1000, "the warm-up", 300)
        warmed = stats()["warmed_tokens"]
        assert "result" in server.inline_completion(uri, line, 8)
        jumped = stats()["last"]
        assert jumped["short_window"] and jumped["prompt_tokens"] < 200
        # Nobody types: the ladder climbs to the full window, about 1,500 tokens (counted
        # when the climb ends: more than two minutes where other jobs share the cores).
        server._wait_for(lambda: stats()["warmed_tokens"] > warmed + 1200,
                         "growth while the suggestion is read", 300)
        server.notify("textDocument/didChange", {
            "textDocument": {"uri": uri, "version": 2},
            "contentChanges": [{"range": {"start": {"line": line, "character": 8},
                                          "end": {"line": line, "character": 8}},
                                "text": "\n        "}]})
        assert "result" in server.inline_completion(uri, line + 1, 8)
        typed_on = stats()["last"]
        assert not typed_on["short_window"] and typed_on["prompt_tokens"] > 1000
        assert typed_on["reused_tokens"] > 0.95 * typed_on["prompt_tokens"]
    finally:
        assert server.close() == 0


def test_the_first_request_far_from_the_warmed_place_is_served_from_a_smaller_window(
        model_path: Path, tmp_path: Path) -> None:
    """Over LSP: a large file opened and asked for at once, far from its end (where the
    warm-up after loading starts): the first request finds the prompt speed measured at
    load, so it too is served from a smaller window, not after its whole prompt. Typing
    on there, a request grows the next window a little before generating, except at an
    empty line, where people stop to read the suggestion."""
    server, uri, line = _far_from_the_end(model_path, tmp_path)
    try:
        def typed(text: str, at: int, version: int) -> dict:
            server.notify("textDocument/didChange", {
                "textDocument": {"uri": uri, "version": version},
                "contentChanges": [{"range": {"start": {"line": line, "character": at},
                                              "end": {"line": line, "character": at}},
                                    "text": text}]})
            after = text.split("\n")
            column = len(after[-1]) + (at if len(after) == 1 else 0)
            assert "result" in server.inline_completion(uri, line + len(after) - 1, column)
            return server.request("refact/stats")["result"]["last"]

        assert "result" in server.inline_completion(uri, line, 8)
        first = server.request("refact/stats")["result"]["last"]
        assert first["short_window"] and first["prompt_tokens"] < 200
        mid_line = typed("z", 8, 2)  # not what was suggested: no suggestion cache hit
        assert mid_line["short_window"] and mid_line["grown_tokens"] > 0
        empty_line = typed("\n        ", 9, 3)
        assert empty_line["short_window"] and empty_line["grown_tokens"] == 0
    finally:
        assert server.close() == 0


def test_new_jump_times_apply_without_loading_the_model_again(
        model_path: Path, tmp_path: Path) -> None:
    """jumpPromptMs and jumpStartMs changed in the editor (not turned off or on) apply to
    the loaded engine: a model load costs seconds and its cache."""
    server, uri, line = _far_from_the_end(model_path, tmp_path, jump_start_ms=10**7)
    try:
        server.wait_for_log("ready: ")
        server.notify("workspace/didChangeConfiguration",
                      {"settings": {"jumpPromptMs": 300, "jumpStartMs": 1000}})
        assert "result" in server.inline_completion(uri, line, 8)
        assert server.request("refact/stats")["result"]["last"]["short_window"]
        assert server.log().count("ready: ") == 1
        # Off: the engine is made again, without the room for smaller windows.
        server.notify("workspace/didChangeConfiguration", {"settings": {"jumpPromptMs": 0}})
        server._wait_for(lambda: server.log().count("ready: ") == 2, "a new engine", 60)
    finally:
        assert server.close() == 0


def test_a_cancelled_prompt_leaves_the_cache_usable(engines) -> None:
    warm, cold = engines["warm"], engines["cold"]
    cancel = threading.Event()
    cancel.set()
    stopped = generate(warm, SOURCE[6000:9000], cancel=cancel)
    assert (stopped.stopped_by, stopped.text) == ("cancelled", "")
    after = generate(warm, SOURCE[6000:9000] + "x = ")
    assert after.text == generate(cold, SOURCE[6000:9000] + "x = ").text


def test_warm_up_evaluates_the_prompt_that_the_next_request_reuses(engines) -> None:
    warm = engines["warm"]
    prompt = render(warm.template, FimOrder.PSM, SOURCE[9000:11000], SUFFIX)
    evaluated = warm.warm(prompt, threading.Event())
    assert evaluated > 300
    request = generate(warm, SOURCE[9000:11000] + "    ")
    assert request.reused_tokens >= evaluated - 8


def test_candidates_are_decoded_in_one_batch_beside_the_greedy_one(engines) -> None:
    batch, cold = engines["batch"], engines["cold"]
    prefix = HEAD + BODY + "    def wr"
    # The others sampled hot and never stopped: a greedy candidate that saw their tokens
    # (a shared sequence) would not write what the greedy decode writes alone.
    three = generate(batch, prefix, should_stop=lambda text: "\n" in text,
                     more_stops=(lambda text: False,) * 2, candidate_temperature=3.0)
    assert len(three.alternatives) == 2
    for candidate in [three, *three.alternatives]:
        assert candidate.generated_tokens and candidate.mean_logprob is not None
    greedy = generate(cold, prefix, should_stop=lambda text: "\n" in text)
    assert three.text == greedy.text
    # The sampled sequences are gone: the next prompt on the same engine is served as
    # an engine that never sampled them serves it.
    # (Alike, not equal: a KV cache that holds the prompt in other cells sums in another
    # order, and a near tie may go the other way: "(text: str)" / "(text : str)".)
    again = generate(batch, prefix + "ap")
    assert again.reused_tokens > 0
    fresh = generate(cold, prefix + "ap").text
    assert again.text[:3] == fresh[:3]
    assert difflib.SequenceMatcher(None, again.text, fresh).ratio() > 0.6, (again.text, fresh)


def test_smaller_windows_are_built_for_the_embedded_engine_only(engines) -> None:
    """The windows for after a jump (a remote engine gets none: test_http_engines)."""
    at = SOURCE.index("        self.width = width\n") + len("        self.width = width\n")
    document = Document("file:///wrap.py", SOURCE[:at] + "        \n" + SOURCE[at:], 1,
                        "python")
    cursor = document.position_at(at + 8)  # a new line in a method's body
    settings = Settings(jump_prompt_ms=1000)
    job = Completer(engines["warm"], settings).prepare(document, cursor)
    assert not isinstance(job, Result) and len(job.short_prompts) == 3
    sizes = [len(prompt.text) for prompt in (*job.short_prompts, job.prompt)]
    # the smallest is the enclosing method and the file's outline, a tenth of the whole
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1] / 8


def test_candidates_are_decoded_in_one_batch_for_lines_and_blocks(engines) -> None:
    completer = Completer(engines["batch"], Settings(candidates=3, cache=False))
    text = "def mean(xs):\n    total = sum()\n    \n"
    document = Document("file:///mean.py", text, 1, "python")
    line = completer.run(completer.prepare(document, Position(1, 16)))  # `)` follows: one line
    block = completer.run(completer.prepare(document, Position(2, 4)))
    for result in (line, block):
        assert result is not None and result.generation is not None
        assert len(result.generation.alternatives) == 2
        texts = [choice.text for choice in result.choices()]
        assert 1 <= len(texts) <= 3 and len(set(texts)) == len(texts)


def test_the_best_candidate_is_the_surest_of_those_that_fit() -> None:
    plan = stops.decide("def f(x):\n    ", "\n\nprint(f(1))\n", max_lines=4,
                        language=Language(tree_sitter_python.language()))
    greedy = Generation("    return x +\n", "eos", mean_logprob=-0.1)  # does not parse
    unsure = Generation("    return x + 1\n", "eos", mean_logprob=-0.9)
    sure = Generation("    return x * 2\n", "eos", mean_logprob=-0.3)
    ranked = ranked_suggestions(plan, [greedy, unsure, sure])
    assert [suggestion.text for suggestion in ranked] == ["return x * 2", "return x + 1"]
    assert ranked_suggestions(plan, [greedy]) == []
    tie = Generation("    return x - 1\n", "eos", mean_logprob=-0.3)
    ranked = ranked_suggestions(plan, [tie, sure])
    assert ranked[0].text == "return x - 1"  # the first wins a tie


def test_typing_into_a_suggestion_and_undoing_are_served_from_the_cache(engines) -> None:
    completer = Completer(engines["warm"], Settings(max_tokens=32))
    text = "def mean(xs):\n    total = 0\n    for x in xs:\n        \n    return total\n"
    document = Document("file:///mean.py", text, 1, "python")
    cursor = Position(3, 8)
    job = completer.prepare(document, cursor)
    assert not isinstance(job, Result)
    shown = completer.run(job)
    assert shown is not None and len(shown.text) > 3, shown
    generations = completer.stats.generations

    document.replace(Position(3, 8), Position(3, 8), shown.text[:3])
    typed = completer.prepare(document, Position(3, 11))
    assert isinstance(typed, Result) and typed.reason == "cache"
    assert typed.text == shown.text[3:]

    document.replace(Position(3, 8), Position(3, 11), "")  # undo
    undone = completer.prepare(document, cursor)
    assert isinstance(undone, Result) and undone.reason == "cache"
    assert undone.text == shown.text
    assert completer.stats.generations == generations  # no model call for either


def test_opening_a_document_warms_the_prompt_of_its_first_request(tmp_path: Path) -> None:
    server = tiny_server(tmp_path)
    uri = "file:///work/warm.py"
    text = "import os\n\n\ndef f(x):\n    y = x + 1\n    return y\n\n\n"
    server.open_document(uri, text)
    server._wait_for(lambda: server.request("refact/stats")["result"]["warmed_tokens"] > 0,
                     "a warm-up", 60)
    assert "result" in server.inline_completion(uri, 8, 0)
    last = server.request("refact/stats")["result"]["last"]
    assert last["reused_tokens"] > 0.8 * last["prompt_tokens"]
    assert server.close() == 0
