"""Inference engines: embedded llama.cpp, or a shared server over HTTP."""

from __future__ import annotations

from refact_lsp.config import EngineKind, Settings
from refact_lsp.engines.base import Engine, EngineError
from refact_lsp.models import Progress, resolve
from refact_lsp.prompts import template_named
from refact_lsp.secrets import display_url


def create_engine(settings: Settings, progress: Progress | None = None) -> Engine:
    """The engine the settings ask for, with its model loaded. Raises ModelError or
    EngineError with a message meant for a person."""
    kind = settings.engine.kind
    template = None
    if settings.template:
        try:
            template = template_named(settings.template)
        except ValueError as exc:
            raise EngineError(str(exc)) from None
    if kind == EngineKind.LLAMA_CPP:
        from refact_lsp.engines.llama_cpp import LlamaCppEngine

        path = resolve(settings.model, settings.cache_dir, progress)
        if progress:
            progress(0, None, f"loading {path.name}")
        return LlamaCppEngine(path, n_ctx=settings.n_ctx, n_threads=settings.n_threads,
                              n_gpu_layers=settings.n_gpu_layers,
                              flash_attn=settings.flash_attn, template=template,
                              kv_reuse=settings.kv_reuse, candidates=settings.candidates,
                              jump_ms=settings.jump_prompt_ms,
                              jump_start_ms=settings.jump_start_ms)
    if kind in (EngineKind.LLAMA_SERVER, EngineKind.OPENAI):
        from refact_lsp.engines.http import LlamaServerEngine, OpenAIEngine

        if progress:
            progress(0, None, f"connecting to {kind} at {display_url(settings.engine.url)}")
        engine_class = LlamaServerEngine if kind == EngineKind.LLAMA_SERVER else OpenAIEngine
        return engine_class(settings.engine, n_ctx=settings.n_ctx, template=template)
    known = ", ".join(member.value for member in EngineKind)
    raise EngineError(f"unknown engine kind {kind!r}; known: {known}")
