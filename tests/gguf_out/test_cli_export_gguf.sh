#!/bin/sh
# test_cli_export_gguf.sh - `clft export --gguf adapter|merged`: a PEFT adapter (the committed fixture
# tests/lora/data/peft_lora, made by PEFT on `clft init --config base_config.json --seed 7`) as a
# llama.cpp LoRA GGUF and merged GGUF files in every dtype, the base alone, a GGUF file as --model; bad
# input as one line on stderr and exit 2 with nothing written (existing --out, unknown --gguf kind or
# dtype, q8_0 for an adapter, folder-only options, an adapter for another base, a missing adapter); the
# exported q8_0 / q4_0 GGUF trained with LoRA on its blocks (--base-storage native) gives the losses of
# its f32 dequantization, and generates.
# Usage: test_cli_export_gguf.sh CLFT_BINARY LORA_DATA_DIR SCRATCH_DIR
set -u
DATA="$2"
set -- "$1" "$3" # a sourced file sees the caller's arguments (sh ignores arguments to '.')
. "$(dirname "$0")/../io/cli_common.sh" # CLFT, T, fail, check, code
one_line() { [ "$(wc -l < "$T/stderr")" -eq 1 ] && grep -q -- "$1" "$T/stderr"; }
magic() { [ "$(head -c 4 "$1")" = "GGUF" ]; }
A="$DATA/peft_lora"

check "init the base" code 0 "$CLFT" init --config "$DATA/base_config.json" --seed 7 --out "$T/m"
check "init another base (preset tiny)" code 0 "$CLFT" init --preset tiny --out "$T/tiny"

check "--gguf adapter (exit 0)" code 0 "$CLFT" export --gguf adapter --model "$T/m" --adapter "$A" --out "$T/a.gguf"
check "adapter written" magic "$T/a.gguf"
check "adapter report" grep -q "wrote $T/a.gguf: the LoRA adapter" "$T/stdout"
check "--gguf=adapter --dtype bf16 (exit 0)" code 0 "$CLFT" export --gguf=adapter --model="$T/m" --adapter="$A" \
    --dtype=bf16 --out="$T/a16.gguf"
for dt in f32 f16 bf16 q8_0 q4_0; do
    check "--gguf merged --dtype $dt (exit 0)" code 0 "$CLFT" export --gguf merged --model "$T/m" --adapter "$A" \
        --dtype $dt --out "$T/m-$dt.gguf"
    check "merged $dt written" magic "$T/m-$dt.gguf"
done
check "--gguf merged without an adapter: the base (exit 0)" code 0 "$CLFT" export --gguf merged --model "$T/m" \
    --out "$T/base.gguf"
check "a GGUF file as --model (exit 0)" code 0 "$CLFT" export --gguf adapter --model "$T/base.gguf" --adapter "$A" \
    --out "$T/a2.gguf"
check "the adapter against the GGUF base is the same file" cmp -s "$T/a.gguf" "$T/a2.gguf"
check "merged from a GGUF base (exit 0)" code 0 "$CLFT" export --gguf merged --model "$T/base.gguf" --adapter "$A" \
    --out "$T/m2.gguf"
check "merged from the GGUF base is the same file" cmp -s "$T/m-f32.gguf" "$T/m2.gguf"

check "the other base as GGUF (exit 0)" code 0 "$CLFT" export --gguf merged --model "$T/tiny" --out "$T/tiny.gguf"
n=$(ls "$T" | wc -l)
check "existing --out (exit 2)" code 2 "$CLFT" export --gguf adapter --model "$T/m" --adapter "$A" --out "$T/a.gguf"
check "existing --out: one line" one_line "already exists"
check "existing --out with --force (exit 0)" code 0 "$CLFT" export --gguf adapter --model "$T/m" --adapter "$A" \
    --out "$T/a.gguf" --force
check "unknown --gguf kind (exit 2)" code 2 "$CLFT" export --gguf lora --model "$T/m" --adapter "$A" --out "$T/x.gguf"
check "unknown --gguf kind: one line" one_line "adapter or merged"
check "unknown dtype (exit 2)" code 2 "$CLFT" export --gguf merged --model "$T/m" --dtype q5_k --out "$T/x.gguf"
check "unknown dtype: one line" one_line "q5_k"
check "q8_0 adapter (exit 2)" code 2 "$CLFT" export --gguf adapter --model "$T/m" --adapter "$A" --dtype q8_0 \
    --out "$T/x.gguf"
check "q8_0 adapter: one line" one_line "f32, f16 or bf16"
check "q8_0 without --gguf (exit 2)" code 2 "$CLFT" export --model "$T/m" --adapter "$A" --dtype q8_0 --out "$T/xd"
check "--quantize with --gguf (exit 2)" code 2 "$CLFT" export --gguf merged --model "$T/m" --quantize nf4 \
    --out "$T/x.gguf"
check "--gguf adapter without --adapter (exit 2)" code 2 "$CLFT" export --gguf adapter --model "$T/m" --out "$T/x.gguf"
check "adapter for another base (exit 2)" code 2 "$CLFT" export --gguf adapter --model "$T/tiny" --adapter "$A" \
    --out "$T/x.gguf"
check "adapter for another base: one line" one_line "adapter"
check "adapter for another GGUF base (exit 2)" code 2 "$CLFT" export --gguf merged --model "$T/tiny.gguf" \
    --adapter "$A" --out "$T/x.gguf"
check "adapter for another GGUF base: one line" one_line "tiny.gguf"
check "missing --model (exit 2)" code 2 "$CLFT" export --gguf merged --model "$T/nope" --out "$T/x.gguf"
check "nothing written by the refused runs" test "$(ls "$T" | wc -l)" -eq "$n"

# The exported GGUF as a training base: LoRA on the blocks kept on the device (--base-storage native)
# gives the losses of the same file dequantized to f32 (bf16 embeddings and head in both), and generates
# from it.
D="$(dirname "$0")/../../examples/data/chat.jsonl"
losses() { python3 -c 'import json,sys; print(" ".join("%.5f" % json.loads(l)["loss"] for l in open(sys.argv[1])))' "$1"; }
for dt in q8_0 q4_0; do
    check "tiny as GGUF $dt (exit 0)" code 0 "$CLFT" export --gguf merged --model "$T/tiny" --dtype $dt --out "$T/t-$dt.gguf"
    for st in "--base-storage native" "--base-dtype f32"; do
        o="$T/train-$dt-${st##* }"
        check "train LoRA on the $dt GGUF, $st (exit 0)" code 0 "$CLFT" train --model "$T/t-$dt.gguf" --data "$D" \
            --out "$o" --method lora --steps 3 --seq-len 64 --batch 2 --log-every 1 --embed-dtype bf16 $st
    done
    check "$dt native and f32 bases: the same losses" \
        test "$(losses "$T/train-$dt-native/metrics.jsonl")" = "$(losses "$T/train-$dt-f32/metrics.jsonl")"
    check "generate from the native $dt base with the adapter (exit 0)" code 0 "$CLFT" generate --model "$T/t-$dt.gguf" \
        --adapter "$T/train-$dt-native" --base-storage native --prompt "The hive" --max-tokens 8 --temperature 0
done
[ $fail -eq 0 ] && rm -rf "$T"
exit $fail
