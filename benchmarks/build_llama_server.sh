#!/usr/bin/env bash
# Build llama.cpp's llama-server from the llama.cpp source vendored in the
# llama-cpp-python sdist we depend on, so the HTTP engine tests run against the same
# llama.cpp version as the embedded engine. Does nothing when the binary is installed.
#
# GGML_NATIVE=OFF is mandatory: a native build uses AMX on some CPUs and crashes.
set -euo pipefail

VERSION="${LLAMA_CPP_PYTHON_VERSION:-0.3.36}"
PREFIX="${REFACT_LSP_LLAMA_SERVER_DIR:-$HOME/.cache/refact-lsp/llama-server}"
BINARY="$PREFIX/bin/llama-server"
JOBS="${JOBS:-2}"
PYTHON="${PYTHON:-$(dirname "$0")/../.venv/bin/python}"

if [ -x "$BINARY" ]; then
    echo "llama-server already installed: $BINARY"
    exit 0
fi

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
"$PYTHON" -m pip download --quiet --no-binary :all: --no-deps \
    "llama-cpp-python==$VERSION" -d "$WORK"
tar -xzf "$WORK"/llama_cpp_python-"$VERSION".tar.gz -C "$WORK"
SRC="$WORK/llama_cpp_python-$VERSION/vendor/llama.cpp"

cmake -S "$SRC" -B "$WORK/build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=OFF \
    -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DBUILD_SHARED_LIBS=OFF
cmake --build "$WORK/build" --target llama-server -j"$JOBS"

mkdir -p "$PREFIX/bin"
install -m 755 "$WORK/build/bin/llama-server" "$BINARY.tmp"
mv "$BINARY.tmp" "$BINARY"
echo "installed $BINARY"
