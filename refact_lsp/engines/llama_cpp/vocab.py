"""The model's vocabulary: a prompt's tokens, the template's special tokens, and which
tokens end a completion.

llama-cpp-python's own infill path is not used (its FIM token ids are hard-coded); the
prompt is built from the model's own special tokens, found here by their text.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

import llama_cpp

from refact_lsp.engines.healing import Healing, PieceIndex
from refact_lsp.prompts import Prompt

HEALING_TAIL_CHARS = 64  # the end of a text tokenized to find its last token


class Vocabulary:
    def __init__(self, llm: llama_cpp.Llama) -> None:
        self._llm = llm
        self._vocab = llama_cpp.llama_model_get_vocab(llm.model)
        self._add_bos = bool(llama_cpp.llama_vocab_get_add_bos(self._vocab))
        self.special_ids: dict[str, int] = {}  # special tokens found by has_token
        self.stop_ids: set[int] = set()  # the template's stop tokens (see stop_on)
        self._index: PieceIndex | None = None  # the tokens' texts, for token healing
        self._pieces_lock = threading.Lock()

    def has_token(self, text: str) -> bool:
        """True where `text` is a single special token of this model's vocabulary."""
        if text in self.special_ids:
            return True
        ids = self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
        if len(ids) != 1:
            return False
        piece = llama_cpp.llama_vocab_get_text(self._vocab, ids[0])
        if piece is None or piece.decode("utf-8", "replace") != text:
            return False
        self.special_ids[text] = ids[0]
        return True

    @property
    def adds_bos(self) -> bool:
        """Whether tokenize() puts the model's BOS first (a chat template's own is dropped)."""
        return self._add_bos

    def text_of(self, token: int) -> str:
        """A token's text as the vocabulary stores it (a control token's name); "" for
        none (llama.cpp's -1)."""
        piece = llama_cpp.llama_vocab_get_text(self._vocab, token) if token >= 0 else None
        return piece.decode("utf-8", "replace") if piece else ""

    def stop_on(self, texts: Iterable[str]) -> None:
        """The template's stop tokens (those this model has) end a completion."""
        self.stop_ids = {self.special_ids[text] for text in texts if self.has_token(text)}

    def ends(self, token: int) -> bool:
        """The template's stop tokens, end-of-generation and control tokens (file
        markers, chat turns) end a completion: none of them is code."""
        return bool(token in self.stop_ids or llama_cpp.llama_vocab_is_eog(self._vocab, token)
                    or llama_cpp.llama_vocab_get_attr(self._vocab, token)
                    & llama_cpp.LLAMA_TOKEN_ATTR_CONTROL)

    def count_tokens(self, text: str) -> int:
        if not text:
            return 0
        return len(self._llm.tokenize(_utf8(text), add_bos=False, special=False))

    def tokenize(self, prompt: Prompt) -> list[int]:
        """The prompt's tokens: its special parts as the template's tokens, its file text
        as text (a special token's text in a file is never one)."""
        tokens = [self._llm.token_bos()] if self._add_bos else []
        for text, special in prompt.parts:
            if special:
                tokens.append(self.special_ids[text])
            else:
                tokens.extend(self._llm.tokenize(_utf8(text), add_bos=False, special=False))
        return tokens

    def detokenize(self, token: int) -> bytes:
        return self._llm.detokenize([token])

    def healing_start(self, text: str) -> int:
        """Where `text` (a prompt's end at the cursor) is cut for token healing: the start
        of its last token, where that token ends in a letter, a digit or an operator (a
        longer token may continue it); `len(text)` where it ends in whitespace."""
        if not text or text[-1].isspace():
            return len(text)
        tail = text[-HEALING_TAIL_CHARS:]
        tokens = self._llm.tokenize(_utf8(tail), add_bos=False, special=False)
        if not tokens:
            return len(text)
        last = self._llm.detokenize([tokens[-1]]).decode("utf-8", "replace")
        return len(text) - len(last) if tail.endswith(last) and last else len(text)

    def healing(self, removed: str) -> Healing | None:
        """The constraint that has the output write `removed` again; None for nothing."""
        return Healing(_utf8(removed), self._piece_index()) if removed else None

    def beginning(self, line: str) -> list[int]:
        """The tokens that would start writing `line` (stripped) as the output's first
        word, whatever whitespace they carry."""
        return self._piece_index().beginning(_utf8(line.strip())) if line.strip() else []

    def _piece_index(self) -> PieceIndex:
        """Every token's text, indexed once (about a second for 150,000 tokens)."""
        with self._pieces_lock:
            if self._index is None:
                pieces = [b"" if llama_cpp.llama_vocab_get_attr(self._vocab, token)
                          & llama_cpp.LLAMA_TOKEN_ATTR_CONTROL
                          else self._llm.detokenize([token])
                          for token in range(self._llm.n_vocab())]
                self._index = PieceIndex(pieces)
            return self._index


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "replace")
