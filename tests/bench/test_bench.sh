#!/bin/sh
# test_bench.sh - `clft bench`.
#   test_bench.sh CLFT SCRATCH SRC suites   the device, kernels and train suites with --quick on the
#                                            default device ($CLFT_DEVICE; tools/test.sh runs the
#                                            kernel label on every device): JSON schema, units,
#                                            min <= median <= max, fractions, the Markdown table, the
#                                            op split against the step's wall time, peak vs plan
#   test_bench.sh CLFT SCRATCH SRC compare  `clft bench compare` of committed documents: the table,
#                                            the HTML rendered by headless Chromium (bars, labels, no
#                                            external resource), and bad inputs (one line, exit 2)
# Never asserts on speed.
set -eu
CLFT=$1 SCRATCH=$2 SRC=$3 MODE=$4
DIR="$SCRATCH/bench-$MODE-${CLFT_DEVICE:-default}"
rm -rf "$DIR"
mkdir -p "$DIR"
CHECK="python3 $SRC/tests/bench/check_bench.py"
fail() { echo "FAIL: $*"; exit 1; }

if [ "$MODE" = suites ]; then
  "$CLFT" bench device --quick --json "$DIR/device.json" --md "$DIR/device.md" > "$DIR/device.out"
  $CHECK device "$DIR/device.json" "$DIR/device.out" quick
  cmp -s "$DIR/device.md" "$DIR/device.out" || fail "--md file differs from the table on stdout"
  "$CLFT" bench kernels --quick --json "$DIR/kernels.json" > "$DIR/kernels.out"
  $CHECK kernels "$DIR/kernels.json" "$DIR/kernels.out" quick
  # one method: its cold start-up compiles every kernel (seconds on Intel's runtime)
  "$CLFT" bench train --quick --method qlora --json "$DIR/train.json" > "$DIR/train.out"
  $CHECK train "$DIR/train.json" "$DIR/train.out" quick
  # bad option of a suite: usage, exit 2
  set +e
  "$CLFT" bench train --method sgd > "$DIR/bad.out" 2>&1; rc=$?
  set -e
  [ "$rc" = 2 ] || fail "bench train --method sgd: exit $rc"
  grep -q "expected a comma-separated list" "$DIR/bad.out" || fail "bench train --method sgd: $(cat "$DIR/bad.out")"
  echo "test_bench suites: ok"
  exit 0
fi

# compare: two training runs and two device suites (PoCL and Intel's runtime, committed)
D="$SRC/tests/bench/data"
"$CLFT" bench compare "$D/train-pocl.json" "$D/train-intel.json" "$D/device-pocl.json" "$D/device-intel.json" \
  --html "$DIR/cmp.html" > "$DIR/cmp.out"
grep -q "^| entry | unit | A | B | C | D |" "$DIR/cmp.out" || fail "compare: no table header"
grep -q "^| tiny qlora tokens/s | tokens/s | [0-9.e+]* | [0-9.e+]* | - | - |" "$DIR/cmp.out" || fail "compare: tokens/s row"
grep -q "^| memory copy | GB/s | - | - | [0-9.e+]* | [0-9.e+]* |" "$DIR/cmp.out" || fail "compare: copy row"
# self-contained: no script, no resource fetched from anywhere
if grep -qiE "<script|src=|href=|url\(|@import|https?:" "$DIR/cmp.html"; then fail "compare: external reference"; fi
# the rendered page (headless Chromium's DOM after layout): bars per device and method, labels
HOME="$DIR" timeout 120 chromium --headless --no-sandbox --disable-gpu --user-data-dir="$DIR/chrome" \
  --dump-dom "file://$DIR/cmp.html" > "$DIR/dom.html" 2> "$DIR/chrome.log" || fail "chromium: $(tail -3 "$DIR/chrome.log")"
for t in "Training throughput (tokens/s)" "Model FLOP utilization (MFU)" "Peak device memory (MiB)" \
         "Device memory bandwidth (GB/s)" "tiny qlora tokens/s" "tiny lora mfu" "tiny full peak device memory" \
         "memory copy" "fma fp32"; do
  grep -qF "$t" "$DIR/dom.html" || fail "compare: '$t' not in the rendered page"
done
for f in A B C D; do
  n=$(grep -o "<rect class=\"bar\" data-file=\"$f\"" "$DIR/dom.html" | wc -l)
  [ "$n" -ge 3 ] || fail "compare: $n bars of file $f in the rendered page"
done
[ "$(grep -o '<svg class="chart"' "$DIR/dom.html" | wc -l)" -ge 5 ] || fail "compare: fewer than 5 charts"
HOME="$DIR" timeout 120 chromium --headless --no-sandbox --disable-gpu --user-data-dir="$DIR/chrome" \
  --window-size=1100,1400 --screenshot="$DIR/cmp.png" "file://$DIR/cmp.html" 2>> "$DIR/chrome.log" >/dev/null
[ -s "$DIR/cmp.png" ] || fail "compare: no screenshot"

# bad inputs: one line naming the file and the problem, exit 2
bad() { # expected-text args...
  want=$1; shift
  set +e
  "$CLFT" bench compare "$@" > "$DIR/bad.out" 2> "$DIR/bad.err"; rc=$?
  set -e
  [ "$rc" = 2 ] || fail "compare $*: exit $rc"
  [ "$(wc -l < "$DIR/bad.err")" = 1 ] || fail "compare $*: not one line: $(cat "$DIR/bad.err")"
  grep -qF "$want" "$DIR/bad.err" || fail "compare $*: '$(cat "$DIR/bad.err")' lacks '$want'"
}
echo '{"hello": 1}' > "$DIR/other.json"
sed 's|"clft-bench/1"|"clft-bench/2"|' "$D/train-pocl.json" > "$DIR/v2.json"
sed 's|"suite":[[:space:]]*"train"|"suite": "inference"|' "$D/train-pocl.json" > "$DIR/suite.json"
printf 'not json' > "$DIR/garbage.json"
bad "not a clft-bench JSON document" "$D/train-pocl.json" "$DIR/other.json"
bad "not a clft-bench JSON document" "$DIR/garbage.json"
bad "schema clft-bench/2 is not supported" "$DIR/v2.json"
bad "unknown suite 'inference'" "$DIR/suite.json"
bad "$DIR/missing.json: cannot read" "$DIR/missing.json"
bad "no files"
echo "test_bench compare: ok"
