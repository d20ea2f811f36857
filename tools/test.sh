#!/bin/sh
# Installs dependencies, builds with -Werror and runs every test; then an ASan+UBSan build runs
# the suite again, and the kernel tests run under Oclgrind (labels: see tests/CMakeLists.txt).
# Idempotent. Used by the README's quick start and by .ci/run.
set -eu
cd "$(dirname "$0")/.."
tools/install-deps.sh
JOBS=$(nproc 2>/dev/null || echo 2)
export CLFT_CACHE_DIR="${CLFT_CACHE_DIR:-$PWD/build/kernel-cache}"

echo "== release build (-Werror) and tests"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCLFT_WERROR=ON >/dev/null
cmake --build build -j "$JOBS"
(cd build && ctest --output-on-failure -j "$JOBS" -LE oclgrind)

echo "== Oclgrind: kernel tests in tiny mode"
(cd build && ctest --output-on-failure -j "$JOBS" -L oclgrind)

echo "== ASan+UBSan build and tests"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DCLFT_WERROR=ON -DCLFT_SANITIZE=ON \
      -DCLFT_BUILD_BENCHMARKS=ON >/dev/null
cmake --build build-asan -j "$JOBS"
# PoCL's JIT and the ICD loader keep allocations for the process lifetime: leak checking is off.
(cd build-asan && ASAN_OPTIONS=detect_leaks=0:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
   ctest --output-on-failure -j "$JOBS" -LE "oclgrind|slow|install")
echo "== libFuzzer: safetensors header and tokenizer.json parsers, ${CLFT_FUZZ_SECONDS:-20} s each"
CLFT_FUZZ_JOBS="$JOBS" tests/fuzz/run_fuzzers.sh "${CLFT_FUZZ_SECONDS:-20}"
echo "all tests passed"
