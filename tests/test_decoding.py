"""Prompt-lookup drafts and token healing in the embedded engine, on the real model:
drafts change nothing but the number of decode steps; healing lets a cursor inside a
word be completed as the model tokenizes the word."""

from __future__ import annotations

import dataclasses
import math
import os
import sysconfig
from collections.abc import Iterator
from pathlib import Path

import pytest

from refact_lsp.engines.base import Generation, GenerationRequest
from refact_lsp.engines.llama_cpp import LlamaCppEngine
from refact_lsp.prompts import FimOrder, render

pytestmark = pytest.mark.model  # loads the model (conftest.py)

STDLIB = Path(sysconfig.get_paths()["stdlib"])
# Holes in real code (the standard library's own): (file, a line's text to stop after).
HOLES = [("textwrap.py", "        if self.break_on_hyphens is True:"),
         ("textwrap.py", "    def _split_chunks(self, text):"),
         ("shlex.py", "    def push_token(self, tok):"),
         ("shlex.py", "        if self.debug >= 1:"),
         ("fnmatch.py", "def filter(names, pat):"),
         ("fnmatch.py", "    res = []"),
         ("calendar.py", "    def itermonthdays(self, year, month):"),
         ("calendar.py", "    def formatweekday(self, day, width):")]


@pytest.fixture(scope="module")
def engine(model_path: Path) -> Iterator[LlamaCppEngine]:
    made = LlamaCppEngine(model_path, n_ctx=2048, n_threads=2)
    yield made
    made.close()


def hole(name: str, line: str) -> tuple[str, str]:
    """1,500 characters before the end of `line` (and its line break), 500 after."""
    text = (STDLIB / name).read_text()
    cursor = text.index(line + "\n") + len(line) + 1
    return text[max(0, cursor - 1500):cursor], text[cursor:cursor + 500]


def generate(engine: LlamaCppEngine, prefix: str, suffix: str, *, lookup: bool,
             heal_text: str = "", max_tokens: int = 48) -> Generation:
    return engine.generate(GenerationRequest(
        prompt=render(engine.template, FimOrder.PSM, prefix, suffix), max_tokens=max_tokens,
        should_stop=lambda text: text.count("\n") >= 4, lookup=lookup, heal_text=heal_text))


def first_difference_logprobs(a: Generation, b: Generation) -> tuple[float, float] | None:
    """Where two outputs part: each one's log-probability of the token that wrote past
    their common start; None where one ends there."""
    common = len(os.path.commonprefix([a.text, b.text]))
    found = [next((logprob for end, logprob in g.token_logprobs if end > common), None)
             for g in (a, b)]
    return None if None in found else (found[0], found[1])


def test_drafts_give_the_same_output_as_one_token_at_a_time(engine: LlamaCppEngine) -> None:
    """Drafts checked in one batch leave the output as greedy decoding makes it. A batch
    is computed in another order than one token at a time, so the last bits of the
    logits may differ: two outputs may only part at a near tie, where the model gave its
    choice less than 60% in both."""
    accepted = 0
    for name, line in HOLES:
        prefix, suffix = hole(name, line)
        plain = generate(engine, prefix, suffix, lookup=False)
        drafted = generate(engine, prefix, suffix, lookup=True)
        if (drafted.text, drafted.stopped_by) != (plain.text, plain.stopped_by):
            parted = first_difference_logprobs(plain, drafted)
            assert parted is not None and max(parted) < math.log(0.6), (
                name, line, plain.text, drafted.text, parted)
        assert (plain.drafted_tokens, plain.accepted_tokens) == (0, 0)
        accepted += drafted.accepted_tokens
    assert accepted > 0  # code repeats itself: some drafts were right


def test_a_cursor_inside_a_word_is_healed(engine: LlamaCppEngine) -> None:
    """`self.break_on_hyp|`: backed up to the token boundary, the model writes the word
    as it tokenizes it, and the text returned starts after what was typed."""
    prefix, suffix = hole("textwrap.py", "        if self.break_on_hyphens is True:")
    prefix = prefix[:prefix.rindex("self.break_on_hyphens")] + "self.break_on_hyp"
    cut = engine.healing_start(prefix)
    assert 0 < len(prefix) - cut <= len("break_on_hyp")
    healed = generate(engine, prefix[:cut], "\n" + suffix, lookup=True,
                      heal_text=prefix[cut:])
    assert healed.text.startswith("hens"), healed.text  # "break_on_hyp" + "hens": the name
    assert engine.healing_start(prefix + " ") == len(prefix) + 1  # after a space: none


def test_an_avoided_line_is_not_the_start_of_the_output(engine: LlamaCppEngine) -> None:
    """Told to avoid what it writes first, greedy decoding starts with another word, with
    and without drafts; the rest of the text is free to use that word later."""
    for name, line in HOLES[:3]:
        prefix, suffix = hole(name, line)
        request = GenerationRequest(
            prompt=render(engine.template, FimOrder.PSM, prefix, suffix), max_tokens=16,
            should_stop=lambda text: "\n" in text.strip("\n"))
        first = engine.generate(request).text.strip().split("\n")[0]
        assert first
        for lookup in (False, True):
            avoided = engine.generate(dataclasses.replace(
                request, avoid_line=first, lookup=lookup)).text.strip()
            assert avoided and not first.startswith(avoided.split()[0]), (first, avoided)
