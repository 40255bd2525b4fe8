"""FIM prompt templates, detected from the model's own vocabulary, and prompt layout.

A prompt is a sequence of parts, each either a special token of the template (encoded by
id) or plain text from the person's files (encoded with special-token parsing off, so a
file that contains `<|endoftext|>` cannot inject a control token).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from refact_lsp.text import StrEnum, name_of


class FimOrder(StrEnum):
    """How a FIM prompt is laid out (the fimOrder setting)."""

    AUTO = "auto"  # the template's default_order
    PSM = "psm"  # prefix, suffix, middle
    SPM = "spm"  # suffix first
    SPLIT = "split"  # PSM with the cursor region moved after the middle token (see render)


@dataclass(frozen=True)
class FimTemplate:
    """How one model family wants its fill-in-the-middle prompt."""

    name: str
    psm: str  # a format with {prefix} and {suffix}; special tokens appear literally
    spm: str | None  # suffix-first form, where the model was trained for one
    specials: tuple[str, ...]  # the special tokens that appear in psm/spm
    stops: tuple[str, ...]  # generation ends at any of these (besides the model's EOS)
    # What `auto` means. Built-in PSM-only templates use SPLIT: PSM would put the
    # suffix after the cursor's text, so every keystroke would evaluate the whole suffix
    # again (seconds on a CPU), and SPLIT also scored higher on HumanEval infilling with
    # Qwen2.5-Coder (benchmarks/humaneval_infill). A format string is taken as written.
    default_order: FimOrder = FimOrder.PSM
    file_sep: str | None = None  # token that separates files of repository-level context
    repo_name: str | None = None

    def format_for(self, order: FimOrder) -> str:
        return self.spm if order == FimOrder.SPM and self.spm else self.psm

    def resolve_order(self, requested: FimOrder) -> FimOrder:
        if requested == FimOrder.SPM and self.spm:
            return FimOrder.SPM
        if requested in (FimOrder.PSM, FimOrder.SPLIT):
            return FimOrder(requested)
        return self.default_order


STARCODER_STOPS = ("<|endoftext|>", "<fim_prefix>", "<fim_suffix>", "<fim_middle>",
                   "<fim_pad>", "<file_sep>", "<filename>", "<gh_stars>", "<issue_start>",
                   "<jupyter_start>", "<commit_before>", "<reponame>")

TEMPLATES: dict[str, FimTemplate] = {
    "refact": FimTemplate(
        name="refact",
        psm="<fim_prefix>{prefix}<fim_suffix>{suffix}<fim_middle>",
        spm="<fim_suffix>{suffix}<fim_prefix>{prefix}<fim_middle>",
        specials=("<fim_prefix>", "<fim_suffix>", "<fim_middle>"),
        stops=STARCODER_STOPS + ("<empty_output>",),
        default_order=FimOrder.SPM,
    ),
    "starcoder": FimTemplate(
        name="starcoder",
        default_order=FimOrder.SPLIT,
        psm="<fim_prefix>{prefix}<fim_suffix>{suffix}<fim_middle>",
        spm="<fim_prefix><fim_suffix>{suffix}<fim_middle>{prefix}",
        specials=("<fim_prefix>", "<fim_suffix>", "<fim_middle>"),
        stops=STARCODER_STOPS,
        file_sep="<file_sep>",
        repo_name="<repo_name>",
    ),
    "qwen": FimTemplate(
        name="qwen",
        default_order=FimOrder.SPLIT,
        psm="<|fim_prefix|>{prefix}<|fim_suffix|>{suffix}<|fim_middle|>",
        spm=None,
        specials=("<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"),
        stops=("<|endoftext|>", "<|fim_pad|>", "<|file_sep|>", "<|im_end|>", "<|fim_prefix|>",
               "<|fim_suffix|>", "<|fim_middle|>", "<|repo_name|>", "<|im_start|>"),
        file_sep="<|file_sep|>",
        repo_name="<|repo_name|>",
    ),
    "deepseek": FimTemplate(
        name="deepseek",
        default_order=FimOrder.SPLIT,
        psm="<｜fim▁begin｜>{prefix}<｜fim▁hole｜>{suffix}<｜fim▁end｜>",
        spm=None,
        specials=("<｜fim▁begin｜>", "<｜fim▁hole｜>", "<｜fim▁end｜>"),
        stops=("<｜end▁of▁sentence｜>", "<|EOT|>", "<｜fim▁begin｜>", "<｜fim▁hole｜>",
               "<｜fim▁end｜>"),
    ),
    "codellama": FimTemplate(
        name="codellama",
        default_order=FimOrder.SPLIT,
        psm="<PRE> {prefix} <SUF>{suffix} <MID>",
        spm="<PRE> <SUF>{suffix} <MID> {prefix}",
        specials=("<PRE>", "<SUF>", "<MID>"),
        stops=("<EOT>", "</s>", "<PRE>", "<SUF>", "<MID>"),
    ),
}

# Detection order matters: Refact's vocabulary also has StarCoder's tokens.
_DETECTION = ("qwen", "deepseek", "refact", "starcoder", "codellama")


def detect_template(has_token: Callable[[str], bool], architecture: str | None) -> FimTemplate:
    """The template whose FIM tokens are all single tokens of this model's vocabulary.

    Raises ValueError for a model without FIM tokens: such a model cannot fill a hole.
    """
    for name in _DETECTION:
        template = TEMPLATES[name]
        if name == "refact" and architecture != "refact" and not has_token("<empty_output>"):
            continue
        if all(has_token(token) for token in template.specials):
            return template
    raise ValueError("the model has no fill-in-the-middle tokens (none of the known "
                     "templates: " + ", ".join(TEMPLATES) + "); set 'template' to override")


@dataclass(frozen=True)
class ContextFile:
    """A snippet of another file shown to the model before the current one."""

    path: str
    text: str


@dataclass(frozen=True)
class Prompt:
    """Parts in order; `special` parts are template tokens, the rest is file text.

    The texts it was rendered from travel along for engines that apply the model's
    template themselves (llama-server's /infill)."""

    parts: tuple[tuple[str, bool], ...]
    prefix: str = ""
    suffix: str = ""
    context_files: tuple[ContextFile, ...] = ()

    @property
    def text(self) -> str:
        return "".join(text for text, _ in self.parts)


@dataclass(frozen=True)
class RepoPath:
    """Where the document lies, as the prompt names it: its repository (the workspace
    folder's name; empty without one) and its path (relative to that folder, else its
    file name)."""

    repo: str
    path: str

    @classmethod
    def outside(cls, uri: str) -> RepoPath:
        """A document in no workspace folder: its file name alone."""
        return cls("", name_of(uri))


def render(template: FimTemplate, order: FimOrder, prefix: str, suffix: str,
           context_files: Sequence[ContextFile] = (), path: str = "",
           region_start: int = 0, comment: str = "#", repo: str = "") -> Prompt:
    """Lay out a FIM prompt. Stable parts come first so the KV cache survives typing.

    SPM puts the suffix first, so typing at the cursor only changes the prompt's end.
    A model trained only on PSM gets the SPLIT layout instead: the prefix up to
    `region_start` (the start of the cursor's region, such as its function), the
    suffix, the middle token, and then the rest of the prefix, so the model's "middle"
    begins with the text typed in the region. What the model sees is still a FIM
    sample, and typing again only changes the prompt's end.

    Context files (snippets of the repository) come first: with the model's file
    separator as files before this one (`path`), after the repository's name (`repo`)
    where the model has a token for it (Qwen's and StarCoder's repository layout), else
    as a block of `comment` lines at the start of the prefix, in the current file's
    language.
    """
    given = (prefix, suffix, tuple(context_files))  # for engines that apply the template
    order = template.resolve_order(order)
    region = ""
    if order == FimOrder.SPLIT:
        prefix, region = prefix[:region_start], prefix[region_start:]
    fmt = template.format_for(order)
    lead: list[tuple[str, bool]] = []
    if context_files:
        if template.file_sep:
            if template.repo_name and repo:
                lead += [(template.repo_name, True), (f"{repo}\n", False)]
            for item in context_files:
                lead += [(template.file_sep, True), (f"{item.path}\n{item.text}\n", False)]
            lead += [(template.file_sep, True), (f"{path}\n", False)]
        else:
            prefix = context_block(context_files, comment) + prefix
    parts = lead + _split_format(fmt, template.specials, {"prefix": prefix, "suffix": suffix})
    parts.append((region, False))
    return Prompt(tuple(part for part in parts if part[0]), *given)


def context_block(files: Sequence[ContextFile], comment: str) -> str:
    """Context files as comment lines, for models without a file separator."""
    return "".join(f"{comment} Path: {item.path}\n" + "".join(
        f"{comment} {line}\n" for line in item.text.splitlines()) for item in files)


def context_cost(template: FimTemplate, files: Sequence[ContextFile], path: str,
                 comment: str, count_tokens: Callable[[str], int], repo: str = "") -> int:
    """The tokens `files` add to a prompt, laid out as `render` lays them out."""
    if not files:
        return 0
    if template.file_sep:
        named = 1 + count_tokens(f"{repo}\n") if template.repo_name and repo else 0
        return sum(count_tokens(f"{item.path}\n{item.text}\n") + 1 for item in files) \
            + 1 + count_tokens(f"{path}\n") + named
    return count_tokens(context_block(files, comment))


def _split_format(fmt: str, specials: Sequence[str],
                  values: dict[str, str]) -> list[tuple[str, bool]]:
    pattern = "|".join([r"\{prefix\}", r"\{suffix\}"] + [re.escape(s) for s in specials])
    parts: list[tuple[str, bool]] = []
    pos = 0
    for match in re.finditer(pattern, fmt):
        if match.start() > pos:
            parts.append((fmt[pos:match.start()], False))
        token = match.group(0)
        if token in ("{prefix}", "{suffix}"):
            parts.append((values[token[1:-1]], False))
        else:
            parts.append((token, True))
        pos = match.end()
    if pos < len(fmt):
        parts.append((fmt[pos:], False))
    return parts


def custom_template(fmt: str, base: FimTemplate | None = None) -> FimTemplate:
    """A template from a user's format string such as `<PRE> {prefix} <SUF>{suffix} <MID>`.

    Every `<...>` in the format is taken as a special token and as a stop string.
    """
    if "{prefix}" not in fmt or "{suffix}" not in fmt:
        raise ValueError("a custom template needs both {prefix} and {suffix}")
    specials = tuple(dict.fromkeys(re.findall(r"<[^<>{}\s]+>", fmt)))
    stops = tuple(dict.fromkeys(specials + (base.stops if base else ())))
    return FimTemplate(name="custom", psm=fmt, spm=None, specials=specials, stops=stops)


def template_named(value: str) -> FimTemplate:
    """A built-in template by name, or a custom one from a format string."""
    if value in TEMPLATES:
        return TEMPLATES[value]
    if "{prefix}" in value:
        return custom_template(value)
    raise ValueError(f"unknown template {value!r}; built-in: {', '.join(TEMPLATES)}")
