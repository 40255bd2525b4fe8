"""Chat in the embedded engine: Refact's format and stop on the tiny random-weight
Refact GGUF, the chat's own KV sequence (a chat never evicts the completion's cache, a
completion served between two chat tokens leaves the answer as it was), and one short
answer from the real test model through its GGUF chat template."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.model  # loads a model (conftest.py)

pytest.importorskip("llama_cpp")
pytest.importorskip("gguf")

from refact_lsp.chat import GgufChat, Message, RefactChat, Role  # noqa: E402
from refact_lsp.engines.base import (  # noqa: E402
    ChatRequest,
    GenerationRequest,
    StopReason,
)
from refact_lsp.engines.llama_cpp import LlamaCppEngine, sampling  # noqa: E402
from refact_lsp.prompts import render  # noqa: E402
from tests.support.tiny_gguf import write_tiny_refact_gguf  # noqa: E402

QUESTION = [Message(Role.USER, "How do I sort a list in Python?")]
PREFIX = "def area(width, height):\n    return "
SUFFIX = "\n\n\nprint(area(2, 3))\n"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Any:
    path = write_tiny_refact_gguf(tmp_path_factory.mktemp("tiny-chat") / "tiny.gguf")
    engine = LlamaCppEngine(path, n_ctx=512, n_threads=1, n_gpu_layers=0)
    yield engine
    engine.close()


def completion(engine: LlamaCppEngine, max_tokens: int = 4) -> GenerationRequest:
    return GenerationRequest(render(engine.template, "auto", PREFIX, SUFFIX), max_tokens,
                             lambda text: False, lookup=False)


def test_a_refact_model_chats_in_its_cards_format(tiny: LlamaCppEngine) -> None:
    template = tiny.chat_template()
    assert isinstance(template, RefactChat)
    streamed: list[str] = []
    generation = tiny.chat(ChatRequest(QUESTION, 12, on_text=streamed.append))
    assert generation.prompt_tokens == len(tiny.tokenize(template.render(QUESTION)))
    assert generation.generated_tokens >= 1
    assert streamed and streamed[-1] == generation.text


def test_the_answer_ends_where_the_model_writes_empty_output(
        tiny: LlamaCppEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    """The random model never writes `<empty_output>` by itself: the sampler is made to,
    as its third token, after two letters."""
    escape = tiny.vocab.special_ids["<empty_output>"] if tiny.has_token("<empty_output>") \
        else pytest.fail("the tiny Refact model has no <empty_output>")
    letters = tiny.vocab.tokenize(render_text("ok"))
    script = [*letters[:2], escape, *letters]
    chosen = iter(script)
    monkeypatch.setattr(sampling, "pick", lambda logits, temperature, rng: (next(chosen), -1.0))
    generation = tiny.chat(ChatRequest(QUESTION, 10))
    assert generation.stopped_by == StopReason.EOS
    assert generation.generated_tokens == 2  # the escape and what follows are not text
    assert generation.text == tiny.vocab.detokenize(letters[0]).decode() \
        + tiny.vocab.detokenize(letters[1]).decode()


def render_text(text: str) -> Any:
    from refact_lsp.prompts import Prompt
    return Prompt(((text, False),))


def test_a_chat_leaves_the_completions_cache_alone(tiny: LlamaCppEngine) -> None:
    first = tiny.generate(completion(tiny))
    tiny.chat(ChatRequest(QUESTION, 16))
    again = tiny.generate(completion(tiny))
    assert again.reused_tokens == first.prompt_tokens - 1  # all but the last, as always
    assert again.text == first.text


def test_the_next_turn_reuses_the_conversation_in_the_chats_sequence(
        tiny: LlamaCppEngine) -> None:
    answer = tiny.chat(ChatRequest(QUESTION, 8)).text
    follow_up = [*QUESTION, Message(Role.ASSISTANT, answer), Message(Role.USER, "Why?")]
    generation = tiny.chat(ChatRequest(follow_up, 4))
    assert generation.reused_tokens >= len(tiny.tokenize(tiny.chat_template().render(
        QUESTION))) - 1


def test_a_completion_between_two_chat_tokens_leaves_the_answer_as_it_was(
        tiny: LlamaCppEngine) -> None:
    alone = tiny.chat(ChatRequest([Message(Role.USER, "Explain recursion.")], 24))
    tiny.chat(ChatRequest([Message(Role.USER, "Something else.")], 4))  # the cache moves
    served: list[str] = []

    def serve_a_completion() -> None:
        if len(served) < 3:  # the lock is free here: a completion runs
            served.append(tiny.generate(completion(tiny)).text)

    interleaved = tiny.chat(ChatRequest([Message(Role.USER, "Explain recursion.")], 24,
                                        between_tokens=serve_a_completion))
    assert len(served) == 3
    assert interleaved.text == alone.text
    assert interleaved.generated_tokens == alone.generated_tokens


def test_a_cancelled_chat_generates_nothing_more(tiny: LlamaCppEngine) -> None:
    request = ChatRequest(QUESTION, 64)
    request.between_tokens = request.cancel.set
    generation = tiny.chat(request)
    assert generation.stopped_by == StopReason.CANCELLED
    assert generation.generated_tokens <= 1


def test_a_question_longer_than_the_chats_cells_is_refused(tiny: LlamaCppEngine) -> None:
    long = [Message(Role.USER, "word " * 3000)]
    generation = tiny.chat(ChatRequest(long, 8))
    assert generation.stopped_by == StopReason.CONTEXT and generation.text == ""


def test_an_answer_is_cut_where_the_chats_cells_end(
        tiny: LlamaCppEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    """The model is made to write a letter for ever: the answer ends at the last cell."""
    letter = tiny.vocab.tokenize(render_text("a"))[0]
    monkeypatch.setattr(sampling, "pick", lambda logits, temperature, rng: (letter, -1.0))
    def tokens(words: int) -> int:
        return len(tiny.tokenize(tiny.chat_template().render(
            [Message(Role.USER, "word " * words)])))

    per_word = (tokens(200) - tokens(100)) / 100
    words = int((tiny.cache.chat_cells - 200 - tokens(0)) / per_word)
    question = [Message(Role.USER, "word " * words)]
    room = tiny.cache.chat_cells - tokens(words)
    assert 64 <= room < 400
    generation = tiny.chat(ChatRequest(question, 4000))
    assert generation.generated_tokens == room
    assert generation.stopped_by == StopReason.MAX_TOKENS


def test_a_sampled_chat_decodes_in_its_own_sequence_too(tiny: LlamaCppEngine) -> None:
    first = tiny.generate(completion(tiny))
    generation = tiny.chat(ChatRequest(QUESTION, 8, temperature=0.8))
    assert generation.generated_tokens >= 1
    assert tiny.generate(completion(tiny)).reused_tokens == first.prompt_tokens - 1


def test_the_test_model_answers_through_its_gguf_chat_template(model_path: Path) -> None:
    """A short answer, and a longer one exactly as llama-cpp-python's own chat
    completion (its template from the GGUF too, greedy) writes it."""
    import llama_cpp

    engine = LlamaCppEngine(model_path, n_ctx=512, n_threads=2, n_gpu_layers=0)
    try:
        assert isinstance(engine.chat_template(), GgufChat)
        assert engine.chat_template().stops == ("<|im_end|>",)
        generation = engine.chat(ChatRequest(
            [Message(Role.USER, "What is 2 + 3? Answer with the number only.")], 6))
        assert generation.stopped_by == StopReason.EOS  # it wrote <|im_end|>
        assert generation.text.strip() == "5"
        question = "Write a Python function that reverses a string."
        ours = engine.chat(ChatRequest([Message(Role.USER, question)], 24))
    finally:
        engine.close()
    reference = llama_cpp.Llama(model_path=str(model_path), n_ctx=512, n_threads=2,
                                n_gpu_layers=0, verbose=False)
    try:
        theirs = reference.create_chat_completion(
            [{"role": "user", "content": question}], temperature=0.0, top_k=1,
            max_tokens=24)
    finally:
        reference.close()
    assert ours.prompt_tokens == theirs["usage"]["prompt_tokens"]
    assert ours.text == theirs["choices"][0]["message"]["content"].strip()
