#!/usr/bin/env bash
# The typing replay on a lent GPU machine that reaches no network (see the README's
# Performance section). Everything it needs travels in .gpu/ (ignored by git):
#   .gpu/whl/*.whl        pure-Python dependencies and tree-sitter wheels for its Python
#   .gpu/slim.tar.gz      llama-cpp-python's sdist without docs, models and unused backends
#   .gpu/parts/pNN        the test model in pieces small enough to carry one per call
# Steps, one call each:
#   setup    install the wheels, start building llama-cpp-python with CUDA (background)
#   receive  nothing: the call's carried piece lands in .gpu/parts and stays
#   run      wait for the build, join and check the model, run the replay into $OUT
set -euo pipefail
cd "$(dirname "$0")/.."
SITE="$PWD/.gpu/site"
MODEL="$PWD/.gpu/model.gguf"
SHA=1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32
case "${1:-}" in
setup)
    python3 -m pip install -q --no-index --no-deps --no-compile --target "$SITE" .gpu/whl/*.whl
    setsid nohup bash -c "CMAKE_ARGS='-DGGML_CUDA=on -DCMAKE_CUDA_ARCHITECTURES=90 \
        -DGGML_NATIVE=OFF' CMAKE_BUILD_PARALLEL_LEVEL=16 python3 -m pip install \
        --no-index --no-deps --no-build-isolation --target '$SITE' .gpu/slim.tar.gz \
        > .gpu/build.log 2>&1; echo \$? > .gpu/build.rc" > /dev/null 2>&1 < /dev/null &
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
    ;;
receive)
    ls -la .gpu/parts
    ;;
run)
    while [ ! -f .gpu/build.rc ]; do sleep 5; done
    tail -3 .gpu/build.log
    [ "$(cat .gpu/build.rc)" = 0 ] || { tail -50 .gpu/build.log; exit 1; }
    cat .gpu/parts/p* > "$MODEL"
    echo "$SHA  $MODEL" | sha256sum -c -
    export PYTHONPATH="$SITE:$PWD" PYTHONUNBUFFERED=1
    nvidia-smi --query-gpu=name --format=csv,noheader | tee "$OUT/gpu.txt"
    python3 -m benchmarks.typing_replay --model "$MODEL" --functions "${FUNCTIONS:-3}" \
        2>&1 | tee "$OUT/replay.txt"
    ;;
*)
    echo "usage: $0 setup|receive|run" >&2
    exit 2
    ;;
esac
