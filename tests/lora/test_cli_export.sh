#!/bin/sh
# test_cli_export.sh - `clft export`: a PEFT adapter (the committed fixture data/peft_lora, made by
# PEFT on the base `clft init --config data/base_config.json --seed 7` writes) merged into f32, bf16
# and 4-bit folders; options in both `--opt value` and `--opt=value` forms; bad input as one line on
# stderr and exit 2 (missing or unknown flags, bad values, missing folders, an adapter for another
# base, a non-LoRA adapter, an existing --out without --force) with nothing written; a failure while
# writing is exit 1 with nothing left behind.
# Usage: test_cli_export.sh CLFT_BINARY DATA_DIR SCRATCH_DIR
set -u
DATA="$2"
set -- "$1" "$3" # cli_common.sh reads its arguments from the positional parameters (sh ignores arguments to `.`)
. "$(dirname "$0")/../io/cli_common.sh" # CLFT, T, fail, check, code
one_line() { [ "$(wc -l < "$T/stderr")" -eq 1 ] && grep -q -- "$1" "$T/stderr"; }
no_leftovers() { [ -z "$(ls "$T" | grep -e '\.tmp-' -e '\.old-')" ]; }
A="$DATA/peft_lora"

check "init the base" code 0 "$CLFT" init --config "$DATA/base_config.json" --seed 7 --out "$T/m"
check "init a bf16 base" code 0 "$CLFT" init --config "$DATA/base_config.json" --seed 7 --dtype bf16 --out "$T/m16"
check "init another base (preset tiny)" code 0 "$CLFT" init --preset tiny --out "$T/tiny"

check "export (exit 0)" code 0 "$CLFT" export --model "$T/m" --adapter "$A" --out "$T/o1"
check "export reports the folder" grep -q "wrote $T/o1 (f32)" "$T/stdout"
check "default dtype from the base: float32" grep -q '"torch_dtype": "float32"' "$T/o1/config.json"
check "weights, tokenizer and generation config written" \
    test -f "$T/o1/model.safetensors" -a -f "$T/o1/tokenizer.json" -a -f "$T/o1/generation_config.json"
check "export of a bf16 base (exit 0)" code 0 "$CLFT" export --model="$T/m16" --adapter="$A" --out="$T/o2"
check "default dtype from the bf16 base: bfloat16" grep -q '"torch_dtype": "bfloat16"' "$T/o2/config.json"
check "--dtype f16 --quantize nf4 --blocksize 128 --no-double-quant --merge-base 4bit --max-shard-size (exit 0)" \
    code 0 "$CLFT" export --quantize nf4 --model "$T/m" --blocksize=128 --adapter "$A" --no-double-quant \
    --dtype f16 --merge-base=4bit --max-shard-size 60000 --out "$T/o3"
check "nf4 config" grep -q '"bnb_4bit_quant_type": "nf4"' "$T/o3/config.json"
check "no double quantization" grep -q '"bnb_4bit_use_double_quant": false' "$T/o3/config.json"
check "f16 compute dtype" grep -q '"bnb_4bit_compute_dtype": "float16"' "$T/o3/config.json"
check "sharded: an index" test -f "$T/o3/model.safetensors.index.json"
check "blocksize 128 in the quant_state" grep -aq '"blocksize": 128' "$T/o3/model-00001-of-00002.safetensors" \
    "$T/o3/model-00002-of-00002.safetensors"
check "the 4-bit folder loads as a base (exit 0)" code 0 "$CLFT" export --model "$T/o3" --adapter "$A" --out "$T/o4"

check "existing --out (exit 2)" code 2 "$CLFT" export --model "$T/m" --adapter "$A" --out "$T/o1"
check "existing --out: one line" one_line "already exists"
check "existing --out with --force (exit 0)" code 0 "$CLFT" export --model "$T/m" --adapter "$A" --out "$T/o1" \
    --dtype bf16 --force
check "--force replaced it" grep -q '"torch_dtype": "bfloat16"' "$T/o1/config.json"

check "missing --adapter (exit 2)" code 2 "$CLFT" export --model "$T/m" --out "$T/x"
check "missing --adapter: one line" one_line "required"
check "missing value at the end (exit 2)" code 2 "$CLFT" export --model "$T/m" --adapter "$A" --out
check "missing value: one line naming --out" one_line "\-\-out needs"
check "missing value before a flag (exit 2)" code 2 "$CLFT" export --model --force --adapter "$A" --out "$T/x"
check "missing value: one line naming --model" one_line "\-\-model needs"
check "unknown flag (exit 2)" code 2 "$CLFT" export --model "$T/m" --adapter "$A" --out "$T/x" --frobnicate
check "unknown flag: one line naming it" one_line "unknown option '--frobnicate'"
check "prefix of an option (exit 2)" code 2 "$CLFT" export --model "$T/m" --adapter "$A" --outdir "$T/x"
check "bad --dtype (exit 2)" code 2 "$CLFT" export --model "$T/m" --adapter "$A" --out "$T/x" --dtype q8
check "bad --dtype: one line" one_line "\-\-dtype must be"
check "bad --quantize (exit 2)" code 2 "$CLFT" export --model "$T/m" --adapter "$A" --out "$T/x" --quantize int8
check "bad --quantize: one line" one_line "nf4 or fp4"
check "bad --blocksize (exit 2)" code 2 "$CLFT" export --model "$T/m" --adapter "$A" --out "$T/x" --quantize fp4 \
    --blocksize 48
check "bad --blocksize: one line" one_line "power of two"
check "--blocksize without --quantize (exit 2)" code 2 "$CLFT" export --model "$T/m" --adapter "$A" --out "$T/x" \
    --blocksize 64
check "--blocksize without --quantize: one line" one_line "\-\-quantize only"
check "bad --merge-base (exit 2)" code 2 "$CLFT" export --model "$T/m" --adapter "$A" --out "$T/x" --merge-base x
check "bad --merge-base: one line" one_line "auto, stored or 4bit"
check "bad --max-shard-size (exit 2)" code 2 "$CLFT" export --model "$T/m" --adapter "$A" --out "$T/x" \
    --max-shard-size 0
check "bad --max-shard-size: one line" one_line "positive number"
check "missing model folder (exit 2)" code 2 "$CLFT" export --model "$T/nope" --adapter "$A" --out "$T/x"
check "missing model folder: one line" one_line "\-\-model $T/nope"
check "missing adapter folder (exit 2)" code 2 "$CLFT" export --model "$T/m" --adapter "$T/nope" --out "$T/x"
check "missing adapter folder: one line" one_line "\-\-adapter $T/nope"
check "adapter for another base (exit 2)" code 2 "$CLFT" export --model "$T/tiny" --adapter "$A" --out "$T/x"
check "adapter for another base: one line naming the tensor" one_line "lora_A.weight' has shape \[4, 48\]"
mkdir -p "$T/loha"
cp "$A/adapter_model.safetensors" "$T/loha/"
sed 's/"peft_type": "LORA"/"peft_type": "LOHA"/' "$A/adapter_config.json" > "$T/loha/adapter_config.json"
check "non-LoRA adapter (exit 2)" code 2 "$CLFT" export --model "$T/m" --adapter "$T/loha" --out "$T/x"
check "non-LoRA adapter: one line naming peft_type" one_line "'peft_type' is \"LOHA\""
check "nothing written on bad input" test ! -e "$T/x"
check "no temporary folders after bad input" no_leftovers

: > "$T/file"
check "a failure while writing (exit 1)" code 1 "$CLFT" export --model "$T/m" --adapter "$A" --out "$T/file/sub/o"
check "a failure while writing: one line" one_line "clft export: "
check "nothing left after the failure" test ! -e "$T/file/sub"
check "no temporary folders left" no_leftovers
check "--help (exit 0)" code 0 "$CLFT" export --help
check "--help lists --merge-base" grep -q "merge-base" "$T/stdout"
[ $fail -eq 0 ] && rm -rf "$T"
exit $fail
