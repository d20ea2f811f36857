#!/bin/sh
# test_cli_init.sh - `clft init` from the command line: a tiny preset folder, determinism for a
# seed, refusal of a non-empty folder (exit 1) and of bad options (exit 2), --config-only for a large
# real shape, --help. Usage: test_cli_init.sh CLFT_BINARY SCRATCH_DIR
set -u
. "$(dirname "$0")/cli_common.sh" "$1" "$2"
check "init tiny" code 0 "$CLFT" init --preset tiny --out "$T/a" --seed 7
check "init creates missing parent folders" code 0 "$CLFT" init --preset tiny --out "$T/x/y/z" --config-only
check "init tiny again, same seed" code 0 "$CLFT" init --preset tiny --out "$T/b" --seed 7
check "init tiny, other seed" code 0 "$CLFT" init --preset tiny --out "$T/c" --seed 8
for f in config.json generation_config.json model.safetensors tokenizer.json tokenizer_config.json; do
    check "tiny has $f" test -s "$T/a/$f"
    check "$f identical for the same seed" cmp -s "$T/a/$f" "$T/b/$f"
done
check "weights differ for another seed" sh -c "! cmp -s '$T/a/model.safetensors' '$T/c/model.safetensors'"
check "non-empty --out refused (exit 1)" code 1 "$CLFT" init --preset tiny --out "$T/a"
check "error names the folder" grep -q "not empty" "$T/stderr"
check "--force overwrites" code 0 "$CLFT" init --preset tiny --out "$T/a" --seed 7 --force
check "same bytes after --force" cmp -s "$T/a/model.safetensors" "$T/b/model.safetensors"
check "bf16, sharded" code 0 "$CLFT" init --preset tiny --out "$T/s" --dtype bf16 --shard-size 100000
check "index written" test -s "$T/s/model.safetensors.index.json"
check "llama-3-70b --config-only" code 0 "$CLFT" init --preset llama-3-70b --out "$T/big" --config-only
check "70b config has 80 layers" grep -q '"num_hidden_layers": 80' "$T/big/config.json"
check "70b: no weights" test ! -e "$T/big/model.safetensors"
check "--config from a written config" code 0 "$CLFT" init --config "$T/a/config.json" --out "$T/d" --seed 7
check "config round trip gives the same weights" cmp -s "$T/a/model.safetensors" "$T/d/model.safetensors"
check "unknown preset (exit 1)" code 1 "$CLFT" init --preset nope --out "$T/e"
check "error lists presets" grep -q "tiny" "$T/stderr"
check "bad dtype (exit 2)" code 2 "$CLFT" init --preset tiny --out "$T/e" --dtype q4
check "missing --out (exit 2)" code 2 "$CLFT" init --preset tiny
check "preset and config (exit 2)" code 2 "$CLFT" init --preset tiny --config x --out "$T/e"
check "--help (exit 0)" code 0 "$CLFT" init --help
[ $fail -eq 0 ] && rm -rf "$T"
exit $fail
