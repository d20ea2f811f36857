#!/bin/sh
# test_cli_tokenize.sh CLFT DATA_DIR - `clft tokenize` / `clft detokenize`: round trips through
# the three test tokenizers, --tokens, --add-special, the invalid UTF-8 error, an unsupported model.
set -u
CLFT=$1
DATA=$2
fail=0
check() { # name, condition result
    if [ "$2" -eq 0 ]; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi
}
TMP=${TMPDIR:-/tmp}/clft_cli_tok.$$
mkdir -p "$TMP"
trap 'rm -rf "$TMP"' EXIT
printf 'Hello, world!\n  Ünïcödé 日本語 😀\ttabs <|im_end|> 12345' > "$TMP/text"
for t in llama2 llama3 qwen3; do
    "$CLFT" tokenize --tokenizer "$DATA/$t" < "$TMP/text" > "$TMP/ids.$t"
    check "$t tokenize exit status" $?
    "$CLFT" detokenize --tokenizer "$DATA/$t" < "$TMP/ids.$t" > "$TMP/back.$t"
    check "$t detokenize exit status" $?
    cmp -s "$TMP/text" "$TMP/back.$t"
    check "$t round trip" $?
done
ids=$(printf 'Hello' | "$CLFT" tokenize --tokenizer "$DATA/llama2" --add-special)
[ "$ids" = "[1,22557]" ]
check "llama2 --add-special ($ids)" $?
toks=$(printf 'Hello world' | "$CLFT" tokenize --tokenizer "$DATA/llama3" --tokens)
[ "$toks" = '["Hello","Ġworld"]' ]
check "llama3 --tokens ($toks)" $?
printf 'ab\377cd' | "$CLFT" tokenize --tokenizer "$DATA/llama3" > "$TMP/out" 2> "$TMP/err"
rc=$?
[ $rc -ne 0 ] && [ "$(wc -l < "$TMP/err")" -eq 1 ] && grep -q "invalid UTF-8 at byte offset 2" "$TMP/err" && [ ! -s "$TMP/out" ]
check "invalid UTF-8: exit $rc, one-line error: $(cat "$TMP/err")" $?
echo '[1, "x"]' | "$CLFT" detokenize --tokenizer "$DATA/llama2" > /dev/null 2>&1
[ $? -ne 0 ]
check "detokenize rejects a non-integer id" $?
mkdir -p "$TMP/bert"
printf '{"model":{"type":"WordPiece","vocab":{"a":0}}}' > "$TMP/bert/tokenizer.json"
printf 'a' | "$CLFT" tokenize --tokenizer "$TMP/bert" > /dev/null 2> "$TMP/err"
rc=$?
[ $rc -eq 1 ] && [ "$(wc -l < "$TMP/err")" -eq 1 ] && grep -q "^clft tokenize: unsupported: .*WordPiece" "$TMP/err" &&
    ! grep -q "device" "$TMP/err"
check "WordPiece: exit $rc, one line without 'device': $(cat "$TMP/err")" $?
"$CLFT" tokenize < /dev/null > /dev/null 2>&1
[ $? -eq 2 ]
check "tokenize without --tokenizer is a usage error" $?
exit $fail
