#!/bin/sh
# The main job: install dependencies, build, list devices, run the kernel self-check. Idempotent.
set -eu
cd "$(dirname "$0")/.."
tools/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc 2>/dev/null || echo 2)"
build/tools/clft/clft devices
build/tools/clft/clft selfcheck "$@"
