#!/bin/sh
# test_mpi_train.sh - data-parallel `clft train` under mpirun (tools/clft/train_dist.c): two ranks, one
# on PoCL (device 0) and one on Intel's CPU runtime (device 1), two OpenCL implementations in one run.
#  1. full, LoRA and QLoRA: 10 steps of 2 ranks x --batch 2 = 10 steps of one device x --batch 4
#     (every logged loss within 1e-5 relative; the metrics name 2 ranks with 2 rows each); LoRA with
#     --grad-accum 2 too
#  2. --balance speed: after the measured steps each rank's rows of a 120-row global batch follow its
#     measured rows/s (within 10%, or the half row of rounding), and the losses stay those of one
#     device with the whole global batch
#  3. kill -9 of rank 1: the job stops with an error, the checkpoints verify, --resume on 2 ranks, on
#     1 process and on 3 ranks (an uneven split) finishes the run with the losses of the uninterrupted
#     one
#  4. a hung rank (SIGSTOP): the other stops after --dist-timeout with one line saying so
#  5. ranks with other settings or other model weights are refused at start-up; bad --devices /
#     --balance values
# Usage: test_mpi_train.sh CLFT_BINARY SCRATCH_DIR CKPT_VERIFY_BINARY SOURCE_DIR
set -u
. "$(dirname "$0")/../io/cli_common.sh" "$1" "$2"
export CLFT_GEMM=tiled # one GEMM path in every process: runs are compared loss by loss
VERIFY=$3
SRC=$4
MPIRUN="mpirun --allow-run-as-root --oversubscribe"
DATA="$SRC/examples/data/text.jsonl"
# same_losses A B [REL]: as many lines, every loss within REL (1e-5) relative; prints the largest difference
same_losses() {
    python3 - "$1" "$2" "${3:-1e-5}" <<'PY'
import json, sys
a = [json.loads(l) for l in open(sys.argv[1])]
b = [json.loads(l) for l in open(sys.argv[2])]
assert len(a) == len(b) and len(a) > 0, "%d vs %d lines" % (len(a), len(b))
worst = 0.0
for x, y in zip(a, b):
    assert x["step"] == y["step"]
    rel = abs(x["loss"] - y["loss"]) / abs(y["loss"])
    worst = max(worst, rel)
    assert rel <= float(sys.argv[3]), "step %d: loss %.9g vs %.9g (rel %.2e)" % (x["step"], x["loss"], y["loss"], rel)
print("    %d losses, largest relative difference %.2e" % (len(a), worst))
PY
}
# ranks_rows FILE ROWS...: every metrics line names 2 ranks with these rows each
ranks_rows() {
    python3 - "$@" <<'PY'
import json, sys
want = [int(x) for x in sys.argv[2:]]
for l in open(sys.argv[1]):
    o = json.loads(l)
    assert o["ranks"] == 2 and o["rank_rows"] == want, (o.get("ranks"), o.get("rank_rows"))
    assert sum(o["rank_tokens"]) == o["step_tokens"], (o["rank_tokens"], o["step_tokens"])
    assert o["allreduce_s"] >= 0
PY
}

# rank1_after METRICS N MPIRUN_PID: waits until METRICS has N lines, then prints the pid of rank 1 (a child
# of mpirun whose environment says OMPI_COMM_WORLD_RANK=1)
rank1_after() {
    i=0
    while [ "$(cat "$1" 2>/dev/null | wc -l)" -lt "$2" ] && kill -0 "$3" 2>/dev/null && [ $i -lt 2400 ]; do
        sleep 0.05
        i=$((i + 1))
    done
    for p in $(pgrep -P "$3"); do
        tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=1" && echo "$p"
    done
}

check "init tiny" code 0 "$CLFT" init --preset tiny --out "$T/m" --seed 1
C="--model $T/m --data $DATA --seq-len 32 --steps 10 --lr 1e-3 --schedule constant --quiet"

# ---- 1. 2 ranks x 2 rows = 1 device x 4 rows ---------------------------------------------------
for method in full lora qlora; do
    check "$method: one device, --batch 4" code 0 "$CLFT" train $C --method $method --batch 4 --device 0 \
        --out "$T/one-$method"
    check "$method: 2 ranks (PoCL + Intel), --batch 2" code 0 $MPIRUN -np 2 "$CLFT" train $C --method $method \
        --batch 2 --devices 0,1 --out "$T/two-$method"
    check "$method: the same losses (rel 1e-5)" same_losses "$T/two-$method/metrics.jsonl" "$T/one-$method/metrics.jsonl"
    check "$method: 2 ranks of 2 rows in every metrics line" ranks_rows "$T/two-$method/metrics.jsonl" 2 2
    check "$method: train_config.json keeps the global batch" python3 -c \
        "import json,sys; c=json.load(open(sys.argv[1])); assert c['global-batch'] == 4 and c['batch'] == 2, c" \
        "$T/two-$method/train_config.json"
done
check "lora --grad-accum 2: one device, --batch 4" code 0 "$CLFT" train $C --method lora --batch 4 --grad-accum 2 \
    --device 0 --out "$T/one-accum"
check "lora --grad-accum 2: 2 ranks, --batch 2" code 0 $MPIRUN -np 2 "$CLFT" train $C --method lora --batch 2 \
    --grad-accum 2 --devices 0,1 --out "$T/two-accum"
check "lora --grad-accum 2: the same losses (rel 1e-5)" same_losses "$T/two-accum/metrics.jsonl" \
    "$T/one-accum/metrics.jsonl"
check "lora --grad-accum 2: 2 micro-steps of 2 rows per rank" ranks_rows "$T/two-accum/metrics.jsonl" 4 4
check "lora: rank 0 wrote the adapter and the checkpoint" sh -c "[ -s '$T/two-lora/adapter_model.safetensors' ] && \
    '$VERIFY' '$T/two-lora/checkpoint-10'"

# ---- 2. --balance speed --------------------------------------------------------------------------
B="--model $T/m --data $DATA --seq-len 16 --steps 8 --lr 1e-3 --schedule constant --quiet --method lora"
check "balance: one device, --batch 120" code 0 "$CLFT" train $B --batch 120 --device 0 --out "$T/one-bal"
check "balance: 2 ranks --balance speed --balance-every 2" code 0 $MPIRUN -np 2 "$CLFT" train $B --batch 60 \
    --devices 0,1 --balance speed --balance-every 2 --out "$T/two-bal"
check "balance: the same losses (rel 1e-5)" same_losses "$T/two-bal/metrics.jsonl" "$T/one-bal/metrics.jsonl"
check "balance: each rank's rows within 10% of its measured share of the throughput" python3 - "$T/two-bal/metrics.jsonl" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
checked = 0
for prev, cur in zip(lines, lines[1:]):
    rates = prev["rank_rows_per_s"]
    if min(rates) <= 0:
        continue  # not measured yet (steps 1-3)
    rows = cur["rank_rows"]
    assert sum(rows) == 120, rows
    for r in range(2):  # whole rows: within 10%, or within the half row of rounding when a share is tiny
        want = 120 * rates[r] / sum(rates)
        assert abs(rows[r] - want) <= max(0.1 * want, 0.5), "step %d rank %d: %d of 120 rows, measured share %.2f rows" % (cur["step"], r, rows[r], want)
    checked += 1
assert checked >= 4, "only %d steps after a measurement" % checked
print("    rows per rank %s for measured rows/s %s" % (lines[-1]["rank_rows"], lines[-2]["rank_rows_per_s"]))
PY

# ---- 3. kill -9 of a rank, then --resume -------------------------------------------------------
K="--model $T/m --data $DATA --seq-len 32 --steps 16 --lr 1e-3 --schedule constant --quiet --method lora --save-every 4"
check "kill: one device, 16 steps" code 0 "$CLFT" train $K --batch 4 --device 0 --out "$T/one-kill"
$MPIRUN -np 2 "$CLFT" train $K --batch 2 --devices 0,1 --dist-timeout 30 --out "$T/kill" >"$T/kill.out" 2>&1 &
MP=$!
R1=$(rank1_after "$T/kill/metrics.jsonl" 9 $MP)
check "kill: found rank 1 (pid $R1) after step 9" [ -n "$R1" ]
[ -n "$R1" ] && kill -9 "$R1"
wait $MP
rc=$?
check "kill: mpirun ends with an error (exit $rc)" [ "$rc" -ne 0 ]
check "kill: the run stopped before its end" sh -c "[ \$(wc -l < '$T/kill/metrics.jsonl') -lt 16 ]"
for ck in "$T"/kill/checkpoint-*; do
    check "kill: $(basename "$ck") verifies" "$VERIFY" "$ck"
done
cp -r "$T/kill" "$T/kill1"
cp -r "$T/kill" "$T/kill3"
check "kill: --resume on 2 ranks" code 0 $MPIRUN -np 2 "$CLFT" train --resume --out "$T/kill" --quiet
check "kill: resumed = uninterrupted (rel 1e-5)" same_losses "$T/kill/metrics.jsonl" "$T/one-kill/metrics.jsonl"
check "kill: --resume on one process (--devices 0: --batch 4 from the global batch)" code 0 "$CLFT" train --resume \
    --out "$T/kill1" --devices 0 --quiet
check "kill: resumed on one process = uninterrupted (rel 1e-5)" same_losses "$T/kill1/metrics.jsonl" \
    "$T/one-kill/metrics.jsonl"
check "kill: --resume on 3 ranks (the 4 rows as 2 + 1 + 1)" code 0 $MPIRUN -np 3 "$CLFT" train --resume \
    --out "$T/kill3" --devices 0,1,0 --quiet
check "kill: resumed on 3 ranks = uninterrupted (rel 1e-5)" same_losses "$T/kill3/metrics.jsonl" \
    "$T/one-kill/metrics.jsonl"
check "kill: --resume on 2 ranks with a --batch that does not fit (exit 2)" code 2 $MPIRUN -np 2 "$CLFT" train \
    --resume --out "$T/kill3" --devices 0,1 --batch 3 --steps 20 --quiet
check "... saying which --batch fits" grep -q "batch 3 does not fit the global batch of 4 rows .*over 2 ranks: use --batch 2" \
    "$T/stderr"

# ---- 4. a hung rank --------------------------------------------------------------------------------
$MPIRUN -np 2 "$CLFT" train $K --steps 200 --batch 2 --devices 0,1 --dist-timeout 4 --out "$T/hang" \
    >"$T/hang.out" 2>&1 &
MP=$!
R1=$(rank1_after "$T/hang/metrics.jsonl" 3 $MP)
check "hang: found rank 1 (pid $R1)" [ -n "$R1" ]
t0=$(date +%s)
[ -n "$R1" ] && kill -STOP "$R1"
wait $MP
rc=$?
t1=$(date +%s)
[ -n "$R1" ] && kill -9 "$R1" 2>/dev/null
check "hang: mpirun ends with an error (exit $rc) after $((t1 - t0)) s" [ "$rc" -ne 0 ]
check "hang: rank 0 says that no rank answered within --dist-timeout" \
    grep -q "rank 0: no answer from the other ranks for [0-9]* s in .*--dist-timeout 4" "$T/hang.out"

# ---- 5. refused at start-up, bad input -----------------------------------------------------------
S="--model $T/m --data $DATA --seq-len 32 --steps 2 --quiet --method lora --batch 2"
check "other settings on rank 1: refused (exit 2)" code 2 $MPIRUN -np 1 "$CLFT" train $S --lr 1e-3 --device 0 \
    --out "$T/mis" : -np 1 "$CLFT" train $S --lr 2e-3 --device 1 --out "$T/mis"
check "... naming the rank and what differs" grep -q "rank 1 differs from rank 0 in its settings" "$T/stderr"
check "no run was started" [ ! -e "$T/mis/metrics.jsonl" ]
check "init tiny with another seed" code 0 "$CLFT" init --preset tiny --out "$T/m2" --seed 2
S2="--data $DATA --seq-len 32 --steps 2 --quiet --method lora --batch 2 --out $T/mis2"
check "other model weights on rank 1: refused (exit 2)" code 2 $MPIRUN -np 1 "$CLFT" train --model "$T/m" $S2 \
    --device 0 : -np 1 "$CLFT" train --model "$T/m2" $S2 --device 1
check "... naming the model" grep -q "rank 1 differs from rank 0 in its model" "$T/stderr"
check "an unknown device in --devices (exit 2)" code 2 $MPIRUN -np 2 "$CLFT" train $S --devices 0,nosuchdevice \
    --out "$T/bad1"
check "... naming the entry" grep -q "devices: entry 1 'nosuchdevice'" "$T/stderr"
check "--balance foo (exit 2)" code 2 $MPIRUN -np 2 "$CLFT" train $S --devices 0,1 --balance foo --out "$T/bad2"
check "... one line each" grep -q "balance 'foo': use equal or speed" "$T/stderr"
check "more ranks on a host than --devices entries (exit 2)" code 2 $MPIRUN -np 2 "$CLFT" train $S --devices 0 \
    --out "$T/bad3"
check "... saying so" grep -q "devices lists 1 device, but this host runs local rank 1" "$T/stderr"
check "--devices 0,1 without mpirun: start it with mpirun (exit 2)" code 2 "$CLFT" train $S --devices 0,1 \
    --out "$T/bad4"
check "... saying so" grep -q "mpirun -np 2" "$T/stderr"

rm -rf "$T"
exit $fail
