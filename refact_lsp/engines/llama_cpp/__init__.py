"""The embedded engine: llama.cpp in process, with KV-cache reuse and prompt-time
cancellation.

- engine.py: `LlamaCppEngine`, the `Engine` that loads the model and serves requests;
- kv_cache.py: what the KV cache holds and how a new prompt reuses it, the only code
  that touches llama-cpp-python's internals;
- ladder.py: after a jump, smaller windows serve while larger ones grow (a policy);
- sampling.py: the decode loop, one step per token shared by all candidates;
- vocab.py: a prompt's tokens and the tokens that end a completion;
- speed.py: prompt evaluation speed, as measured.
"""

from refact_lsp.engines.llama_cpp.engine import LlamaCppEngine
from refact_lsp.engines.llama_cpp.kv_cache import EXACT_MS

__all__ = ["EXACT_MS", "LlamaCppEngine"]
