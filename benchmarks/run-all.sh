#!/bin/sh
# run-all.sh DEVICE - the three `clft bench` suites on one OpenCL device, written under
# benchmarks/results/<device-slug>/ (device, kernels, train: .json and .md), then the comparison page
# of every device there (benchmarks/results/compare.html, compare.md).
#   DEVICE               as for `clft --device`: an index (`clft devices`), a type or a name part
#   CLFT_BUILD_DIR       the build folder (default: build)
#   CLFT_BENCH_QUICK=1   --quick (small shapes, a few seconds; for trying the script)
#   CLFT_BENCH_GGUF=F    also train this GGUF model (default ~/.cache/clft/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
#                        when it exists; tools/fetch-smollm2.sh fetches it); CLFT_BENCH_GGUF= skips it
#   clpeak installed     also its run on the same device (clpeak.txt) and the comparison (clpeak.md)
# Training: preset small with full, LoRA and QLoRA, batch 4 x 256 tokens, 3 timed steps.
set -eu
[ $# = 1 ] || { echo "usage: benchmarks/run-all.sh DEVICE" >&2; exit 2; }
DEV=$1
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CLFT=${CLFT_BUILD_DIR:-$ROOT/build}/tools/clft/clft
[ -x "$CLFT" ] || { echo "run-all.sh: $CLFT missing: build first (cmake -S . -B build && cmake --build build)" >&2; exit 1; }
Q=""
[ "${CLFT_BENCH_QUICK:-0}" = 1 ] && Q="--quick"
# the device's index, platform index (for clpeak) and a folder name from its platform and name
INFO=$("$CLFT" devices --json | DEV="$DEV" python3 -c '
import json, os, re, sys
devs = json.load(sys.stdin)
spec = os.environ["DEV"]
pick = [d for d in devs if str(d["index"]) == spec] or [d for d in devs if d["type"] == spec.lower()] or \
       [d for d in devs if spec.lower() in d["name"].lower()]
if not pick:
    sys.exit("run-all.sh: no device matches %r" % spec)
d = pick[0]
plats = []
for x in devs:
    if x["platform"] not in plats:
        plats.append(x["platform"])
p = plats.index(d["platform"])
pdev = [x["index"] for x in devs if x["platform"] == d["platform"]].index(d["index"])
short = {"Portable Computing Language": "pocl", "Intel(R) OpenCL": "intel", "NVIDIA CUDA": "nvidia",
         "AMD Accelerated Parallel Processing": "amd"}.get(d["platform"], d["platform"])
slug = re.sub(r"[^a-z0-9]+", "-", (short + "-" + d["name"]).lower()).strip("-")
print(d["index"], p, pdev, slug)')
set -- $INFO
IDX=$1 PLAT=$2 PDEV=$3 SLUG=$4
OUT="$ROOT/benchmarks/results/$SLUG"
mkdir -p "$OUT"
echo "run-all.sh: device $IDX -> $OUT"
"$CLFT" bench device --device "$IDX" $Q --json "$OUT/device.json" --md "$OUT/device.md"
# clpeak right after the device suite: the same minute of a machine whose bandwidth may drift
if command -v clpeak >/dev/null 2>&1; then
  clpeak -p "$PLAT" -d "$PDEV" > "$OUT/clpeak.txt" 2>&1 || true
  python3 "$ROOT/benchmarks/clpeak_compare.py" "$OUT/clpeak.txt" "$OUT/device.json" > "$OUT/clpeak.md"
  cat "$OUT/clpeak.md"
fi
"$CLFT" bench kernels --device "$IDX" $Q --json "$OUT/kernels.json" --md "$OUT/kernels.md"
"$CLFT" bench train --device "$IDX" $Q --preset small --method full,lora,qlora --batch 4 --seq-len 256 --steps 3 \
  --json "$OUT/train.json" --md "$OUT/train.md"
GGUF=${CLFT_BENCH_GGUF-$HOME/.cache/clft/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf}
if [ -n "$GGUF" ] && [ -f "$GGUF" ]; then
  "$CLFT" bench train --device "$IDX" $Q --model "$GGUF" --method lora,qlora --batch 4 --seq-len 256 --steps 3 \
    --json "$OUT/train-gguf.json" --md "$OUT/train-gguf.md"
fi
# the comparison of every device with results (their device and train suites)
cd "$ROOT/benchmarks/results"
set --
for f in */device.json */train.json */train-gguf.json; do [ -f "$f" ] && set -- "$@" "$f"; done
"$CLFT" bench compare "$@" --html compare.html > compare.md
echo "run-all.sh: wrote $OUT and benchmarks/results/compare.html"
