"""One typed settings model, read from defaults, environment, CLI flags and the editor.

Precedence, lowest first: defaults, `REFACT_LSP_*` environment variables, command-line
flags, `initializationOptions`, `workspace/didChangeConfiguration`. Keys may be camelCase
(as editors send them) or snake_case. Unknown keys and values of the wrong type are
reported, never fatal: the previous value is kept.
"""

from __future__ import annotations

import dataclasses
import os
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

ENV_PREFIX = "REFACT_LSP_"


@dataclass(frozen=True)
class EngineSettings:
    """Where inference runs: in process (llama-cpp) or on a shared server."""

    kind: str = "llama-cpp"  # llama-cpp | llama-server | openai
    url: str | None = None
    api_key: str | None = None
    model: str | None = None
    timeout_s: float = 30.0

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
    fim_order: str = "auto"  # auto | psm | spm | split
    n_ctx: int = 4096
    max_tokens: int = 128
    max_lines: int = 8
    time_budget_ms: int = 1000
    temperature: float = 0.0
    candidates: int = 1  # >1: sample this many in one batch and show the best
    candidate_temperature: float = 0.5
    n_threads: int | None = None
    n_gpu_layers: int = -1
    flash_attn: bool = True
    prefix_tokens: int | None = None
    suffix_tokens: int | None = None
    open_files: bool | None = None  # None: on where the model has a file separator token
    open_files_tokens: int = 512
    complete_in_comments: bool = False
    disabled_languages: tuple[str, ...] = ()
    cache: bool = True
    kv_reuse: bool = True
    jump_prompt_ms: int = 500  # a prompt slower to evaluate is served from smaller windows first
    jump_start_ms: int = 5000  # ... once it would take longer than this (a jump)
    engine: EngineSettings = field(default_factory=EngineSettings)

    def updated(self, values: Mapping[str, Any]) -> tuple[Settings, list[str]]:
        """A copy with `values` applied; also returns the problems found in them."""
        return _apply(self, values)

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
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on", "0", "false",
                                                        "no", "off"):
            return value.lower() in ("1", "true", "yes", "on")
        raise ValueError(f"expected true or false, got {value!r}")
    if annotation is int:
        if isinstance(value, bool):
            raise ValueError(f"expected an integer, got {value!r}")
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ValueError(f"expected an integer, got {value!r}") from None
    if annotation is float:
        if isinstance(value, bool):
            raise ValueError(f"expected a number, got {value!r}")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ValueError(f"expected a number, got {value!r}") from None
    if annotation is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        raise ValueError(f"expected a string, got {value!r}")
    raise ValueError(f"unsupported setting type {annotation!r}")


def _apply(obj: Any, values: Mapping[str, Any], path: str = "") -> tuple[Any, list[str]]:
    hints = typing.get_type_hints(type(obj))
    names = {f.name for f in dataclasses.fields(obj)}
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
            changes[key] = _coerce(value, hints[key])
        except ValueError as exc:
            problems.append(f"setting {path}{raw_key}: {exc}")
    return dataclasses.replace(obj, **changes), problems


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
