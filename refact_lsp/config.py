"""One typed settings model, read from defaults, environment, CLI flags and the editor.

Precedence, lowest first: defaults, `REFACT_LSP_*` environment variables, command-line
flags, `initializationOptions`, `workspace/didChangeConfiguration`. Keys may be camelCase
(as editors send them) or snake_case. Unknown keys and values of the wrong type are
reported, never fatal: the previous value is kept.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import os
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from refact_lsp.prompts import FimOrder
from refact_lsp.secrets import origin
from refact_lsp.text import StrEnum

ENV_PREFIX = "REFACT_LSP_"
# The settings an engine is made with: a change loads it again (Settings.needs_new_engine).
ENGINE_SETTINGS = ("model", "cache_dir", "template", "n_ctx", "n_threads", "n_gpu_layers",
                   "flash_attn", "kv_reuse", "candidates", "engine")
MAX_CANDIDATES = 8  # candidates are decoded side by side: each costs a KV sequence


def bounded(default: Any, low: float | None = None, high: float | None = None) -> Any:
    """A setting's default and the range its values are clamped into (a value outside
    is reported and clamped: a million candidates would build a million stop checks)."""
    return field(default=default, metadata={"low": low, "high": high})


class EngineKind(StrEnum):
    """Where inference runs."""

    LLAMA_CPP = "llama-cpp"  # in process
    LLAMA_SERVER = "llama-server"  # llama.cpp's server, its /infill
    OPENAI = "openai"  # any server with OpenAI's /v1/completions


@dataclass(frozen=True)
class EngineSettings:
    """Where inference runs: in process (llama-cpp) or on a shared server."""

    kind: EngineKind = EngineKind.LLAMA_CPP
    url: str | None = None
    api_key: str | None = None
    model: str | None = None
    timeout_s: float = bounded(30.0, 0.1, 3600.0)

    def __repr__(self) -> str:  # never show the key in logs
        key = "***" if self.api_key else None
        return (
            f"EngineSettings(kind={self.kind!r}, url={self.url!r}, api_key={key!r}, "
            f"model={self.model!r}, timeout_s={self.timeout_s!r})"
        )


@dataclass(frozen=True)
class Settings:
    """Everything a person can set. Documented, key by key, in the README."""

    model: str = "refact-1.6b"
    cache_dir: str | None = None
    template: str | None = None  # a built-in template name, or None to detect from the model
    fim_order: FimOrder = FimOrder.AUTO
    n_ctx: int = bounded(4096, 128, 2**31 - 1)
    max_tokens: int = bounded(128, 1, 4096)
    max_lines: int = bounded(8, 1, 1000)
    time_budget_ms: int = bounded(1000, 0, 600_000)
    temperature: float = bounded(0.0, 0.0, 10.0)
    # >1: sample this many in one batch; up to this many different suggestions, best first
    candidates: int = bounded(1, 1, MAX_CANDIDATES)
    candidate_temperature: float = bounded(0.5, 0.0, 10.0)
    n_threads: int | None = bounded(None, 1, 1024)
    n_gpu_layers: int = bounded(-1, -1, 100_000)
    flash_attn: bool = True
    prefix_tokens: int | None = bounded(None, 0, 1 << 20)
    suffix_tokens: int | None = bounded(None, 0, 1 << 20)
    # snippets of the repository (repository.py) in the prompt: off until the crossfile
    # benchmark shows them to help (on HumanEval they cost 12 points)
    workspace_context: bool = False
    context_tokens: int = bounded(512, 0, 1 << 20)  # their budget, taken from the prefix's
    complete_in_comments: bool = False
    disabled_languages: tuple[str, ...] = ()
    cache: bool = True
    kv_reuse: bool = True
    token_healing: bool = True  # a cursor inside a word: the model re-writes its last token
    prompt_lookup: bool = False  # drafts verified in a batch: slower on 2 CPU cores (measured)
    min_confidence: float = bounded(0.0, 0.0, 1.0)  # withhold suggestions less sure (0: off)
    # a prompt slower to evaluate is served from smaller windows first ...
    jump_prompt_ms: int = bounded(500, 0, 600_000)
    jump_start_ms: int = bounded(5000, 0, 600_000)  # ... once it would take longer (a jump)
    engine: EngineSettings = field(default_factory=EngineSettings)

    def updated(self, values: Mapping[str, Any]) -> tuple[Settings, list[str]]:
        """A copy with `values` applied; also returns the problems found in them.

        An API key is given for the engine URL it comes with: where `values` move
        engine.url to another origin (scheme, host, port) and give no key, the key is
        not kept for it (the code and the key would go to a host nobody gave it for).
        A key given while no URL is set goes to the first URL set after it."""
        updated, problems = _apply(self, values)
        engine = values.get("engine")
        key_given = isinstance(engine, Mapping) and any(
            _snake(str(key)) == "api_key" for key in engine)
        old, new = self.engine, updated.engine
        if new.api_key and not key_given and old.url \
                and origin(old.url) != origin(new.url):
            updated = dataclasses.replace(updated, engine=dataclasses.replace(new, api_key=None))
            problems.append("engine.url moved to another host: the API key given for the "
                            "old one is not sent there; set engine.apiKey again for it")
        return updated, problems

    def needs_new_engine(self, old: Settings) -> bool:
        """Whether going from `old` to these settings takes loading the engine again:
        a setting it was made with changed, or the jump ladder was turned on or off (its
        room in the KV cache is made at load; other changes of jumpPromptMs and
        jumpStartMs apply at once)."""
        return any(getattr(self, name) != getattr(old, name) for name in ENGINE_SETTINGS) \
            or (self.jump_prompt_ms > 0) != (old.jump_prompt_ms > 0)

    def budgets(self, model_n_ctx: int | None = None) -> tuple[int, int]:
        """Prefix and suffix token budgets: the prompt never exceeds n_ctx - max_tokens.

        16 tokens are kept for the template's special tokens and a BOS."""
        n_ctx = min(self.n_ctx, model_n_ctx) if model_n_ctx else self.n_ctx
        room = max(64, n_ctx - self.max_tokens - 16)
        suffix = self.suffix_tokens if self.suffix_tokens is not None else room // 4
        suffix = max(0, min(suffix, room // 2))
        prefix = self.prefix_tokens if self.prefix_tokens is not None else room - suffix
        prefix = max(16, min(prefix, room - suffix))
        return prefix, suffix


def _snake(key: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower().replace("-", "_")


def _coerce(value: Any, annotation: Any) -> Any:
    """Convert `value` to `annotation` or raise ValueError."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg)
            except ValueError as exc:
                errors.append(str(exc))
        raise ValueError("; ".join(errors))
    if origin is tuple:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"expected a list, got {value!r}")
        return tuple(_coerce(v, args[0]) for v in value)
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        try:
            return annotation(value)
        except ValueError:
            known = ", ".join(str(member.value) for member in annotation)
            raise ValueError(f"expected one of {known}, got {value!r}") from None
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on", "0", "false",
                                                        "no", "off"):
            return value.lower() in ("1", "true", "yes", "on")
        raise ValueError(f"expected true or false, got {value!r}")
    if annotation is int:
        if isinstance(value, bool) or isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"expected an integer, got {value!r}")
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ValueError(f"expected an integer, got {value!r}") from None
    if annotation is float:
        if isinstance(value, bool):
            raise ValueError(f"expected a number, got {value!r}")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"expected a number, got {value!r}") from None
        if not math.isfinite(number):
            raise ValueError(f"expected a finite number, got {value!r}")
        return number
    if annotation is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        raise ValueError(f"expected a string, got {value!r}")
    raise ValueError(f"unsupported setting type {annotation!r}")


def _apply(obj: Any, values: Mapping[str, Any], path: str = "") -> tuple[Any, list[str]]:
    hints = typing.get_type_hints(type(obj))
    fields = {f.name: f for f in dataclasses.fields(obj)}
    names = set(fields)
    changes: dict[str, Any] = {}
    problems: list[str] = []
    for raw_key, value in values.items():
        key = _snake(str(raw_key))
        if key not in names:
            problems.append(f"unknown setting {path}{raw_key!r}")
            continue
        current = getattr(obj, key)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, Mapping):
                problems.append(f"setting {path}{raw_key} must be an object")
                continue
            changes[key], sub = _apply(current, value, f"{path}{raw_key}.")
            problems.extend(sub)
            continue
        try:
            changes[key] = _clamp(_coerce(value, hints[key]), fields[key], problems,
                                  f"{path}{raw_key}")
        except ValueError as exc:
            problems.append(f"setting {path}{raw_key}: {exc}")
    return dataclasses.replace(obj, **changes), problems


def _clamp(value: Any, spec: dataclasses.Field, problems: list[str], name: str) -> Any:
    """`value` within its field's bounds (`bounded`), a clamp reported in `problems`."""
    low, high = spec.metadata.get("low"), spec.metadata.get("high")
    if value is None or (low is None and high is None):
        return value
    clamped = min(max(value, low), high)
    if clamped != value:
        problems.append(f"setting {name}: {value!r} is out of range "
                        f"[{low}, {high}]; using {clamped!r}")
    return type(value)(clamped)


def from_environment(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """`REFACT_LSP_MAX_TOKENS=64` → {"max_tokens": "64"}; `REFACT_LSP_ENGINE_URL` → engine.url.

    `REFACT_LSP_API_KEY` is the documented short name for the engine's key.
    """
    environ = os.environ if environ is None else environ
    top = {f.name for f in dataclasses.fields(Settings)} - {"engine"}
    engine_fields = {f.name for f in dataclasses.fields(EngineSettings)}
    values: dict[str, Any] = {}
    engine: dict[str, Any] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        key = name[len(ENV_PREFIX):].lower()
        if key in top:
            values[key] = value
        elif key == "engine":
            engine["kind"] = value
        elif key.startswith("engine_") and key[len("engine_"):] in engine_fields:
            engine[key[len("engine_"):]] = value
        elif key == "api_key":
            engine["api_key"] = value
    if engine:
        values["engine"] = engine
    return values


def editor_settings(payload: Any) -> Mapping[str, Any]:
    """The part of an editor's settings payload meant for us.

    Editors send either our settings directly or wrap them as `{"refact": {...}}`
    (VS Code sections) or `{"settings": {"refact": {...}}}`.
    """
    if not isinstance(payload, Mapping):
        return {}
    if isinstance(payload.get("settings"), Mapping):
        payload = payload["settings"]
    for section in ("refact", "refact-lsp", "refact_lsp"):
        if isinstance(payload.get(section), Mapping):
            return payload[section]
    return payload
