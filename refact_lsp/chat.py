"""Chat conversations, and the templates that lay them out as a prompt for one model.

Two kinds of template:
- Refact-1.6B's own format, as its model card gives it (`RefactChat`);
- for every other model, the Jinja chat template stored in its GGUF metadata
  (`tokenizer.chat_template`), rendered in a sandbox the way llama.cpp and transformers
  render it (`GgufChat`).

Both give a `prompts.Prompt`: the template's control tokens as special parts (encoded by
id), the conversation's text as plain parts (encoded with special-token parsing off), so a
message that contains `<|im_end|>` or `<empty_output>` stays text and cannot close its turn
or open another. Every special part has passed the engine's `has_token`, so an engine that
encodes special parts by id (and remembers the ids `has_token` found) knows each of them.
"""

from __future__ import annotations

import json
import re
import secrets
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any, NoReturn

import jinja2
import jinja2.ext
import jinja2.nodes
import jinja2.parser
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from refact_lsp.prompts import Prompt

HasToken = Callable[[str], bool]


class Role(str, Enum):
    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"


@dataclass(frozen=True)
class Message:
    role: Role
    content: str


class ChatTemplateError(ValueError):
    """A model without a usable chat template, or a template that failed: one line for
    the person, without a traceback."""


def parse_messages(raw: object) -> list[Message]:
    """Messages from a request's JSON (`[{role, content}]`), with an error that says which
    one is wrong: a client's typo must not reach the template as a half-valid turn."""
    if not isinstance(raw, list) or not raw:
        raise ValueError("messages must be a non-empty list of {role, content}")
    messages = []
    for index, item in enumerate(raw):
        role = item.get("role") if isinstance(item, dict) else None
        content = item.get("content") if isinstance(item, dict) else None
        if role not in {r.value for r in Role}:
            raise ValueError(f"messages[{index}].role must be one of "
                             f"{', '.join(r.value for r in Role)}, not {role!r}")
        if not isinstance(content, str):
            raise ValueError(f"messages[{index}].content must be a string")
        messages.append(Message(Role(role), content))
    return messages


class ChatTemplate(ABC):
    """How one model wants a conversation laid out, and where its answer ends."""

    name: str
    stops: tuple[str, ...]  # the answer ends at any of these (besides the model's EOG)
    answer_lead = ""  # what the format puts before every answer, not part of it

    @abstractmethod
    def render(self, messages: Sequence[Message]) -> Prompt:
        """The prompt that asks the model for the next assistant turn."""

    def answer(self, generated: str) -> str:
        """The person's text from what the model generated (so far): cut at the first
        stop string, without the format's lead and blank lines around it. Leading
        indentation is kept: an answer may start with indented code."""
        for stop in self.stops:
            generated = generated.split(stop, 1)[0]
        generated = generated.removeprefix(self.answer_lead)
        return _LEADING_BLANK_LINES.sub("", generated).rstrip()


_LEADING_BLANK_LINES = re.compile(r"\A(?:[ \t]*\r?\n)+")

# -- Refact ----------------------------------------------------------------------------

REFACT_ESCAPE = "<empty_output>"
REFACT_EOS = "<|endoftext|>"
REFACT_SYSTEM = "You are a programming assistant"  # the card's example
_REFACT_KEYWORDS = {Role.SYSTEM: "SYSTEM", Role.USER: "USER", Role.ASSISTANT: "ASSISTANT"}


class RefactChat(ChatTemplate):
    """Refact-1.6B's chat format, as its model card gives it::

        <empty_output>SYSTEM {system}\\n<empty_output>USER {query}\\n<empty_output>ASSISTANT

    Every turn is `<empty_output>ROLE {text}\\n`; a conversation repeats the USER and
    ASSISTANT turns, so an earlier answer is `<empty_output>ASSISTANT {answer}\\n`, closed
    like the other turns by its line break. The prompt ends at `ASSISTANT`, byte for byte
    as on the card, without the space: in the byte-level BPE vocabulary the space before
    a word belongs to the word's token (` How`), so the model writes the space as part of
    its first token; a prompt ending in a lone space would force a token split the model
    rarely saw. The answer is then ` {answer}\\n` up to the next `<empty_output>`, where
    generation stops; `answer()` drops the space. (Refact's self-hosting server,
    refact_scratchpads' ScratchpadHuggingfaceRefact, joins earlier turns the same way,
    but ends its prompt with `ASSISTANT ` and the space; the card is followed here.)
    A conversation without a system message gets the card's example system line."""

    name = "refact"
    stops = (REFACT_ESCAPE, REFACT_EOS)
    answer_lead = " "

    def render(self, messages: Sequence[Message]) -> Prompt:
        if not messages or messages[0].role is not Role.SYSTEM:
            messages = [Message(Role.SYSTEM, REFACT_SYSTEM), *messages]
        parts: list[tuple[str, bool]] = []
        for message in messages:
            parts += [(REFACT_ESCAPE, True),
                      (f"{_REFACT_KEYWORDS[message.role]} {message.content}\n", False)]
        parts += [(REFACT_ESCAPE, True), ("ASSISTANT", False)]
        return Prompt(tuple(parts))


# -- the GGUF's own template -----------------------------------------------------------

# What a control token looks like in a template's text: `<|im_start|>`, `<start_of_turn>`,
# `</s>`, `<｜User｜>`, `[INST]`. Only those the vocabulary has as one token are special.
_TOKEN_SHAPE = r"<[^<>\s]{1,64}>|\[/?[A-Za-z_]{1,32}\]"
_TOKEN = re.compile(_TOKEN_SHAPE)
_PROBE = "\ue000probe\ue001"  # a message text no template writes by itself
_MAX_PROMPT_CHARS = 16 * 1024 * 1024  # a template's output beyond this is runaway
_MAX_SEQUENCE_PRODUCT = 1 << 20  # `'x' * n` in a template: longer is runaway
_MAX_EXPONENT = 64


class _Sandbox(ImmutableSandboxedEnvironment):
    """transformers' environment for chat templates, and bounds on `*` and `**`, which
    the sandbox leaves open (`'x' * 10**10` would take the memory at once)."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**":
            if isinstance(right, int) and abs(right) > _MAX_EXPONENT:
                raise SecurityError("the exponent is too large")
            return left ** right
        for count, other in ((left, right), (right, left)):
            if (isinstance(count, int) and isinstance(other, (str, list, tuple))
                    and count * len(other) > _MAX_SEQUENCE_PRODUCT):
                raise SecurityError("the repeated sequence is too long")
        return left * right


def _tojson(value: Any, ensure_ascii: bool = False, indent: int | None = None,
            separators: tuple[str, str] | None = None, sort_keys: bool = False) -> str:
    """transformers' `tojson`: Jinja's own escapes HTML characters and knows no options."""
    return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                      sort_keys=sort_keys)


def _raise_exception(message: str) -> NoReturn:
    raise jinja2.TemplateError(message)


def _strftime_now(pattern: str) -> str:
    return datetime.now().strftime(pattern)


class _GenerationTag(jinja2.ext.Extension):
    """`{% generation %}...{% endgeneration %}`, which transformers' templates use to mark
    the assistant's tokens for training: its body, unchanged."""

    tags = {"generation"}

    def parse(self, parser: jinja2.parser.Parser) -> list[jinja2.nodes.Node]:
        parser.stream.skip(1)
        return parser.parse_statements(("name:endgeneration",), drop_needle=True)


def _compile(source: str) -> jinja2.Template:
    env = _Sandbox(trim_blocks=True, lstrip_blocks=True,
                   extensions=[jinja2.ext.loopcontrols, _GenerationTag])
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = _strftime_now
    try:
        return env.from_string(source)
    except jinja2.TemplateSyntaxError as exc:
        raise ChatTemplateError(f"the model's chat template is not valid Jinja (line "
                                f"{exc.lineno}: {exc.message})") from None


class GgufChat(ChatTemplate):
    """The chat template from the model's GGUF metadata.

    Rendered as llama-cpp-python and transformers render it (the same environment,
    globals and filters): messages as `{role, content}`, `bos_token`, `eos_token`,
    `add_generation_prompt`.

    Control tokens in messages are swapped for placeholders before rendering and put
    back as text after, so the template's own tokens are the only special parts. (A
    template that looks for `</think>` in a message no longer finds it there: the history
    is longer, nothing worse. Only a template that wrote message text inside a `<...>` or
    `[...]` of its own could let the text complete a token; chat templates put the text
    after a token and a line break or a space, and a token after it.)

    A template without a system role (it raises, or drops the message) gets the system
    text at the head of the first user message, and a leading BOS is dropped where the
    engine adds one itself: both as llama.cpp does. Stops: the token the template closes
    an assistant turn with, and the EOS.
    """

    name = "gguf"

    def __init__(self, source: str, has_token: HasToken, *, bos_token: str = "",
                 eos_token: str = "", adds_bos: bool = False) -> None:
        self._template = _compile(source)
        self._has_token = has_token
        self._bos_token = bos_token
        self._eos_token = eos_token
        self._adds_bos = adds_bos
        self._text([Message(Role.USER, "Hi")], add_generation_prompt=True)  # or refuse now
        self._system_role = self._keeps_system()
        turn_end = self._turn_end()
        self.stops = tuple(dict.fromkeys(t for t in (turn_end, eos_token) if t))

    def render(self, messages: Sequence[Message]) -> Prompt:
        if not self._system_role:
            messages = _system_into_user(messages)
        marker = f"\ue000{secrets.token_hex(8)}:"
        hidden: list[str] = []

        def hide(match: re.Match[str]) -> str:
            hidden.append(match.group())
            return f"{marker}{len(hidden) - 1}\ue001"

        escaped = [Message(m.role, _TOKEN.sub(hide, m.content)) for m in messages]
        text = self._text(escaped, add_generation_prompt=True)
        if self._adds_bos and self._bos_token:
            text = text.removeprefix(self._bos_token)
        return Prompt(self._parts(text, re.escape(marker), hidden))

    def _parts(self, text: str, marker: str, hidden: list[str]) -> tuple[tuple[str, bool], ...]:
        """Split a rendered prompt: the template's control tokens are special, hidden
        message text comes back as text, and neighbouring texts join (a tokenizer must
        see them as one)."""
        parts: list[tuple[str, bool]] = []

        def add(piece: str, special: bool) -> None:
            if parts and not special and not parts[-1][1]:
                parts[-1] = (parts[-1][0] + piece, False)
            elif piece:
                parts.append((piece, special))

        pos = 0
        for match in re.finditer(f"{marker}(\\d+)\ue001|{_TOKEN_SHAPE}", text):
            add(text[pos:match.start()], False)
            if match.group(1) is not None:
                add(hidden[int(match.group(1))], False)
            else:
                add(match.group(), self._has_token(match.group()))
            pos = match.end()
        add(text[pos:], False)
        return tuple(parts)

    def _text(self, messages: Sequence[Message], add_generation_prompt: bool) -> str:
        """The template's output, with every failure as a ChatTemplateError: a syntax the
        sandbox refuses (`''.__class__`), `raise_exception`, a type error, runaway size."""
        context = {
            "messages": [{"role": m.role.value, "content": m.content} for m in messages],
            "bos_token": self._bos_token, "eos_token": self._eos_token,
            "add_generation_prompt": add_generation_prompt,
        }
        pieces: list[str] = []
        size = 0
        try:
            for piece in self._template.generate(context):
                size += len(piece)
                if size > _MAX_PROMPT_CHARS:
                    raise ChatTemplateError("the model's chat template writes a runaway prompt")
                pieces.append(piece)
        except ChatTemplateError:
            raise
        except SecurityError as exc:
            raise ChatTemplateError(f"the model's chat template does something the sandbox "
                                    f"forbids: {exc}") from None
        except jinja2.TemplateError as exc:
            raise ChatTemplateError(f"the model's chat template refused the conversation: "
                                    f"{exc}") from None
        except (ArithmeticError, LookupError, TypeError, ValueError, AttributeError,
                RecursionError) as exc:
            raise ChatTemplateError(f"the model's chat template failed: "
                                    f"{type(exc).__name__}: {exc}") from None
        return "".join(pieces)

    def _keeps_system(self) -> bool:
        """Whether a system message reaches the prompt (Gemma's template raises)."""
        probe = [Message(Role.SYSTEM, _PROBE), Message(Role.USER, "Hi")]
        try:
            return _PROBE in self._text(probe, add_generation_prompt=True)
        except ChatTemplateError:
            return False

    def _turn_end(self) -> str | None:
        """The control token right after an assistant's text (`<|im_end|>` for ChatML,
        `<|eot_id|>` for Llama 3, `<end_of_turn>` for Gemma): the model writes it where
        its answer ends."""
        probe = [Message(Role.USER, "Hi"), Message(Role.ASSISTANT, _PROBE),
                 Message(Role.USER, "Hi")]
        try:
            after = self._text(probe, add_generation_prompt=True).partition(_PROBE)[2]
        except ChatTemplateError:
            return None
        match = _TOKEN.search(after)
        if match and not after[:match.start()].strip() and self._has_token(match.group()):
            return match.group()
        return None


def _system_into_user(messages: Sequence[Message]) -> list[Message]:
    """System messages joined to the head of the first user message."""
    system = "\n\n".join(m.content for m in messages if m.role is Role.SYSTEM)
    rest = [m for m in messages if m.role is not Role.SYSTEM]
    if not system:
        return rest
    for index, message in enumerate(rest):
        if message.role is Role.USER:
            rest[index] = Message(Role.USER, f"{system}\n\n{message.content}")
            return rest
    return [Message(Role.USER, system), *rest]


# -- choice ----------------------------------------------------------------------------

CHAT_TEMPLATE_KEY = "tokenizer.chat_template"


def chat_template_for(architecture: str | None, metadata: Mapping[str, Any],
                      has_token: HasToken, *, bos_token: str = "", eos_token: str = "",
                      adds_bos: bool = False) -> ChatTemplate:
    """The chat template for a model, from what its engine can tell.

    Refact's architecture gets its card's format, any other model the template in its
    GGUF metadata. A model whose architecture is not
    known (a remote server) and whose vocabulary has `<empty_output>` is taken for
    Refact. Raises ChatTemplateError for a model with neither, and for a template that
    cannot render one exchange.
    """
    source = metadata.get(CHAT_TEMPLATE_KEY)
    if architecture != "refact" and isinstance(source, str) and source.strip():
        return GgufChat(source, has_token, bos_token=bos_token, eos_token=eos_token,
                        adds_bos=adds_bos)
    if architecture in ("refact", None, "") and has_token(REFACT_ESCAPE):
        return RefactChat()
    if architecture == "refact":
        raise ChatTemplateError(f"the Refact model has no {REFACT_ESCAPE} token, which its "
                                f"chat format needs")
    raise ChatTemplateError(f"the model ({architecture or 'architecture unknown'}) cannot "
                            f"chat: its GGUF has no {CHAT_TEMPLATE_KEY} and it is not Refact")
