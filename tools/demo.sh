#!/bin/sh
# The main job: install dependencies, build, list the OpenCL devices (the system's and Intel's CPU
# runtime, tools/ocl-env.sh), run the kernel self-check, then fine-tune with `clft train`: a
# `clft init` Llama-family model (random weights, byte-level tokenizer - the real pretrained model
# comes with GGUF support) trained with QLoRA (NF4 base, adapters on all projections) on the
# bundled data of each kind of fine-tuning:
#   unsupervised  examples/data/text.jsonl        continued pre-training on domain text
#   supervised    examples/data/completion.jsonl  prompt -> completion, loss on the completion
#   instruction   examples/data/chat.jsonl        chat turns, loss on the assistant's
# Each run holds out 15% of its data and evaluates it every 10 steps; the eval loss of the first
# and last evaluation is printed, with where the metrics, report and checkpoint were written. Then
# the instruction-tuned adapter is used as a user would: `clft generate --chat` (greedy, from the
# NF4 base with the adapter unmerged), `clft eval` on the chat data, and `clft export` of the merged
# model as a Hugging Face folder (each run's OUT is also a PEFT adapter folder).
# Idempotent. CLFT_DEMO_DIR (default build/demo) holds the outputs; extra arguments go to every
# clft train run (e.g. --device SPEC, --steps N, --method lora).
set -eu
cd "$(dirname "$0")/.."
tools/install-deps.sh
. tools/ocl-env.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc 2>/dev/null || echo 2)"
CLFT=build/tools/clft/clft
$CLFT devices
$CLFT selfcheck
OUT="${CLFT_DEMO_DIR:-build/demo}"
mkdir -p "$OUT"
$CLFT init --preset tiny --out "$OUT/model" --seed 1 --force
start=$(date +%s)
for run in "unsupervised text" "supervised completion" "instruction chat"; do
  kind=${run%% *} data=${run#* }
  echo "== $kind fine-tuning: QLoRA on examples/data/$data.jsonl"
  $CLFT train --model "$OUT/model" --data "examples/data/$data.jsonl" --out "$OUT/$kind" --overwrite \
    --method qlora --rank 16 --seq-len 256 --batch 4 --steps 40 --lr 1e-2 --warmup 4 \
    --val-split 0.15 --eval-every 10 --log-every 10 "$@"
done
echo "== summary ($(( $(date +%s) - start )) s of training)"
for kind in unsupervised supervised instruction; do
  python3 - "$OUT/$kind" "$kind" <<'PY'
import json, sys
out, kind = sys.argv[1], sys.argv[2]
ev = [json.loads(l) for l in open(out + "/metrics.jsonl") if '"eval"' in l]
first, last = ev[0], ev[-1]
a, b = first["eval"]["val"], last["eval"]["val"]
print(f"{kind:13s} eval loss {a:.4f} (step {first['step']}) -> {b:.4f} (step {last['step']}): {100 * (b - a) / a:+.2f}%"
      f"   {out}/metrics.jsonl  {out}/report.html  {out}/checkpoint-{last['step']}")
PY
done
echo "== the instruction adapter in use: clft generate --chat, clft eval, clft export"
$CLFT generate --model "$OUT/model" --adapter "$OUT/instruction" --chat \
  --prompt "How often should I inspect a new hive?" --max-tokens 48 --temperature 0
$CLFT eval --model "$OUT/model" --adapter "$OUT/instruction" --data examples/data/chat.jsonl --seq-len 256 \
  --out "$OUT/instruction-eval.json"
$CLFT export --model "$OUT/model" --adapter "$OUT/instruction" --out "$OUT/instruction-merged" --force
echo "PEFT adapter: $OUT/instruction (adapter_config.json, adapter_model.safetensors); merged model: $OUT/instruction-merged"
