#!/bin/sh
# check_exports.sh - the shared library exports exactly the public API: every dynamic symbol it
# defines is a clft_ function declared CLFT_API in include/clft.h, and every such function is exported
# (the library is built with -fvisibility=hidden; CLFT_API is visibility("default")). A function
# declared in the header without CLFT_API is an error too. usage: check_exports.sh LIBCLFT.so CLFT.h
set -u
lib=$1; header=$2
tmp=$(mktemp -d "${TMPDIR:-/tmp}/clft-exports.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail=0
bad() { echo "FAIL: $1"; sed 's/^/  /' "$2"; fail=1; }
nm -D --defined-only "$lib" > "$tmp/nm" || { echo "FAIL: nm -D $lib"; exit 1; }
awk 'NF >= 3 { sub(/@.*/, "", $3); print $3 }' "$tmp/nm" | sort -u > "$tmp/exported"
# "CLFT_API <type> <name>(" at the start of a line (the declarations are written that way)
grep -c '^CLFT_API ' "$header" > "$tmp/napi"
sed -n 's/^CLFT_API [^(]*[ *]\(clft_[A-Za-z0-9_]*\)(.*/\1/p' "$header" | sort -u > "$tmp/declared"
[ "$(wc -l < "$tmp/declared")" -eq "$(cat "$tmp/napi")" ] && [ -s "$tmp/declared" ] ||
    { echo "FAIL: $(cat "$tmp/napi") CLFT_API lines but $(wc -l < "$tmp/declared") clft_ function names parsed"; fail=1; }
# a function declaration at the start of a line that lacks CLFT_API would be hidden
grep -nE '^(const |unsigned |struct |enum )?[A-Za-z_][A-Za-z0-9_]*[ *]+clft_[A-Za-z0-9_]*\(' "$header" |
    grep -vE ':(typedef|#)' > "$tmp/noapi"
[ -s "$tmp/noapi" ] && bad "functions declared in $header without CLFT_API:" "$tmp/noapi"
comm -23 "$tmp/exported" "$tmp/declared" > "$tmp/extra"
[ -s "$tmp/extra" ] && bad "exported but not a CLFT_API function of $header:" "$tmp/extra"
comm -13 "$tmp/exported" "$tmp/declared" > "$tmp/missing"
[ -s "$tmp/missing" ] && bad "declared CLFT_API in $header but not exported:" "$tmp/missing"
[ $fail -eq 0 ] && echo "check_exports: $(wc -l < "$tmp/exported") exported symbols, all CLFT_API in $(basename "$header")"
exit $fail
