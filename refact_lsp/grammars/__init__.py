"""Tree-sitter query files, one per language (see refact_lsp/languages.py)."""
