# cli_common.sh - helpers shared by the io CLI test scripts (test_cli_init.sh, test_cli_quantize.sh),
# sourced as `. cli_common.sh CLFT_BINARY SCRATCH_DIR`: sets CLFT, a fresh scratch folder T and fail=0;
# check prints ok/FAIL per case, code runs a command and compares its exit status (stdout in $T/stdout,
# stderr in $T/stderr for the next check).
CLFT="$1"
mkdir -p "$2"
T=$(mktemp -d "$2/cli_XXXXXX")
fail=0
check() { # check DESCRIPTION COMMAND...
    d="$1"; shift
    if "$@"; then echo "ok   $d"; else echo "FAIL $d"; fail=1; fi
}
code() { # code EXPECTED COMMAND... : exit status equals EXPECTED
    e="$1"; shift
    "$@" >"$T/stdout" 2>"$T/stderr"; [ $? -eq "$e" ]
}
