#!/usr/bin/env bash
# Set everything up from scratch and run the main job: a completion in a terminal.
# Creates .venv, builds llama-cpp-python for this CPU (kept per build options, so a
# second setup takes seconds), fetches the test model, and prints the completion at
# examples/shapes.py:17:5.
set -euo pipefail
cd "$(dirname "$0")"
python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
# Every vector extension the CPU has (AVX-512, AVX-VNNI), never AMX, whose kernels crash
# on some Xeons (refact_lsp/cpu_build.py); CMAKE_ARGS, where set, is used instead.
cmake_args="${CMAKE_ARGS:-$(python3 refact_lsp/cpu_build.py)}"
# pip's own wheel cache ignores CMAKE_ARGS: the wheel is kept under a name for them.
wheels="${XDG_CACHE_HOME:-$HOME/.cache}/refact-lsp/llama-cpp-wheels/$(
  printf '%s' "$cmake_args" | sha256sum | cut -c1-12)"
if ! ls "$wheels"/llama_cpp_python-*.whl >/dev/null 2>&1; then
  echo "building llama-cpp-python ($cmake_args): minutes, once" >&2
  CMAKE_ARGS="$cmake_args" .venv/bin/pip wheel -q --no-cache-dir --no-deps -w "$wheels" \
    "llama-cpp-python>=0.3.16,<0.4"
fi
.venv/bin/pip install -q "$(ls -t "$wheels"/llama_cpp_python-*.whl | head -1)"
.venv/bin/pip install -q -e ".[test]"
.venv/bin/refact-lsp complete examples/shapes.py:17:5 --model qwen2.5-coder-0.5b
