#!/bin/sh
# The main job: install dependencies, build, list the OpenCL devices, run the kernel self-check,
# then fine-tune a tiny Llama-family model with QLoRA (NF4 base, adapters on all projections) on
# one batch for 150 steps, printing the loss. Every OpenCL device is listed (the system's and
# Intel's CPU runtime, tools/ocl-env.sh); training runs on the default one. Idempotent. Extra
# arguments go to train_tiny (e.g. --method full|lora|qlora, --device SPEC).
set -eu
cd "$(dirname "$0")/.."
tools/install-deps.sh
. tools/ocl-env.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc 2>/dev/null || echo 2)"
build/tools/clft/clft devices
build/tools/clft/clft selfcheck
build/examples/train_tiny "$@"
