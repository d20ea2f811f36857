#!/bin/sh
# test_cli_plan.sh - `clft plan`: the --json schema (total_bytes is the sum of the classes), the numbers
# against what `clft train --dry-run` prints for the same settings on a `clft init --preset tiny` model,
# --fit SIZE (the batch it answers fits and batch + 1 does not, checked by planning again; advice when
# nothing fits), the table, and bad inputs as one-line errors with exit 2. No device is needed.
# Usage: test_cli_plan.sh CLFT_BINARY SCRATCH_DIR SOURCE_DIR
set -u
. "$(dirname "$0")/../io/cli_common.sh" "$1" "$2"
SRC=$3
one_line() { [ "$(wc -l < "$T/stderr")" -eq 1 ] && grep -q -- "$1" "$T/stderr"; }
# jget FILE EXPR: a Python expression over the JSON object o, printed
jget() { python3 -c "import json,sys; o=json.load(open(sys.argv[1])); print($2)" "$1"; }

check "plan --json (preset)" code 0 "$CLFT" plan --preset mistral-7b --method qlora --rank 16 --targets all \
    --seq-len 512 --batch 1 --checkpointing 1 --json
cp "$T/stdout" "$T/m7.json"
check "... schema, total_bytes = sum of the classes" python3 - "$T/m7.json" <<'PY'
import json, sys
o = json.load(open(sys.argv[1]))
classes = ("weights", "trainable", "gradients", "optimizer", "activations", "scratch")
assert set(o["classes"]) == set(classes), o["classes"]
assert all(isinstance(o["classes"][k], int) and o["classes"][k] >= 0 for k in classes)
assert o["total_bytes"] == sum(o["classes"].values())
assert o["activations"]["checkpointing_on"] == o["classes"]["activations"]
assert o["activations"]["checkpointing_off"] > o["activations"]["checkpointing_on"]
assert o["total_checkpointing"]["on"] == o["total_bytes"] < o["total_checkpointing"]["off"]
assert o["generate_kv_cache_bytes"] > 0
s = o["settings"]
assert (s["preset"], s["method"], s["rank"], s["targets"], s["seq_len"], s["batch"], s["checkpointing"]) == \
    ("mistral-7b", "qlora", 16, "all", 512, 1, True), s
assert s["base_dtype"] == "nf4" and s["grad_accum"] == 1
assert o["params"]["base"] > 7e9 and o["params"]["trainable"] == 41943040, o["params"]
assert "fit" not in o
PY
check "table: every class, total, both checkpointing choices, KV cache" code 0 "$CLFT" plan --preset mistral-7b \
    --method qlora --rank 16 --seq-len 512 --batch 1 --checkpointing 1
check "... lines" sh -c 'for w in "frozen weights" trainable gradients "optimizer state" \
    "activations (checkpointing on)" scratch total "checkpointing off:" "KV cache"; do
    grep -q -- "$w" "$1" || exit 1; done; grep -q "GiB" "$1"' - "$T/stdout"

# the same numbers as clft train --dry-run
check "init tiny" code 0 "$CLFT" init --preset tiny --out "$T/m" --seed 1
for args in "--method lora --rank 4 --targets q,v --checkpointing 0" \
            "--method qlora --rank 8 --checkpointing 1 --batch 3 --seq-len 64" \
            "--method full --checkpointing 0 --seq-len 32 --batch 2" \
            "--method lora --base-dtype bf16 --checkpointing 1 --grad-accum 4"; do
    # shellcheck disable=SC2086
    "$CLFT" train --model "$T/m" --data "$SRC/tests/dataset/text.jsonl" --out "$T/dry" --dry-run $args \
        >"$T/dry.txt" 2>&1
    # shellcheck disable=SC2086
    "$CLFT" plan --model "$T/m" $args --json >"$T/p.json" 2>&1
    check "plan = train --dry-run: $args" python3 - "$T/dry.txt" "$T/p.json" <<'PY'
import json, re, sys
line = [l for l in open(sys.argv[1]) if l.startswith("memory plan:")][0]
nums = [float(x) for x in re.findall(r"[0-9]+\.[0-9]+|[0-9]+", line)]
o = json.load(open(sys.argv[2]))
mib = lambda b: round(b / 1048576.0, 1)
want = [mib(o["total_bytes"])] + [mib(o["classes"][k]) for k in
        ("weights", "trainable", "gradients", "optimizer", "activations", "scratch")]
assert nums[:7] == want, (nums, want)
assert int(nums[7]) == o["params"]["base"] and int(nums[8]) == o["params"]["trainable"], (nums, o["params"])
PY
done
check "a train command line works as is (data, out, lr ignored)" code 0 "$CLFT" plan --model "$T/m" \
    --data x.jsonl --out "$T/nowhere" --lr 1e-3 --steps 3
check "... and creates nothing" test ! -e "$T/nowhere"

# --fit SIZE: the batch answered fits, batch + 1 does not; so for seq-len
check "--fit 8GiB" code 0 "$CLFT" plan --preset llama-2-7b --method qlora --rank 16 --seq-len 256 --batch 1 \
    --checkpointing 1 --fit 8GiB --json
cp "$T/stdout" "$T/fit.json"
mb=$(jget "$T/fit.json" 'o["fit"]["max_batch"]')
ms=$(jget "$T/fit.json" 'o["fit"]["max_seq_len"]')
budget=$(jget "$T/fit.json" 'o["fit"]["budget_bytes"]')
check "... budget is 8 GiB, a batch and seq-len answered" test "$budget" -eq 8589934592 -a "$mb" -ge 1 -a "$ms" -ge 256
total_at() { "$CLFT" plan --preset llama-2-7b --method qlora --rank 16 --checkpointing 1 --json "$@" >"$T/t.json" &&
    jget "$T/t.json" 'o["total_bytes"]'; }
check "... batch $mb fits" test "$(total_at --seq-len 256 --batch "$mb")" -le "$budget"
check "... batch $((mb + 1)) does not" test "$(total_at --seq-len 256 --batch $((mb + 1)))" -gt "$budget"
check "... seq-len $ms fits" test "$(total_at --seq-len "$ms" --batch 1)" -le "$budget"
check "... seq-len $((ms + 64)) does not" test "$(total_at --seq-len $((ms + 64)) --batch 1)" -gt "$budget"
check "--fit in other units (8192MiB = 8GiB, 8GB < 8GiB)" sh -c '
    "$1" plan --preset llama-2-7b --fit 8192MiB --json | grep -q "\"budget_bytes\":	8589934592" &&
    "$1" plan --preset llama-2-7b --fit 8GB --json | grep -q "\"budget_bytes\":	8000000000"' - "$CLFT"
check "--fit too small: advice with totals" code 0 "$CLFT" plan --preset mistral-7b --method lora --rank 64 \
    --seq-len 2048 --batch 2 --checkpointing 0 --fit 8GiB --json
check "... fits false, no batch, each change with its total" python3 - "$T/stdout" <<'PY'
import json, sys
f = json.load(open(sys.argv[1]))["fit"]
assert f["fits"] is False and f["max_batch"] == 0, f
changes = {a["change"].split()[0] for a in f["advice"]}
assert {"--checkpointing", "--method", "--rank", "--targets", "--batch"} <= changes, changes
assert all(a["total_bytes"] > 0 and a["fits"] == (a["total_bytes"] <= f["budget_bytes"]) for a in f["advice"])
PY
check "--fit table" code 0 "$CLFT" plan --preset mistral-7b --method qlora --rank 16 --checkpointing 1 --fit 5GiB
check "... says what to change" grep -q "change one setting" "$T/stdout"

# bad input: one line, exit 2
check "no model" code 2 "$CLFT" plan --method lora
check "... one line" one_line "--model"
check "--embed-dtype fp8" code 2 "$CLFT" plan --preset tiny --embed-dtype fp8
check "... one line" one_line "--embed-dtype 'fp8'"
check "--embed-dtype bf16 with --method full" code 2 "$CLFT" plan --preset tiny --method full --embed-dtype bf16
check "... one line" one_line "full fine-tuning"
# the embeddings and head: bf16 under QLoRA (auto), f32 on request, 2 bytes per element apart
check "--embed-dtype auto / f32 (exit 0)" sh -c '
    "$1" plan --preset llama-3-8b --method qlora --json > "$2/e1.json" &&
    "$1" plan --preset llama-3-8b --method qlora --embed-dtype f32 --json > "$2/e2.json"' - "$CLFT" "$T"
check "... bf16 by default, f32 costs 2 x 128256 x 4096 x 2 bytes more" python3 - "$T/e1.json" "$T/e2.json" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
assert a["settings"]["embed_dtype"] == "bf16" and b["settings"]["embed_dtype"] == "f32", (a["settings"], b["settings"])
d = b["classes"]["weights"] - a["classes"]["weights"]
assert d == 2 * 128256 * 4096 * 2, d
PY
check "unknown preset" code 2 "$CLFT" plan --preset nosuch
check "... one line" one_line "nosuch"
check "missing model folder" code 2 "$CLFT" plan --model "$T/absent"
check "... one line" one_line "absent"
check "--model and --preset" code 2 "$CLFT" plan --model "$T/m" --preset tiny
check "... one line" one_line "not both"
check "bad size" code 2 "$CLFT" plan --preset tiny --fit 8XB
check "... one line" one_line "8XB"
check "bad size (no number)" code 2 "$CLFT" plan --preset tiny --fit nosuchdevice
check "... one line" one_line "nosuchdevice"
check "--fit without a value" code 2 "$CLFT" plan --preset tiny --fit
check "... one line" one_line "--fit"
check "bad method" code 2 "$CLFT" plan --preset tiny --method half
check "... one line" one_line "--method"
check "bad targets" code 2 "$CLFT" plan --preset tiny --targets q,x
check "... one line" one_line "--targets"
check "full with --base-dtype" code 2 "$CLFT" plan --preset tiny --method full --base-dtype nf4
check "... one line" one_line "--base-dtype"
check "--seq-len above the model's maximum" code 2 "$CLFT" plan --preset tiny --seq-len 100000000
check "... one line" one_line "maximum"
check "--batch 0" code 2 "$CLFT" plan --preset tiny --batch 0
check "... one line" one_line "--batch"
check "--checkpointing 2" code 2 "$CLFT" plan --preset tiny --checkpointing 2
check "... one line" one_line "--checkpointing"
check "unknown option" code 2 "$CLFT" plan --preset tiny --nosuch 1
check "... one line" one_line "nosuch"
check "--help" code 0 "$CLFT" plan --help
check "... usage" grep -q "clft plan" "$T/stdout"

[ $fail -eq 0 ] && rm -rf "$T"
exit $fail
