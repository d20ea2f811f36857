#!/bin/sh
# test_cli_quantize.sh - `clft quantize` option parsing: every option matched where it is read, in
# both `--opt value` and `--opt=value` forms and in any order (`--force --out=DIR` once parsed DIR as a
# blocksize), missing values and unknown options as one-line usage errors (exit 2).
# Usage: test_cli_quantize.sh CLFT_BINARY SCRATCH_DIR
set -u
. "$(dirname "$0")/cli_common.sh" "$1" "$2"
one_line() { [ "$(wc -l < "$T/stderr")" -eq 1 ] && grep -q "$1" "$T/stderr"; }
check "init tiny" code 0 "$CLFT" init --preset tiny --out "$T/m" --seed 3
check "quantize, separate values" code 0 "$CLFT" quantize --model "$T/m" --out "$T/q"
check "quantize wrote config" grep -q quantization_config "$T/q/config.json"
check "--force --out=DIR (exit 0)" code 0 "$CLFT" quantize --model "$T/m" --force --out="$T/q"
check "--force --out=DIR writes to DIR" grep -q "to $T/q\$" "$T/stdout"
check "--out=DIR --blocksize=128 (exit 0)" code 0 "$CLFT" quantize --model="$T/m" --out="$T/b" --blocksize=128
check "--blocksize=128 is the blocksize" grep -aq '"blocksize": 128' "$T/b/model.safetensors"
check "--blocksize=128 reported" grep -q "blocksize 128" "$T/stdout"
check "--blocksize 128 --quant-type fp4 --no-double-quant --force" \
    code 0 "$CLFT" quantize --blocksize 128 --quant-type=fp4 --model "$T/m" --no-double-quant --out "$T/b" --force
check "fp4 written" grep -q '"bnb_4bit_quant_type": "fp4"' "$T/b/config.json"
check "missing value at the end (exit 2)" code 2 "$CLFT" quantize --model "$T/m" --out
check "missing value: one line naming --out" one_line "\-\-out needs"
check "missing value before a flag (exit 2)" code 2 "$CLFT" quantize --model --force --out "$T/c"
check "missing value: one line naming --model" one_line "\-\-model needs"
check "empty --blocksize= (exit 2)" code 2 "$CLFT" quantize --model "$T/m" --out "$T/c" --blocksize=
check "empty value: one line naming --blocksize" one_line "\-\-blocksize needs"
check "bad blocksize (exit 2)" code 2 "$CLFT" quantize --model "$T/m" --out "$T/c" --blocksize=12x
check "bad blocksize: one line" one_line "\-\-blocksize must be"
check "bad quant type (exit 2)" code 2 "$CLFT" quantize --model "$T/m" --out "$T/c" --quant-type q8
check "bad quant type: one line" one_line "nf4 or fp4"
check "unknown flag (exit 2)" code 2 "$CLFT" quantize --model "$T/m" --out "$T/c" --frobnicate
check "unknown flag: one line naming it" one_line "unknown option '--frobnicate'"
check "prefix of an option is unknown (exit 2)" code 2 "$CLFT" quantize --model "$T/m" --outdir "$T/c"
check "nothing written on usage errors" test ! -e "$T/c"
check "--help (exit 0)" code 0 "$CLFT" quantize --help
[ $fail -eq 0 ] && rm -rf "$T"
exit $fail
