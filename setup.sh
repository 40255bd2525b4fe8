#!/usr/bin/env bash
# Set everything up from scratch and run the main job: a completion in a terminal.
# Creates .venv, builds llama-cpp-python for this CPU (cached by pip afterwards),
# fetches the test model, and prints the completion at examples/shapes.py:17:5.
set -euo pipefail
cd "$(dirname "$0")"
python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
# GGML_NATIVE=OFF: a native build picks AMX kernels that crash on some Xeon CPUs.
CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF}" .venv/bin/pip install -q -e ".[test]"
.venv/bin/refact-lsp complete examples/shapes.py:17:5 --model qwen2.5-coder-0.5b
