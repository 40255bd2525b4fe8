"""One completion request end to end: context → prompt → engine (stops in the loop) → item.

`Completer.prepare` runs where the request arrives (it reads the document, so it must run
between two edits); `Completer.run` does the inference and belongs on the worker thread.
`Worker` is that thread: one at a time, and the newest request for a document
supersedes the one queued or running for it.
"""

from __future__ import annotations

import collections
import concurrent.futures
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from refact_lsp import context as context_mod
from refact_lsp import stops
from refact_lsp.config import Settings
from refact_lsp.documents import Document, Position
from refact_lsp.engines.base import Engine, Generation, GenerationRequest
from refact_lsp.prompts import Prompt, render

log = logging.getLogger(__name__)


@dataclass
class Job:
    """Everything inference needs, taken from the document at request time."""

    uri: str
    version: int
    prompt: Prompt
    plan: stops.Plan
    start: Position  # the cursor
    line_end: Position  # end of the cursor's line (for suggestions that replace its rest)
    max_tokens: int
    temperature: float
    cancel: threading.Event = field(default_factory=threading.Event)


@dataclass(frozen=True)
class Result:
    """A suggestion and the range it replaces; text "" means: show nothing."""

    text: str
    start: Position
    end: Position
    reason: str = ""
    generation: Generation | None = None


class Completer:
    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings

    def prepare(self, document: Document, position: Position,
                other_documents: Sequence[Document] = ()) -> Job | Result:
        """Build the job for a cursor, or an empty Result where nothing should be shown."""
        settings = self.settings
        offset = document.offset_at(position)
        cursor = document.position_at(offset)
        if document.language_id in settings.disabled_languages:
            return Result("", cursor, cursor, "language disabled")
        prefix_budget, suffix_budget = settings.budgets(self.engine.n_ctx)
        files_budget = settings.open_files_tokens if self._open_files_on() else 0
        ctx = context_mod.build(document, offset, self.engine.count_tokens, prefix_budget,
                                suffix_budget, other_documents=other_documents,
                                files_budget=files_budget)
        plan = stops.decide(ctx.line_prefix, ctx.line_suffix, ctx.suffix, ctx.situation,
                            max_lines=settings.max_lines,
                            time_budget_ms=settings.time_budget_ms,
                            complete_in_comments=settings.complete_in_comments)
        if plan.mode == stops.NONE:
            return Result("", cursor, cursor, plan.reason)
        prefix = ctx.prefix[:len(ctx.prefix) - len(plan.heal)] if plan.heal else ctx.prefix
        prompt = render(self.engine.template, settings.fim_order, prefix, ctx.suffix,
                        ctx.context_files, path=_path_of(document.uri))
        line = document.line_text(cursor.line)
        line_end = document.position_at(offset - len(ctx.line_prefix) + len(line))
        return Job(document.uri, document.version, prompt, plan, cursor, line_end,
                   settings.max_tokens, settings.temperature)

    def run(self, job: Job) -> Result:
        """Generate and trim; runs on the worker thread."""
        stopper = stops.Stopper(job.plan)
        generation = self.engine.generate(GenerationRequest(
            prompt=job.prompt, max_tokens=job.max_tokens, should_stop=stopper,
            cancel=job.cancel, temperature=job.temperature, key=job.uri))
        if generation.stopped_by == "cancelled":
            return Result("", job.start, job.start, "cancelled", generation)
        suggestion = stops.finish(job.plan, generation.text,
                                  complete=generation.stopped_by in ("eos", "stop"))
        log.debug("generation %r stopped by %s: %d/%d prompt tokens reused, %d generated, "
                  "%.0f+%.0f ms", generation.text, generation.stopped_by,
                  generation.reused_tokens, generation.prompt_tokens,
                  generation.generated_tokens, generation.prompt_ms, generation.generate_ms)
        if suggestion is None:
            return Result("", job.start, job.start, "nothing to suggest", generation)
        end = job.line_end if suggestion.replaces_line_suffix else job.start
        return Result(suggestion.text, job.start, end, generation.stopped_by, generation)

    def _open_files_on(self) -> bool:
        if self.settings.open_files is not None:
            return self.settings.open_files
        return self.engine.template.file_sep is not None


def _path_of(uri: str) -> str:
    return uri.rsplit("/", 1)[-1]


class Worker:
    """One inference thread; the newest job for a key supersedes the older one."""

    def __init__(self, run: Callable[[Any], Any], name: str = "refact-lsp-inference") -> None:
        self._run = run
        self._queue: collections.OrderedDict[str, tuple[Job, concurrent.futures.Future]] = \
            collections.OrderedDict()
        self._running: dict[str, Job] = {}
        self._lock = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def submit(self, key: str, job: Job) -> concurrent.futures.Future:
        future: concurrent.futures.Future = concurrent.futures.Future()
        with self._lock:
            self.supersede(key)
            if self._closed:
                future.set_result(None)
                return future
            self._queue[key] = (job, future)
            self._lock.notify()
        return future

    def supersede(self, key: str) -> None:
        """Drop the queued job for `key` and stop the running one."""
        with self._lock:
            queued = self._queue.pop(key, None)
            if queued:
                queued[1].set_result(None)
            running = self._running.get(key)
            if running:
                running.cancel.set()

    def _loop(self) -> None:
        while True:
            with self._lock:
                while not self._queue and not self._closed:
                    self._lock.wait()
                if self._closed:
                    return
                key, (job, future) = self._queue.popitem(last=False)
                if not future.set_running_or_notify_cancel():
                    continue
                self._running[key] = job
            try:
                future.set_result(self._run(job))
            except Exception as exc:  # reported to the caller, never kills the thread
                log.exception("inference failed")
                future.set_exception(exc)
            finally:
                with self._lock:
                    self._running.pop(key, None)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for job, future in self._queue.values():
                job.cancel.set()
                future.set_result(None)
            self._queue.clear()
            for job in self._running.values():
                job.cancel.set()
            self._lock.notify_all()
        self._thread.join(timeout=5)
