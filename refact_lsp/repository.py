"""The repository a completion sees: the workspace index kept current from the editor's
events, the code the person visited and edited lately, and the snippets for a cursor.

The index builds in the background (workspace.BackgroundIndexer: a parsing process at low
priority, no step while a generation runs); nothing here waits for it: a request takes
what is indexed so far. Read-only: nothing in the workspace is written.
"""

from __future__ import annotations

import contextlib
import logging
import os
import posixpath
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from refact_lsp.documents import Document
from refact_lsp.prompts import ContextFile, RepoPath
from refact_lsp.retrieval import RecentChunks, retrieve
from refact_lsp.text import path_of
from refact_lsp.workspace import BackgroundIndexer, WorkspaceIndex, normalize

log = logging.getLogger(__name__)

CountTokens = Callable[[str], int]


class Repository:
    """The workspace folders' index (none without folders: open documents still count)
    and the recently visited code."""

    def __init__(self, roots: Iterable[str], isolated: bool = True) -> None:
        roots = [root for root in roots if os.path.isdir(root)]
        self.index = WorkspaceIndex(roots, isolated=isolated)
        self.recent = RecentChunks()
        self._indexer = BackgroundIndexer(self.index)
        self._indexer.start()
        if roots:
            log.info("indexing %s in the background", ", ".join(roots))

    # -- the editor's events ------------------------------------------------------------

    def opened(self, document: Document) -> None:
        self.index.document_changed(path_of(document.uri), document.text)
        self.recent.add(path_of(document.uri), document.text, 0)

    def edited(self, document: Document, line: int) -> None:
        """An edit at `line`; the index reparses the document once its edits pause."""
        self.index.document_changed(path_of(document.uri), document.text)

    def left(self, document: Document, line: int) -> None:
        """The person asked for a completion at `line` of a document after working in
        another, or saved it: the code there joins the recently visited chunks."""
        self.recent.add(path_of(document.uri), document.text, line)

    def closed(self, document: Document) -> None:
        self.index.document_closed(path_of(document.uri))

    def file_changed(self, uri: str) -> None:
        """Saved, created or changed on disk (didSave, didChangeWatchedFiles)."""
        self.index.file_changed(path_of(uri))

    def file_removed(self, uri: str) -> None:
        self.index.file_removed(path_of(uri))
        self.recent.remove(path_of(uri))

    # -- a completion ---------------------------------------------------------------------

    def snippets(self, document: Document, offset: int, count_tokens: CountTokens,
                 budget: int) -> tuple[ContextFile, ...]:
        """What of the repository a completion at `offset` should see, in `budget` tokens
        of `count_tokens` (ordered most relevant last, nearest the current file)."""
        if budget <= 0:
            return ()
        return retrieve(self.index, path_of(document.uri), document.text, offset,
                        count_tokens, budget, self.recent)

    def place(self, document: Document) -> RepoPath:
        """The document's workspace folder (by name) and its path in it, as the snippets'
        paths are given; outside every folder, no repository and its file name."""
        path = normalize(path_of(document.uri))
        root = self.index.filter.root_of(path)
        if root is None:
            return RepoPath.outside(document.uri)
        return RepoPath(posixpath.basename(root.rstrip("/")), self.index.relative(path))

    def progress(self) -> dict[str, Any]:
        """Files indexed and known, and whether work remains (edits waiting included)."""
        files, known = self.index.counts()
        return {"files": files, "known": known, "pending": self.index.pending()}

    @contextlib.contextmanager
    def generating(self) -> Iterator[None]:
        """Around a generation: no indexing step starts (the CPU is the completion's)."""
        with self._indexer.held():
            yield

    def close(self) -> None:
        self._indexer.stop()
        self.index.close()


class WorkspaceContext:
    """The repository while `workspaceContext` is on, and the editor's events passed on to
    it; while the setting is off there is none: nothing is parsed (the CPU is the
    completions') and the index's memory goes."""

    def __init__(self, documents: Mapping[str, Document]) -> None:
        """`documents` is the server's live map of open documents (read, never written)."""
        self.documents = documents
        self.repository: Repository | None = None
        # the workspace folders, set at initialization (empty: open documents only)
        self.roots: list[str] | None = None
        self._last_uri: str | None = None  # the document asked about last, and where
        self._last_line = 0

    def follow(self, on: bool) -> None:
        """Start or drop the repository as the setting says (once the roots are known)."""
        wanted = on and self.roots is not None
        if wanted and self.repository is None:
            self.repository = Repository(self.roots or [])
            for document in self.documents.values():
                self.repository.opened(document)
        elif not wanted:
            self.close()

    def opened(self, document: Document) -> None:
        if (repository := self.repository) is not None:
            repository.opened(document)

    def edited(self, document: Document, line: int) -> None:
        if (repository := self.repository) is not None:
            repository.edited(document, line)

    def saved(self, document: Document | None, uri: str) -> None:
        if (repository := self.repository) is not None:
            repository.file_changed(uri)
            if document is not None:
                repository.left(document, 0)

    def watched(self, uri: str, removed: bool) -> None:
        """A file changed on disk (workspace/didChangeWatchedFiles)."""
        if (repository := self.repository) is not None:
            if removed:
                repository.file_removed(uri)
            else:
                repository.file_changed(uri)

    def closed(self, document: Document) -> None:
        if (repository := self.repository) is not None:
            repository.closed(document)

    def asked(self, uri: str, line: int) -> None:
        """A completion asked at `line` of `uri`; asked after another document, the code
        the person left there joins the recently visited code."""
        if uri != self._last_uri and (repository := self.repository) is not None:
            if (left := self.documents.get(self._last_uri or "")) is not None:
                repository.left(left, self._last_line)
            self._last_uri = uri
        self._last_line = line

    def generating(self) -> contextlib.AbstractContextManager[None]:
        """Around a generation: no indexing step starts."""
        repository = self.repository
        return repository.generating() if repository else contextlib.nullcontext()

    def close(self) -> None:
        if self.repository is not None:
            self.repository.close()
            self.repository = None
