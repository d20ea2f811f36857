#!/bin/sh
# run_fuzzers.sh [SECONDS] - build every tests/fuzz/fuzz_*.c harness with clang (libFuzzer + ASan
# + UBSan) into build-fuzz/ and run each for SECONDS (default 60). Seeds: tests/fuzz/corpus/<target>/
# (read only); the growing corpus goes to build-fuzz/fuzz-corpus/<target>/; crashes to
# build-fuzz/fuzz-artifacts/<target>/. Exit status: non-zero when a harness found a failure.
# Environment: CLFT_FUZZ_BUILD (build folder), CLFT_FUZZ_JOBS (build parallelism, default 2).
set -eu
SECS=${1:-60}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${CLFT_FUZZ_BUILD:-$ROOT/build-fuzz}
JOBS=${CLFT_FUZZ_JOBS:-2}
mkdir -p "$BUILD"
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DCLFT_BUILD_FUZZERS=ON -DCLFT_SANITIZE=ON -DCLFT_BUILD_BENCHMARKS=OFF -DCLFT_BUILD_TOOLS=OFF \
      -DCLFT_BUILD_EXAMPLES=OFF > "$BUILD/configure.log" 2>&1 || { cat "$BUILD/configure.log"; exit 1; }
targets=""
for f in "$ROOT"/tests/fuzz/fuzz_*.c; do
    [ -e "$f" ] || continue
    t=$(basename "$f" .c)
    [ "$t" = fuzz_replay_main ] && continue
    targets="$targets $t"
done
[ -n "$targets" ] || { echo "run_fuzzers.sh: no tests/fuzz/fuzz_*.c"; exit 1; }
# shellcheck disable=SC2086
cmake --build "$BUILD" -j"$JOBS" --target $targets
status=0
for t in $targets; do
    corpus="$BUILD/fuzz-corpus/$t"
    artifacts="$BUILD/fuzz-artifacts/$t"
    mkdir -p "$corpus" "$artifacts"
    seeds="$ROOT/tests/fuzz/corpus/$t"
    [ -d "$seeds" ] || seeds=""
    echo "== $t: ${SECS}s"
    # shellcheck disable=SC2086
    if ! "$BUILD/tests/fuzz/$t" -max_total_time="$SECS" -timeout=20 -rss_limit_mb=4096 -print_final_stats=1 \
            -artifact_prefix="$artifacts/" "$corpus" $seeds; then
        echo "== $t: FAILED (inputs in $artifacts)"
        status=1
    fi
done
exit $status
