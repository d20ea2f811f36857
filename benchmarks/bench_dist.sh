#!/bin/sh
# bench_dist.sh - data-parallel `clft train` (tools/clft/train_dist.c) against each device alone, on
# one machine: PoCL (device 0) held to one core (POCL_MAX_PTHREAD_COUNT=1, taskset core 0) and Intel's
# CPU runtime (device 1) held to one core (CL_CONFIG_CPU_TBB_NUM_WORKERS=1 and DPCPP_CPU_NUM_CUS=1,
# its TBB worker count, and taskset core 1). A `small` preset model, QLoRA, the same global batch in
# every run: each device alone, then 2 ranks with --balance speed. Prints one JSON object: tokens/s
# of each solo run and of the 2 ranks (steps after the speed measurement), the goal 0.9 x the sum of
# the solo rates, the rows each rank got, and the all-reduce time per step with its share of the step.
# Usage: benchmarks/bench_dist.sh [CLFT (build-mpi/tools/clft/clft, built with -DCLFT_MPI=ON)] [STEPS (12)]
#        [ROWS per global batch (8): more rows split closer to the speed ratio]
# Run from the source folder after `. tools/ocl-env.sh`. Takes a few minutes.
set -eu
CLFT=${1:-build-mpi/tools/clft/clft}
STEPS=${2:-12}
W=$(mktemp -d "${TMPDIR:-/tmp}/clft-bench-dist-XXXXXX")
trap 'rm -rf "$W"' EXIT
"$CLFT" init --preset small --out "$W/m" --seed 1 >/dev/null
C="--model $W/m --data examples/data/text.jsonl --method qlora --seq-len 64 --steps $STEPS --lr 1e-4 --quiet
   --schedule constant --checkpointing 0"
POCL1="env POCL_MAX_PTHREAD_COUNT=1 taskset -c 0"
INTEL1="env CL_CONFIG_CPU_TBB_NUM_WORKERS=1 DPCPP_CPU_NUM_CUS=1 taskset -c 1"
G=${3:-8} # rows per global batch (a multiple of 2)
# shellcheck disable=SC2086
$POCL1 "$CLFT" train $C --batch $G --device 0 --out "$W/pocl"
# shellcheck disable=SC2086
$INTEL1 "$CLFT" train $C --batch $G --device 1 --out "$W/intel"
# shellcheck disable=SC2086
mpirun --allow-run-as-root --oversubscribe --bind-to none \
    -np 1 $POCL1 "$CLFT" train $C --batch $((G / 2)) --device 0 --balance speed --balance-every 4 --out "$W/two" : \
    -np 1 $INTEL1 "$CLFT" train $C --batch $((G / 2)) --device 1 --balance speed --balance-every 4 --out "$W/two"
python3 - "$W" "$STEPS" "$G" <<'PY'
import json, sys
w, steps, rows = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
FIRST = 5  # steps 1-4: warm-up and the speed measurement; the window is steps 6..STEPS

def rate(run):
    m = [json.loads(l) for l in open("%s/%s/metrics.jsonl" % (w, run))]
    win = [x for x in m if x["step"] > FIRST]
    t0 = next(x["time"] for x in m if x["step"] == FIRST)
    secs = win[-1]["time"] - t0
    return m, win, sum(x["step_tokens"] for x in win) / secs, secs / len(win)

_, _, pocl, _ = rate("pocl")
_, _, intel, _ = rate("intel")
m, win, two, step_s = rate("two")
ar = sum(x["allreduce_s"] for x in win) / len(win)
print(json.dumps({
    "benchmark": "data-parallel clft train, small preset, QLoRA, seq-len 64, %d rows per global batch" % rows,
    "window_steps": "%d..%d" % (FIRST + 1, steps),
    "solo_tokens_per_s": {"pocl_1core": round(pocl, 2), "intel_1core": round(intel, 2)},
    "two_ranks_tokens_per_s": round(two, 2),
    "goal_0.9_x_sum": round(0.9 * (pocl + intel), 2),
    "meets_goal": two >= 0.9 * (pocl + intel),
    "ratio_to_sum": round(two / (pocl + intel), 3),
    "rows_per_rank": win[-1]["rank_rows"],
    "measured_rows_per_s": win[-1].get("rank_rows_per_s"),
    "allreduce_s_per_step": round(ar, 5),
    "step_s": round(step_s, 4),
    "allreduce_share": round(ar / step_s, 4),
}, indent=1))
PY
