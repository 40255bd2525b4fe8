"""A tiny, random-weight GGUF of llama.cpp architecture `refact`, for tests.

The file has Refact-1.6B's layout in miniature: architecture `refact` (ALiBi, no RoPE,
multi-query attention with one KV head, SwiGLU feed-forward, RMS norm), a GPT-2 style
byte-level BPE tokenizer with pre-tokenizer `refact`, and the StarCoder special tokens
at Refact's ids (`<|endoftext|>`=0 as BOS and EOS, `<fim_prefix>`=1, `<fim_middle>`=2,
`<fim_suffix>`=3, ..., `<empty_output>`=14), marked CONTROL so llama.cpp treats them as
special. The vocabulary is those specials, the 256 byte-level characters and the merges
learnt from a small code corpus; weights come from a seeded numpy RNG, so the same bytes
are written every time. The file is well under a megabyte and loads in milliseconds.
Its completions are noise: it exists to check template detection, tokenization and
that the architecture loads and generates, not output quality.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import gguf
import numpy as np

ARCH = "refact"

# Refact-1.6B's special tokens, in its vocabulary's order (the same as StarCoder's).
SPECIAL_TOKENS = (
    "<|endoftext|>", "<fim_prefix>", "<fim_middle>", "<fim_suffix>", "<fim_pad>",
    "<filename>", "<gh_stars>", "<issue_start>", "<issue_comment>", "<issue_closed>",
    "<jupyter_start>", "<jupyter_text>", "<jupyter_code>", "<jupyter_output>",
    "<empty_output>", "<commit_before>", "<commit_msg>", "<commit_after>", "<reponame>",
)
EOT_ID = 0
FIM_PREFIX_ID = 1
FIM_MIDDLE_ID = 2
FIM_SUFFIX_ID = 3

N_LAYER = 2
N_EMBD = 64
N_HEAD = 4
N_HEAD_KV = 1
N_FF = 128
N_CTX_TRAIN = 4096
N_MERGES = 300
SEED = 1234

CORPUS = '''\
import os
import sys
from pathlib import Path


def f(x):
    return x + 1


def main(argv=None):
    """Print the arguments, one a line."""
    args = sys.argv[1:] if argv is None else argv
    for index, value in enumerate(args):
        print(f"{index}: {value}")
    return 0


class Point:
    def __init__(self, x, y):
        self.x = x
        self.y = y

    def __repr__(self):
        return f"Point({self.x}, {self.y})"

    def distance(self, other):
        return ((self.x - other.x) ** 2 + (self.y - other.y) ** 2) ** 0.5


def read_lines(path):
    with open(path, encoding="utf-8") as handle:
        return [line.rstrip("\\n") for line in handle]


if __name__ == "__main__":
    sys.exit(main())

function add(a, b) {
    return a + b;
}

const items = [1, 2, 3].map((item) => item * 2);
for (let i = 0; i < items.length; i++) {
    console.log(items[i]);
}

int main(int argc, char **argv) {
    for (int i = 0; i < argc; i++) {
        printf("%s\\n", argv[i]);
    }
    return 0;
}
'''

# Close to llama.cpp's `refact` pre-tokenizer (digits one by one); only the merges it
# learns depend on it, and a merge the real pre-tokenizer never meets is harmless.
_PRETOKENIZE = re.compile(
    r"'s|'t|'re|'ve|'m|'ll|'d| ?[^\W\d]+|\d| ?[^\s\w]+|\s+(?!\S)|\s+")


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's map from each byte to a printable character."""
    printable = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
                 + list(range(ord("®"), ord("ÿ") + 1)))
    chars = list(printable)
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return dict(zip(printable, map(chr, chars), strict=True))


def _learn_merges(text: str, n_merges: int) -> list[tuple[str, str]]:
    """Byte-level BPE merges from `text`, most frequent pair first, ties by pair order."""
    byte_char = _bytes_to_unicode()
    words = Counter(
        tuple(byte_char[b] for b in piece.encode("utf-8"))
        for piece in _PRETOKENIZE.findall(text)
    )
    merges: list[tuple[str, str]] = []
    while len(merges) < n_merges:
        pairs: Counter[tuple[str, str]] = Counter()
        for word, count in words.items():
            for pair in zip(word, word[1:], strict=False):
                pairs[pair] += count
        if not pairs:
            break
        best = min(pairs, key=lambda pair: (-pairs[pair], pair))
        if pairs[best] < 2:
            break
        merges.append(best)
        joined = best[0] + best[1]
        merged: Counter[tuple[str, ...]] = Counter()
        for word, count in words.items():
            out: list[str] = []
            i = 0
            while i < len(word):
                if i + 1 < len(word) and (word[i], word[i + 1]) == best:
                    out.append(joined)
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            merged[tuple(out)] += count
        words = merged
    return merges


def _vocabulary(fim_tokens: bool = True) -> tuple[list[str], list[int], list[str]]:
    """Tokens, their types and the merges: specials, then 256 byte chars, then merges.

    Without `fim_tokens`, every special token but <|endoftext|> gets a name no FIM
    template knows, at the same id."""
    tokens = [token if fim_tokens or index == EOT_ID else f"<unused_{index}>"
              for index, token in enumerate(SPECIAL_TOKENS)]
    types = [gguf.TokenType.CONTROL] * len(tokens)
    byte_chars = sorted(_bytes_to_unicode().values())
    tokens += byte_chars
    types += [gguf.TokenType.NORMAL] * len(byte_chars)
    known = set(tokens)
    merges = _learn_merges(CORPUS, N_MERGES)
    for first, second in merges:
        joined = first + second
        if joined not in known:
            known.add(joined)
            tokens.append(joined)
            types.append(gguf.TokenType.NORMAL)
    return tokens, [int(t) for t in types], [f"{a} {b}" for a, b in merges]


def write_tiny_refact_gguf(path: Path, *, fim_tokens: bool = True) -> Path:
    """Write the tiny `refact` model to `path` (overwriting it) and return `path`.

    Deterministic: the same bytes every call. Weights are f32, drawn from a normal
    distribution with a seeded RNG; norms are ones. `fim_tokens=False` writes a model
    whose vocabulary has no fill-in-the-middle tokens, which cannot complete code.
    """
    path = Path(path)
    tokens, types, merges = _vocabulary(fim_tokens)
    n_vocab = len(tokens)
    head_dim = N_EMBD // N_HEAD
    n_embd_kv = head_dim * N_HEAD_KV
    rng = np.random.default_rng(SEED)

    def weight(*shape: int) -> np.ndarray:
        # numpy shape is ggml's ne reversed: (rows = outputs, cols = inputs)
        return (rng.standard_normal(shape) * 0.08).astype(np.float32)

    writer = gguf.GGUFWriter(str(path), ARCH)
    writer.add_name("tiny-refact-test")
    writer.add_context_length(N_CTX_TRAIN)
    writer.add_embedding_length(N_EMBD)
    writer.add_block_count(N_LAYER)
    writer.add_feed_forward_length(N_FF)
    writer.add_head_count(N_HEAD)
    writer.add_head_count_kv(N_HEAD_KV)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)

    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("refact")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    writer.add_bos_token_id(EOT_ID)
    writer.add_eos_token_id(EOT_ID)
    writer.add_add_bos_token(False)

    writer.add_tensor("token_embd.weight", weight(n_vocab, N_EMBD))
    for bid in range(N_LAYER):
        blk = f"blk.{bid}"
        writer.add_tensor(f"{blk}.attn_norm.weight", np.ones(N_EMBD, dtype=np.float32))
        writer.add_tensor(f"{blk}.attn_q.weight", weight(N_EMBD, N_EMBD))
        writer.add_tensor(f"{blk}.attn_k.weight", weight(n_embd_kv, N_EMBD))
        writer.add_tensor(f"{blk}.attn_v.weight", weight(n_embd_kv, N_EMBD))
        writer.add_tensor(f"{blk}.attn_output.weight", weight(N_EMBD, N_EMBD))
        writer.add_tensor(f"{blk}.ffn_norm.weight", np.ones(N_EMBD, dtype=np.float32))
        writer.add_tensor(f"{blk}.ffn_gate.weight", weight(N_FF, N_EMBD))
        writer.add_tensor(f"{blk}.ffn_up.weight", weight(N_FF, N_EMBD))
        writer.add_tensor(f"{blk}.ffn_down.weight", weight(N_EMBD, N_FF))
    writer.add_tensor("output_norm.weight", np.ones(N_EMBD, dtype=np.float32))
    writer.add_tensor("output.weight", weight(n_vocab, N_EMBD))

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
