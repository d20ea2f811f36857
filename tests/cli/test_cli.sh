#!/bin/sh
# CLI tests of `clft`: devices (table and JSON fields), device selection errors, a missing OpenCL
# platform, the kernel cache across processes, and the benchmark's JSON. usage: test_cli.sh CLFT
set -u
CLFT=$1
pass=0; fail=0
ok()   { pass=$((pass+1)); }
bad()  { fail=$((fail+1)); echo "FAIL: $*" >&2; }
check() { if eval "$1"; then ok; else bad "$2"; fi; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/clft-cli.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export CLFT_CACHE_DIR="$tmp/cache"

"$CLFT" devices > "$tmp/table" 2>&1; check '[ $? -eq 0 ]' "clft devices exit code"
check 'grep -q "default device" "$tmp/table"' "devices table"

"$CLFT" devices --json > "$tmp/dev.json" 2>"$tmp/err"; check '[ $? -eq 0 ]' "devices --json exit code"
python3 - "$tmp/dev.json" <<'PY'; check '[ $? -eq 0 ]' "devices --json fields"
import json, sys
d = json.load(open(sys.argv[1]))
assert isinstance(d, list) and d, "non-empty array"
need = {"index": int, "platform": str, "name": str, "vendor": str, "type": str, "driver_version": str,
        "opencl_c_version": str, "compute_units": int, "global_mem_bytes": int, "max_alloc_bytes": int,
        "local_mem_bytes": int, "fp16": bool, "fp64": bool, "subgroups": bool, "extensions": list}
for dev in d:
    for k, t in need.items():
        assert k in dev, "missing " + k
        assert isinstance(dev[k], t), k + " has type " + type(dev[k]).__name__
    assert dev["type"] in ("gpu", "cpu", "accelerator", "other")
    assert dev["compute_units"] > 0 and dev["global_mem_bytes"] > 0
PY

"$CLFT" selfcheck --device no-such-device-zz > "$tmp/out" 2> "$tmp/err"; rc=$?
check '[ $rc -ne 0 ]' "unknown device must fail"
check '[ $(wc -l < "$tmp/err") -eq 1 ] && grep -q "no-such-device-zz" "$tmp/err" && grep -q "devices:" "$tmp/err"' \
      "one-line error listing devices: $(cat "$tmp/err")"
CLFT_DEVICE=also-not-a-device "$CLFT" selfcheck > "$tmp/out" 2> "$tmp/err"; rc=$?
check '[ $rc -ne 0 ] && grep -q CLFT_DEVICE "$tmp/err"' "CLFT_DEVICE is honoured"

# no OpenCL platform at all: the ICD loader finds no vendor files
mkdir -p "$tmp/empty-icd"
OCL_ICD_VENDORS="$tmp/empty-icd" OPENCL_VENDOR_PATH="$tmp/empty-icd" "$CLFT" devices > "$tmp/out" 2> "$tmp/err"; rc=$?
check '[ $rc -ne 0 ] && grep -q "install an OpenCL driver" "$tmp/err"' "missing platform message: $(cat "$tmp/err")"

# the second process reuses the cached kernels
"$CLFT" selfcheck > "$tmp/s1" 2>&1; rc1=$?
"$CLFT" selfcheck > "$tmp/s2" 2>&1; rc2=$?
check '[ $rc1 -eq 0 ] && [ $rc2 -eq 0 ]' "selfcheck runs: $(cat "$tmp/s1" "$tmp/s2")"
check 'grep -q " 0 from cache" "$tmp/s1" && grep -q "programs: 0 built" "$tmp/s2"' \
      "second run loads every program from the disk cache: $(grep programs "$tmp/s1" "$tmp/s2")"

"$CLFT" bench kernels --quick --only peak --json "$tmp/bench.json" > "$tmp/bench.md" 2> "$tmp/err"; rc=$?
check '[ $rc -eq 0 ]' "bench kernels exit code: $(cat "$tmp/err")"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); l=d["limits"]; assert d["schema"] == "clft-bench/1" and l["copy_gbs"]["value"] > 0 and l["fp32_gflops"]["value"] > 0' "$tmp/bench.json"
check '[ $? -eq 0 ]' "bench JSON has the measured limits"
"$CLFT" bench kernels --quick --only nosuch > /dev/null 2> "$tmp/err"; rc=$?
check '[ $rc -eq 2 ] && [ "$(wc -l < "$tmp/err")" -eq 1 ] && grep -q nosuch "$tmp/err"' "bench kernels --only nosuch: exit 2, one line: $(cat "$tmp/err")"

# init + quantize through the command line
"$CLFT" init --preset tiny --seed 3 --out "$tmp/m" > /dev/null 2>&1; check '[ $? -eq 0 ]' "clft init"
"$CLFT" quantize --model "$tmp/m" --out "$tmp/q" > /dev/null 2>"$tmp/err"; check '[ $? -eq 0 ] && grep -q quantization_config "$tmp/q/config.json"' "clft quantize: $(cat "$tmp/err")"
"$CLFT" quantize --model "$tmp/m" --out "$tmp/q" > /dev/null 2>"$tmp/err"; check '[ $? -ne 0 ] && [ $(wc -l < "$tmp/err") -eq 1 ] && grep -q "not empty" "$tmp/err"' "quantize refuses a non-empty folder"
"$CLFT" quantize --model "$tmp/nope" --out "$tmp/q2" > /dev/null 2>"$tmp/err"; check '[ $? -ne 0 ] && grep -q nope "$tmp/err"' "quantize: missing model folder named"
"$CLFT" quantize --model "$tmp/m" > /dev/null 2>&1; check '[ $? -eq 2 ]' "quantize usage error"

"$CLFT" frobnicate > /dev/null 2>&1; check '[ $? -eq 2 ]' "unknown command exits 2"
"$CLFT" devices --bogus > /dev/null 2>&1; check '[ $? -eq 2 ]' "unknown option exits 2"

echo "test_cli: $pass passed, $fail failed"
[ $fail -eq 0 ]
