"""The small interface every inference engine implements, and what it returns."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from refact_lsp.chat import ChatTemplate, Message
from refact_lsp.prompts import FimTemplate, Prompt
from refact_lsp.text import StrEnum, is_word_char


class EngineError(Exception):
    """An engine that cannot serve; the message is one line meant for a person."""


class EngineUnavailable(EngineError):
    """A shared engine that cannot be reached now but may come back: worth trying again."""


# Called with the text generated so far; True stops generation.
StopCheck = Callable[[str], bool]


class StopReason(StrEnum):
    """Why a generation ended."""

    EOS = "eos"  # the model ended it: an end-of-generation or control token
    STOP = "stop"  # a stop rule ended it (the request's StopCheck)
    MAX_TOKENS = "max_tokens"  # it ran out of tokens (or a server did not say why)
    CANCELLED = "cancelled"  # the request was cancelled or superseded
    CONTEXT = "context"  # the prompt and its generation do not fit the context
    DEADLINE = "deadline"  # a shared engine kept the answer open past its deadline


@dataclass
class GenerationRequest:
    prompt: Prompt
    max_tokens: int
    should_stop: StopCheck
    cancel: threading.Event = field(default_factory=threading.Event)
    temperature: float = 0.0
    key: str = ""  # the document: engines with slots keep one per key
    time_budget_ms: int = 0  # for engines that enforce the time limit themselves; 0: none
    # Stop checks of more candidates to sample beside the first, in the same batch, at
    # `candidate_temperature`; engines that cannot batch generate the first alone.
    more_stops: tuple[StopCheck, ...] = ()
    candidate_temperature: float = 0.5
    # The same hole in smaller windows, smallest first, for engines that serve one while
    # the full prompt would take too long to evaluate (after a jump to code their cache
    # does not hold).
    short_prompts: tuple[Prompt, ...] = ()
    # The stop checks of the first and more candidates where a smaller window serves
    # (stops.provisional: one line); empty: the same as the full window's.
    short_window_stops: tuple[StopCheck, ...] = ()
    # A person likely stops here and waits for the answer (an empty line): nothing else
    # (growing a larger window after a jump) is done before it.
    awaited: bool = False
    # Token healing: text cut from the prompt's end at the cursor (Engine.healing_start)
    # that the output must write first; the returned text never includes it. Engines
    # that cannot constrain their output drop one that does not begin with it.
    heal_text: str = ""
    # A line the output must not start with: the line after the cursor, which a first
    # try wrote again (the model took the hole for empty). The embedded engine rules out
    # the tokens that begin it as the output's first word; other engines ignore it.
    avoid_line: str = ""
    # Draft tokens looked up in the prompt and verified in one batch (lookup.py): the
    # same greedy output in fewer decode steps, for engines that can.
    lookup: bool = True


@dataclass
class Generation:
    text: str
    stopped_by: StopReason
    prompt_tokens: int = 0
    reused_tokens: int = 0  # prompt tokens served from the KV cache
    generated_tokens: int = 0
    prompt_ms: float = 0.0
    generate_ms: float = 0.0
    mean_logprob: float | None = None
    # (the length of `text` after the token, its log-probability) for each token, where
    # the engine knows them: how sure the model was of the part that is shown
    token_logprobs: list[tuple[int, float]] = field(default_factory=list)
    alternatives: list[Generation] = field(default_factory=list)  # the other candidates
    short_window: bool = False  # generated from one of the request's smaller windows
    grown_tokens: int = 0  # evaluated for a larger window before generating (after a jump)
    drafted_tokens: int = 0  # looked up in the prompt (lookup.py) ...
    accepted_tokens: int = 0  # ... and confirmed by the model


@dataclass
class ChatRequest:
    """One chat answer to generate: the conversation, laid out by the engine (embedded:
    the model's chat template; a server: its own), and the hooks that keep it polite.

    `on_text` gets the answer so far (stops cut, the format's lead dropped) after every
    token, on whatever thread the engine reads tokens on: it must be thread-safe.
    `between_tokens` is called on the caller's thread between two tokens (and between
    prompt chunks) with the engine free: the worker serves a pending completion there,
    so a keystroke never waits behind a whole answer."""

    messages: Sequence[Message]
    max_tokens: int
    cancel: threading.Event = field(default_factory=threading.Event)
    on_text: Callable[[str], None] = lambda text: None
    between_tokens: Callable[[], None] = lambda: None
    temperature: float = 0.0


class Engine(ABC):
    """Generates a FIM completion for a prompt, stopping as soon as `should_stop` says."""

    template: FimTemplate
    n_ctx: int
    description: str = ""
    serves_short_prompts: bool = False  # uses GenerationRequest.short_prompts (after a jump)

    @property
    def climbing(self) -> bool:
        """Whether smaller windows serve while the full one is evaluated (after a jump)."""
        return False

    @abstractmethod
    def count_tokens(self, text: str) -> int:
        """Tokens of `text` as the model counts them (or a safe overestimate)."""

    @abstractmethod
    def generate(self, request: GenerationRequest) -> Generation:
        """Run one generation; returns early, stopped by CANCELLED, on request.cancel."""

    def healing_start(self, text: str) -> int:
        """Where to cut `text`, a prompt's end at the cursor, for token healing: engines
        that cannot constrain their output back up to the start of the last word (or
        run of other marks), so that the model writes it whole; nothing after a space."""
        end = len(text)
        if not text or text[-1].isspace():
            return end
        kind = is_word_char(text[-1])
        while end > 0 and not text[end - 1].isspace() and is_word_char(text[end - 1]) == kind:
            end -= 1
        return end

    def warm(self, prompt: Prompt, cancel: threading.Event,
             short_prompts: Sequence[Prompt] = ()) -> int:
        """Evaluate the prompt without generating, so a later request reuses it (with
        `short_prompts`, as GenerationRequest's). Returns the number of tokens
        evaluated; engines that cannot warm return 0."""
        return 0

    def chat_template(self) -> ChatTemplate | None:
        """The chat template this engine lays conversations out with; None where the
        server applies its own. Raises ChatTemplateError for a model that cannot chat."""
        return None

    def chat(self, request: ChatRequest) -> Generation:
        """Generate the assistant's next turn; `text` is the answer (stops cut). Returns
        early, stopped by CANCELLED, on request.cancel. Engines that cannot chat raise
        EngineError."""
        raise EngineError(f"{self.description or type(self).__name__} cannot chat")

    def jump(self, prompt_ms: int, start_ms: int) -> None:  # noqa: B027 - most have no ladder
        """Take new jumpPromptMs and jumpStartMs (engines that serve short prompts)."""

    def close(self) -> None:  # noqa: B027 - engines without resources need not override
        """Release the model or connection."""
