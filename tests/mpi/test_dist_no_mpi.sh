#!/bin/sh
# test_dist_no_mpi.sh - a clft built without CLFT_MPI: --devices with several entries, and a launch by
# mpirun as several ranks, are refused with one line saying that this clft has no MPI (exit 2);
# --devices with one entry trains on it like --device; the data-parallel flags are checked as always.
# Usage: test_dist_no_mpi.sh CLFT_BINARY SCRATCH_DIR SOURCE_DIR
set -u
. "$(dirname "$0")/../io/cli_common.sh" "$1" "$2"
SRC=$3
one_line() { [ "$(wc -l < "$T/stderr")" -eq 1 ] && grep -q -- "$1" "$T/stderr"; }
check "init tiny" code 0 "$CLFT" init --preset tiny --out "$T/m" --seed 1
S="--model $T/m --data $SRC/examples/data/text.jsonl --seq-len 32 --steps 2 --quiet --method lora --batch 2"
check "--devices 0,1: refused (exit 2)" code 2 "$CLFT" train $S --devices 0,1 --out "$T/a"
check "... saying that clft was built without MPI" one_line "built without MPI: configure with -DCLFT_MPI=ON"
check "--devices 0: one device" code 0 "$CLFT" train $S --devices 0 --out "$T/b"
check "... a plain run (no rank fields)" sh -c "! grep -q '\"ranks\"' '$T/b/metrics.jsonl'"
check "--balance foo (exit 2)" code 2 "$CLFT" train $S --balance foo --out "$T/c"
check "... one line" one_line "balance 'foo': use equal or speed"
check "--dist-timeout 0 (exit 2)" code 2 "$CLFT" train $S --dist-timeout 0 --out "$T/d"
check "--devices nosuchdevice (exit 2)" code 2 "$CLFT" train $S --devices nosuchdevice --out "$T/e"
check "... naming the entry" one_line "devices: entry 0 'nosuchdevice'"
check "mpirun -np 2 of a clft without MPI: refused (exit 2)" code 2 mpirun --allow-run-as-root --oversubscribe -np 2 \
    "$CLFT" train $S --out "$T/f"
check "... saying so" grep -q "built without MPI (configure with -DCLFT_MPI=ON)" "$T/stderr"
rm -rf "$T"
exit $fail
