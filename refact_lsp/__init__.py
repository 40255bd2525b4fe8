"""refact-lsp: local fill-in-the-middle code completion over LSP."""

__version__ = "0.1.0"
