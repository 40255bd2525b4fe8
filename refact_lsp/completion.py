"""One completion request end to end: context → prompt → engine (stops in the loop) → item.

`Completer.prepare` runs where the request arrives (it reads the document, so it must run
between two edits); `Completer.run` does the inference and belongs on the worker thread.
`Worker` is that thread: one at a time, and the newest request for a document
supersedes the one queued or running for it.
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import logging
import math
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from refact_lsp import confidence, stops
from refact_lsp import context as context_mod
from refact_lsp.cache import Cached, SuggestionCache
from refact_lsp.config import Settings
from refact_lsp.documents import Document, Position
from refact_lsp.engines.base import Engine, Generation, GenerationRequest, StopReason
from refact_lsp.prompts import ContextFile, Prompt, RepoPath, context_cost, render
from refact_lsp.repository import Repository
from refact_lsp.windows import Windows


@dataclass(frozen=True)
class Rung:
    """A smaller window that serves after a jump to code the engine's cache does not
    hold, until the full one is evaluated (Settings.jump_prompt_ms)."""

    prefix_tokens: int
    suffix_tokens: int
    enclosing: bool  # inside the definition around the cursor, with the file's outline
    sibling: bool = False  # room a short definition leaves: the one most like it before


# Smallest first. The small ones are the definition the cursor is in (its signature and
# as much of its body as fits) with the imports and enclosing signatures: the last 48
# tokens before the cursor, what they were before, rarely told the model what it needed.
# A first one of 192 tokens before the cursor was measured (2 CPU cores): on cold opens
# of real code the author's line on 25.0% and 23.8% of two samples of 80 lines against
# 17.5% and 18.8%, median wait 2.4 s against 1.7 s, but the typing replay's p95 grew
# by 40% (8 functions: 3.0 s against 2.1 s, twice). So it serves only the first request
# in a document (FIRST_RUNGS): a file just opened, whose first suggestion is read with
# fresh eyes, where a jump while typing keeps the quicker 128.
# The second one, grown behind the first, also shows the definition most like the one the
# cursor is in, from earlier in the file (a short one being written leaves the room; the
# typing replay, 8 functions: 26% of first lines exact against 23%, p95 1.51 s against
# 1.67 s). In the first one too it got 31% twice, but the wait at a jump grew (p95 2.28 s
# and 2.10 s).
JUMP_RUNGS = (Rung(128, 32, enclosing=True), Rung(384, 128, enclosing=True, sibling=True),
              Rung(768, 256, enclosing=False))
FIRST_RUNGS = (Rung(192, 48, enclosing=True), *JUMP_RUNGS[1:])
MIN_PREFIX_TOKENS = 16  # the repository's snippets leave the prefix at least this
WARM_KEY = "warm:"  # a running warm-up's key: this and its document's uri
MAX_REGION_CHARS = 4000  # a longer cursor region is cut: its start moves closer
TOP_LEVEL_LINE = re.compile(r"^\S", re.MULTILINE)

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
    before: str = ""  # the context windows, remembered with the suggestion (cache.py)
    after: str = ""
    warm_only: bool = False  # evaluate the prompt for later requests, generate nothing
    heal_text: str = ""  # cut from the prompts' end: the model writes it again (healing)
    unhealed_prompt: Prompt | None = None  # with the indentation, for when the model refuses it
    short_prompts: tuple[Prompt, ...] = ()  # the same in smaller windows (JUMP_RUNGS)
    short_unhealed_prompts: tuple[Prompt, ...] = ()
    cancel: threading.Event = field(default_factory=threading.Event)


@dataclass(frozen=True)
class Alternative:
    """Another suggestion for the same cursor: its text and where the range it replaces
    ends (the cursor, or the end of the cursor's line)."""

    text: str
    end: Position


@dataclass(frozen=True)
class Result:
    """A suggestion and the range it replaces; text "" means: show nothing.
    `alternatives` are the other distinct suggestions, best first (`candidates`)."""

    text: str
    start: Position
    end: Position
    reason: str = ""
    generation: Generation | None = None
    alternatives: tuple[Alternative, ...] = ()

    def choices(self) -> tuple[Alternative, ...]:
        """Every suggestion to show, best first; none for an empty result."""
        return (Alternative(self.text, self.end), *self.alternatives) if self.text else ()


@dataclass
class Stats:
    """Counters for benchmarks and `refact/stats`: how much the caches saved."""

    requests: int = 0
    cache_hits: int = 0
    generations: int = 0
    cancelled: int = 0
    prompt_tokens: int = 0
    reused_tokens: int = 0
    generated_tokens: int = 0
    drafted_tokens: int = 0  # prompt-lookup drafts checked, and those the model confirmed
    accepted_tokens: int = 0
    prompt_ms: float = 0.0
    generate_ms: float = 0.0
    warmed_tokens: int = 0
    last: dict[str, Any] = field(default_factory=dict)
    # What the model said of the last generation's first suggestion (confidence.py) and
    # its score: what the gate's calibration fits; None where nothing was shown.
    shown_evidence: dict[str, Any] | None = None


class Completer:
    def __init__(self, engine: Engine, settings: Settings,
                 repository: Repository | None = None) -> None:
        """`repository` gives the snippets of the workspace a prompt may include."""
        self.engine = engine
        self.settings = settings
        self.repository = repository
        self.cache = SuggestionCache()
        self.stats = Stats()
        self._regions: dict[str, str] = {}  # uri -> the prefix text before its cursor region
        self._answered: set[str] = set()  # documents the model has answered a request in
        self.windows = Windows(engine.count_tokens)
        self._lock = threading.Lock()

    def prepare(self, document: Document, position: Position, *, warm: bool = False,
                trigger: stops.Trigger = stops.Trigger.AUTOMATIC) -> Job | Result:
        """Build the job for a cursor, or an empty Result where nothing should be shown.
        A `warm` job only evaluates the prompt, whatever the suggestion cache holds."""
        settings = self.settings
        offset = document.offset_at(position)
        cursor = document.position_at(offset)
        if document.language_id in settings.disabled_languages:
            return Result("", cursor, cursor, "language disabled")
        comment = document.language.line_comment if document.language else "#"
        files, place = self._context_files(document, offset, comment)
        files_cost = context_cost(self.engine.template, files, place.path, comment,
                                  context_mod.counter(self.engine.count_tokens), place.repo)
        prefix_budget, suffix_budget = settings.budgets(self.engine.n_ctx)
        ctx = self.windows.build(document, offset,
                                 max(MIN_PREFIX_TOKENS, prefix_budget - files_cost), suffix_budget)
        plan = stops.decide(ctx.prefix[len(ctx.outline):], ctx.suffix, ctx.situation,
                            max_lines=settings.max_lines,
                            time_budget_ms=settings.time_budget_ms,
                            complete_in_comments=settings.complete_in_comments,
                            language=document.language.ts_language if document.language
                            else None, trigger=trigger)
        line_end = document.position_at(offset - len(ctx.line_prefix)
                                        + len(document.line_text(cursor.line)))
        self.stats.requests += 1
        if plan.mode == stops.Mode.NONE:
            return Result("", cursor, cursor, plan.reason)
        if settings.cache and not warm:
            with self._lock:
                hits = [Alternative(hit.text, line_end if hit.replaces_line_suffix else cursor)
                        for hit in self.cache.get(document.uri, ctx.prefix, ctx.suffix,
                                                  provisional=self.engine.climbing)]
            if hits:
                self.stats.cache_hits += 1
                return Result(hits[0].text, cursor, hits[0].end, "cache",
                              alternatives=tuple(hits[1:]))
        smaller = [self.windows.build(document, offset, rung.prefix_tokens,
                                      rung.suffix_tokens, enclosing=rung.enclosing,
                                      sibling=rung.sibling)
                   for rung in self._rungs(document.uri, warm)
                   if rung.prefix_tokens < prefix_budget] \
            if settings.jump_prompt_ms > 0 and self.engine.serves_short_prompts else []
        prompts = _Prompts(self, document, ctx, plan, files, place, comment)
        return Job(document.uri, document.version, prompts.of(ctx, True), plan, cursor,
                   line_end, settings.max_tokens, settings.temperature, ctx.prefix,
                   ctx.suffix, heal_text=prompts.heal_text,
                   unhealed_prompt=prompts.of(ctx, False) if plan.heal else None,
                   short_prompts=tuple(prompts.of(window, True) for window in smaller),
                   short_unhealed_prompts=tuple(prompts.of(window, False)
                                                for window in smaller) if plan.heal else (),
                   warm_only=warm)

    def _rungs(self, uri: str, warm: bool) -> tuple[Rung, ...]:
        """The smaller windows for a request: FIRST_RUNGS until the model has answered a
        request in the document (the keystrokes before the first pause are cancelled
        unanswered; a warm-up answers nothing), JUMP_RUNGS after."""
        with self._lock:
            return JUMP_RUNGS if warm or uri in self._answered else FIRST_RUNGS

    def region_start(self, uri: str, prefix: str) -> int:
        """Where the cursor's region starts in `prefix`, for the SPLIT prompt layout.

        The region is the top-level block the cursor is in (its last line that starts
        at column 0), kept while typing stays inside it so that the prompt before it,
        and the KV cache behind that, stay valid.
        """
        with self._lock:
            kept = self._regions.get(uri)
            if kept is not None and prefix.startswith(kept) \
                    and len(prefix) - len(kept) <= MAX_REGION_CHARS:
                return len(kept)
            start = _top_level_line_start(prefix, len(prefix) - MAX_REGION_CHARS // 2)
            self._regions[uri] = prefix[:start]
            return start

    def stats_dict(self) -> dict[str, Any]:
        """`refact/stats`: the counters and which engine serves."""
        return {**dataclasses.asdict(self.stats), "engine": self.engine.description}

    def forget(self, uri: str) -> None:
        """A closed document leaves nothing behind."""
        with self._lock:
            self._regions.pop(uri, None)
            self._answered.discard(uri)
            self.cache.forget(uri)
        self.windows.forget(uri)

    def run(self, job: Job) -> Result | None:
        """Generate and trim (or only warm the cache); runs on the worker thread."""
        if job.warm_only:
            self.stats.warmed_tokens += self.engine.warm(job.prompt, job.cancel,
                                                         job.short_prompts)
            return None
        generation, ranked = self._attempts(job)
        if generation.stopped_by == StopReason.CANCELLED:
            return Result("", job.start, job.start, StopReason.CANCELLED, generation)
        with self._lock:
            self._answered.add(job.uri)
        log.debug("generation %r stopped by %s: %d/%d prompt tokens reused, %d generated, "
                  "%.0f+%.0f ms", generation.text, generation.stopped_by,
                  generation.reused_tokens, generation.prompt_tokens,
                  generation.generated_tokens, generation.prompt_ms, generation.generate_ms)
        if not ranked:
            return Result("", job.start, job.start, "nothing to suggest", generation)
        with self._lock:
            self.cache.put(job.uri, job.before, job.after,
                           [Cached(suggestion.text, suggestion.replaces_line_suffix)
                            for suggestion in ranked], provisional=generation.short_window)
        choices = [Alternative(suggestion.text, job.line_end
                               if suggestion.replaces_line_suffix else job.start)
                   for suggestion in ranked]
        return Result(choices[0].text, job.start, choices[0].end, generation.stopped_by,
                      generation, tuple(choices[1:]))

    def _attempts(self, job: Job) -> tuple[Generation, list[stops.Suggestion]]:
        """The prompt as prepared; where the model only wrote the next line again (it took
        the hole for empty), once more with that line ruled out as its start; where
        nothing fits still, the prompt with the cursor's indentation (stops.unhealed)."""
        generation, ranked = self._attempt(job, job.prompt, job.short_prompts, job.plan)
        repeated = stops.repeated_line(job.plan, generation.text)
        if not ranked and repeated and generation.stopped_by != StopReason.CANCELLED:
            generation, ranked = self._attempt(job, job.prompt, job.short_prompts, job.plan,
                                               avoid_line=repeated)
        if not ranked and job.unhealed_prompt is not None \
                and generation.stopped_by != StopReason.CANCELLED:
            generation, ranked = self._attempt(job, job.unhealed_prompt,
                                               job.short_unhealed_prompts,
                                               stops.unhealed(job.plan))
        return generation, ranked

    def _attempt(self, job: Job, prompt: Prompt, short_prompts: tuple[Prompt, ...],
                 plan: stops.Plan, avoid_line: str = ""
                 ) -> tuple[Generation, list[stops.Suggestion]]:
        more = tuple(stops.Stopper(plan) for _ in range(self.settings.candidates - 1))
        provisional = stops.provisional(plan)
        short_stops = tuple(stops.Stopper(provisional) for _ in range(1 + len(more))) \
            if short_prompts else ()
        generation = self.engine.generate(GenerationRequest(
            prompt=prompt, max_tokens=job.max_tokens, should_stop=stops.Stopper(plan),
            cancel=job.cancel, temperature=job.temperature, key=job.uri,
            time_budget_ms=plan.time_budget_ms, more_stops=more,
            candidate_temperature=self.settings.candidate_temperature,
            short_prompts=short_prompts, short_window_stops=short_stops,
            awaited=plan.mode == stops.Mode.MULTI
            and not plan.line_prefix.strip(), heal_text=job.heal_text,
            lookup=self.settings.prompt_lookup, avoid_line=avoid_line))
        self._count(generation)
        ranked = _ranked(plan, [generation, *generation.alternatives],
                         self.settings.min_confidence)
        self.stats.shown_evidence = _shown_evidence(ranked[0][1]) if ranked else None
        return generation, [suggestion for suggestion, _ in ranked]

    def _count(self, generation: Generation) -> None:
        stats = self.stats
        stats.generations += 1
        stats.cancelled += generation.stopped_by == StopReason.CANCELLED
        stats.prompt_tokens += generation.prompt_tokens
        stats.reused_tokens += generation.reused_tokens
        stats.generated_tokens += generation.generated_tokens
        stats.drafted_tokens += generation.drafted_tokens
        stats.accepted_tokens += generation.accepted_tokens
        stats.prompt_ms += generation.prompt_ms
        stats.generate_ms += generation.generate_ms
        stats.last = dataclasses.asdict(generation)

    def _context_files(self, document: Document, offset: int, comment: str
                       ) -> tuple[tuple[ContextFile, ...], RepoPath]:
        """The repository's snippets for this cursor (none where the setting is off), and
        where the document lies."""
        repository = self.repository  # the service may drop it meanwhile (setting off)
        if repository is None or not self.settings.workspace_context:
            return (), RepoPath.outside(document.uri)
        count = context_mod.counter(self.engine.count_tokens)
        if self.engine.template.file_sep is None:  # laid out as comment lines
            count = _commented(count, comment)
        return (repository.snippets(document, offset, count, self.settings.context_tokens),
                repository.place(document))


class _Prompts:
    """The prompts of one request's windows: each ends at the cursor, less the text that
    the model writes itself (the cursor's indentation where healed, the last token of a
    word with token healing); the full window's has the repository's snippets."""

    def __init__(self, completer: Completer, document: Document, ctx: context_mod.Context,
                 plan: stops.Plan, files: tuple[ContextFile, ...], place: RepoPath,
                 comment: str) -> None:
        self.engine, self.settings = completer.engine, completer.settings
        self.document, self.full, self.plan = document, ctx, plan
        self.files, self.place, self.comment = files, place, comment
        prefix = ctx.prefix[:len(ctx.prefix) - len(plan.heal)] if plan.heal else ctx.prefix
        self.heal_text = "" if plan.heal or not self.settings.token_healing \
            else prefix[self.engine.healing_start(prefix):]
        region_start = completer.region_start(document.uri, prefix)
        self.region_chars = len(prefix) - region_start

    def of(self, window: context_mod.Context, healed: bool) -> Prompt:
        """The prompt for a window; its region is as far from the cursor as in the full
        window's (counted from the end: windows start in different places)."""
        text = window.prefix
        cut = (len(self.plan.heal) if healed else 0) + len(self.heal_text)
        return render(self.engine.template, self.settings.fim_order, text[:len(text) - cut],
                      window.suffix, self.files if window is self.full else (),
                      path=self.place.path, comment=self.comment,
                      region_start=max(0, len(text) - len(self.plan.heal)
                                       - self.region_chars), repo=self.place.repo)


def ranked_suggestions(plan: stops.Plan, candidates: Sequence[Generation],
                       min_confidence: float = 0.0) -> list[stops.Suggestion]:
    """The distinct suggestions the candidates leave (trimmed, parsing, and sure enough:
    confidence.py), best first.

    The first candidate is the greedy one. For a block the model's surest comes first
    (highest mean log-probability of its tokens; the earlier wins a tie); on one line
    the greedy one does, then the others by that measure (measured on HumanEval
    infilling: the surest of 4 candidates won 5 points on blocks, lost 3 on lines)."""
    return [suggestion for suggestion, _ in _ranked(plan, candidates, min_confidence)]


def _ranked(plan: stops.Plan, candidates: Sequence[Generation], min_confidence: float
            ) -> list[tuple[stops.Suggestion, confidence.Evidence | None]]:
    """`ranked_suggestions`, each with what the model said of it (its evidence)."""
    scored = []
    for index, generation in enumerate(candidates):
        suggestion = stops.finish(plan, generation.text,
                                  ended=generation.stopped_by == StopReason.EOS)
        if suggestion is None:
            continue
        found = _evidence(plan, generation, suggestion)
        if not confidence.worth_showing(found, min_confidence):
            continue
        logprob = generation.mean_logprob if generation.mean_logprob is not None else -math.inf
        greedy_first = index == 0 and plan.mode != stops.Mode.MULTI
        scored.append((not greedy_first, -logprob, index, suggestion, found))
    ranked: dict[str, tuple[stops.Suggestion, confidence.Evidence | None]] = {}
    for *_, suggestion, found in sorted(scored, key=lambda entry: entry[:3]):
        ranked.setdefault(suggestion.text, (suggestion, found))
    return list(ranked.values())


def _evidence(plan: stops.Plan, generation: Generation, suggestion: stops.Suggestion
              ) -> confidence.Evidence | None:
    """What the model said of the tokens that wrote the suggestion: the raw output up to
    where the shown text ends (what `stops.finish` cut off after it does not count)."""
    raw = generation.text
    shown = stops.visible(plan, raw) or ""
    return confidence.evidence(generation.token_logprobs,
                               len(raw) - len(shown) + len(suggestion.text),
                               generation.short_window)


def _shown_evidence(found: confidence.Evidence | None) -> dict[str, Any] | None:
    """The first suggestion's evidence and score for `refact/stats`."""
    return None if found is None else {**dataclasses.asdict(found),
                                       "score": confidence.score(found)}


def _commented(count: Callable[[str], int], comment: str) -> Callable[[str], int]:
    """Tokens of a text laid out as comment lines: each line costs its comment too."""
    width = count(comment + " ")
    return lambda text: count(text) + width * (text.count("\n") + 1)


def _top_level_line_start(text: str, not_before: int) -> int:
    """Start of the last line of `text` that begins at column 0 with a non-blank character
    (a top-level statement or definition) at or after `not_before`; where there is none,
    the first line start at or after `not_before`."""
    starts = [m.start() for m in TOP_LEVEL_LINE.finditer(text, max(0, not_before))]
    if starts:
        return starts[-1]
    return text.find("\n", not_before) + 1 if not_before > 0 else 0


class Worker:
    """One inference thread; the newest job for a key supersedes the older one.

    Warm-up jobs wait until no real job is queued, and any real job stops a running one.
    A long job (a chat answer, `job.long`) calls `serve_waiting` between its tokens, which
    runs the short jobs queued meanwhile on this thread, there and then: a completion
    waits for one token of a chat answer, never for the whole of it.
    """

    def __init__(self, run: Callable[[Any], Any], name: str = "refact-lsp-inference") -> None:
        self._run = run
        self._queue: collections.OrderedDict[str, tuple[Job, concurrent.futures.Future]] = \
            collections.OrderedDict()
        self._warm: Job | None = None
        self._running: dict[str, Job] = {}
        self._lock = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def submit(self, key: str, job: Job) -> concurrent.futures.Future:
        future: concurrent.futures.Future = concurrent.futures.Future()
        with self._lock:
            self.supersede(key)
            for running in self._running.values():
                if running.warm_only:
                    running.cancel.set()
            if self._closed:
                _settle(future)
                return future
            self._queue[key] = (job, future)
            self._lock.notify()
        return future

    def warm(self, job: Job) -> None:
        """Evaluate a prompt when idle; a newer warm-up replaces one not yet started."""
        with self._lock:
            if not self._closed:
                self._warm = job
                self._lock.notify()

    def supersede(self, key: str) -> None:
        """Drop the queued job and warm-up for `key` (a document's uri) and stop the
        running ones: they are for text that changed or a document that closed."""
        with self._lock:
            queued = self._queue.pop(key, None)
            if queued:
                _settle(queued[1])
            if self._warm is not None and self._warm.uri == key:
                self._warm = None
            for running_key in (key, WARM_KEY + key):
                if (running := self._running.get(running_key)) is not None:
                    running.cancel.set()

    def _next(self) -> tuple[str, Job, concurrent.futures.Future | None] | None:
        with self._lock:
            while not self._queue and self._warm is None and not self._closed:
                self._lock.wait()
            if self._closed:
                return None
            if self._queue:
                return self._take(next((key for key, (job, _) in self._queue.items()
                                        if not _long(job)), next(iter(self._queue))))
            job, self._warm = self._warm, None
            key = WARM_KEY + job.uri
            self._running[key] = job
            return key, job, None

    def _take(self, key: str) -> tuple[str, Job, concurrent.futures.Future | None]:
        """Move the queued job for `key` to the running ones (the lock is held); its
        future is None where its requester gave up on it already."""
        job, future = self._queue.pop(key)
        self._running[key] = job
        return key, job, future if future.set_running_or_notify_cancel() else None

    def serve_waiting(self) -> int:
        """Run the short jobs queued now, on this thread (called by a long job between
        its tokens, on the worker thread); returns how many ran."""
        served = 0
        while True:
            with self._lock:
                key = next((key for key, (job, _) in self._queue.items()
                            if not _long(job)), None)
                if key is None or self._closed:
                    return served
                taken = self._take(key)
            self._serve(*taken)
            served += 1

    def _loop(self) -> None:
        while (taken := self._next()) is not None:
            self._serve(*taken)

    def _serve(self, key: str, job: Job, future: concurrent.futures.Future | None) -> None:
        try:
            if future is None and not job.warm_only:
                return  # cancelled before it started
            result = job.run(self.serve_waiting) if _long(job) else self._run(job)
            if future is not None:
                _settle(future, result)
        except Exception as exc:  # reported to the caller, never kills the thread
            log.exception("inference failed")
            if future is not None and not future.done():
                future.set_exception(exc)
        finally:
            with self._lock:
                self._running.pop(key, None)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._warm = None
            for job, future in self._queue.values():
                job.cancel.set()
                _settle(future)
            self._queue.clear()
            for job in self._running.values():
                job.cancel.set()
            self._lock.notify_all()
        self._thread.join(timeout=5)


def _long(job: Any) -> bool:
    """A job that yields to the others between its tokens (a chat answer)."""
    return bool(getattr(job, "long", False))


def _settle(future: concurrent.futures.Future, result: Any = None) -> None:
    """Give a job's future its result unless its requester gave up on it already."""
    if not future.done():
        future.set_result(result)
