#!/bin/sh
# Installs dependencies, builds with -Werror and runs every test: the device-independent suites
# once, the kernel, model and golden suites (labels kernel, e2e, gradcheck) on EVERY OpenCL device
# the loader finds (the system's drivers and Intel's CPU runtime, see tools/ocl-env.sh), the
# cross-implementation test once; then the kernel tests under Oclgrind, an ASan+UBSan build with
# the suite again on the default device, and the fuzzers. Together the first stages are the full
# ctest run on the default device. Prints the wall time of every stage (and which one failed).
# Idempotent. Used by the README's quick start and by .ci/run.
set -eu
cd "$(dirname "$0")/.."
T0=$(date +%s)
STAGE="" S0=$T0 TIMES=""
# stage NAME: ends the current stage (its wall time is printed and kept) and starts NAME
stage() {
  now=$(date +%s)
  if [ -n "$STAGE" ]; then
    echo "-- $((now - S0)) s: $STAGE"
    TIMES="$TIMES$(printf '%6d s  %s' $((now - S0)) "$STAGE")
"
  fi
  STAGE=$1 S0=$now
  if [ -n "$1" ]; then echo "== $1"; fi
}
finish() {
  rc=$?
  failed=$STAGE
  stage ""
  printf '== wall time per stage\n%s%6d s  total\n' "$TIMES" $(($(date +%s) - T0))
  if [ "$rc" != 0 ]; then echo "FAILED (exit $rc) in: $failed"; else echo "all tests passed"; fi
  exit "$rc"
}
trap finish EXIT

stage "dependencies (tools/install-deps.sh)"
tools/install-deps.sh
. tools/ocl-env.sh
JOBS=$(nproc 2>/dev/null || echo 2)
export CLFT_CACHE_DIR="${CLFT_CACHE_DIR:-$PWD/build/kernel-cache}"

stage "release build (-Werror)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCLFT_WERROR=ON >/dev/null
cmake --build build -j "$JOBS"
build/tools/clft/clft devices

stage "device-independent tests (unit, cli, install) on the default device"
(cd build && ctest --output-on-failure -j "$JOBS" -LE "oclgrind|kernel|e2e|gradcheck|cross|mpi")

stage "cross-implementation test (two devices, once): ctest -L cross"
(cd build && ctest --output-on-failure -L cross)

stage "data parallel over MPI (build-mpi, -DCLFT_MPI=ON): ctest -L mpi, two ranks on two devices"
# only the command line differs from the release build (the library links no MPI): build just it
cmake -S . -B build-mpi -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCLFT_WERROR=ON -DCLFT_MPI=ON >/dev/null
cmake --build build-mpi -j "$JOBS" --target clft test_cli_ckpt_verify
(cd build-mpi && ctest --output-on-failure -L mpi)

# index, platform, name and driver of every device, one per line (tab separated)
TAB=$(printf '\t')
DEVICES=$(build/tools/clft/clft devices --json | python3 -c '
import json, sys
for d in json.load(sys.stdin):
    print("\t".join([str(d["index"]), d["platform"], d["name"], d["driver_version"]]))')
# A device that fails still lets the others run (every device's result is in the log); the script
# fails after the last one.
BAD=""
while IFS=$TAB read -r idx platform name driver; do
  stage "device $idx: $platform: $name ($driver): ctest -L \"kernel|e2e|gradcheck\""
  ok=1
  # which GEMM paths and which fp16 path this device takes
  build/tools/clft/clft selfcheck --device "$idx" </dev/null || ok=0
  (cd build && CLFT_DEVICE=$idx CLFT_TEST_DEVICE=$idx ctest --output-on-failure -j "$JOBS" -L "kernel|e2e|gradcheck" \
     -LE "oclgrind|cross|mpi" </dev/null) || ok=0
  if [ "$ok" = 0 ]; then
    BAD="$BAD [$idx] $name ($platform);"
    echo "device $idx FAILED: $name ($platform)"
  fi
  # the measured GEMM choices on record for this device (ops/gemm.c writes one file per device)
  for f in "$CLFT_CACHE_DIR"/gemm-paths-*.txt; do
    if [ -f "$f" ] && [ "$(head -n 1 "$f")" = "# clft GEMM path per shape class, measured on $name ($driver)" ]; then
      echo "measured GEMM path per shape class on device $idx: $(awk 'NR > 1 { n[$2]++ }
        END { for (p in n) printf "%s %d, ", p, n[p] }' "$f" | sed 's/, $//')"
    fi
  done
done <<EOF
$DEVICES
EOF
if [ -n "$BAD" ]; then
  stage "per-device suites"
  echo "failed on:$BAD"
  exit 1
fi

stage "transformers reference suite: fixtures regenerated where the reference venv is cached"
tools/reference.sh --if-cached

stage "Oclgrind: kernel tests in tiny mode"
(cd build && ctest --output-on-failure -j "$JOBS" -L oclgrind)

stage "ASan+UBSan build"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DCLFT_WERROR=ON -DCLFT_SANITIZE=ON \
      -DCLFT_BUILD_BENCHMARKS=ON >/dev/null
cmake --build build-asan -j "$JOBS"

stage "ASan+UBSan tests on the default device"
# PoCL's JIT and the ICD loader keep allocations for the process lifetime: leak checking is off.
(cd build-asan && ASAN_OPTIONS=detect_leaks=0:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
   ctest --output-on-failure -j "$JOBS" -LE "oclgrind|slow|install|mpi")

stage "libFuzzer: every tests/fuzz harness (safetensors header, tokenizer.json, GGUF), ${CLFT_FUZZ_SECONDS:-20} s each"
CLFT_FUZZ_JOBS="$JOBS" tests/fuzz/run_fuzzers.sh "${CLFT_FUZZ_SECONDS:-20}"
