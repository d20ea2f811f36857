#!/bin/sh
# check_env_reads.sh - the library, the tools, the examples and the benchmarks read the environment
# only through src/core/env.c (CONVENTIONS.md: read in one place, documented in one place; the tests'
# own helpers are exempt). usage: check_env_reads.sh SOURCE_DIR
cd "$1" || exit 1
hits=$(grep -rnE '(^|[^A-Za-z0-9_])(secure_)?getenv[[:space:]]*\(' src tools examples benchmarks | grep -v '^src/core/env\.c:')
if [ -n "$hits" ]; then
    echo "environment read outside src/core/env.c (add an accessor there):"
    echo "$hits"
    exit 1
fi
echo "ok: only src/core/env.c reads the environment"
