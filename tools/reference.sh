#!/bin/sh
# The transformers reference suite (tests/reference/hf_reference.py): makes a Python venv with
# torch, transformers, peft, bitsandbytes and safetensors from PyPI (CPU; several GB once, kept in
# $CLFT_REF_VENV, default ~/.cache/clft/ref-venv), regenerates the fixtures and checks clft against
# them with build/tests/golden/test_hf_reference; then regenerates the PEFT fixtures
# (tests/interop/peft_fixtures.py, checked by tests/lora/test_peft) and runs the end-to-end interop
# script tests/interop/peft_roundtrip.py; and where SmolLM2's GGUF is cached (tools/fetch-smollm2.sh),
# clft on it against transformers' GGUF loading (tests/interop/gguf_reference.py).
#   tools/reference.sh              regenerate into a temporary folder and check clft against it
#   tools/reference.sh --commit     regenerate tests/golden/hf (the committed fixtures)
#   tools/reference.sh --if-cached  do nothing (exit 0) unless the venv already exists (CI)
# The build folder is $CLFT_BUILD_DIR (default build). Extra arguments after the option are case
# names passed to hf_reference.py.
set -eu
cd "$(dirname "$0")/.."
VENV="${CLFT_REF_VENV:-$HOME/.cache/clft/ref-venv}"
BUILD="${CLFT_BUILD_DIR:-build}"
mode="check"
case "${1:-}" in
--commit) mode="commit"; shift ;;
--if-cached) mode="cached"; shift ;;
esac
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import torch, transformers, peft, bitsandbytes, safetensors" 2>/dev/null; then
    if [ "$mode" = "cached" ]; then
        echo "reference suite: no cached venv at $VENV (tools/reference.sh makes one): clft was checked against the committed fixtures only"
        exit 0
    fi
    echo "reference suite: making the venv $VENV (PyPI: torch, transformers, peft, bitsandbytes, safetensors)"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check torch transformers peft bitsandbytes safetensors numpy gguf
fi
versions=$("$VENV/bin/python" -c "import torch, transformers, peft, bitsandbytes; print(f'torch {torch.__version__}, transformers {transformers.__version__}, peft {peft.__version__}, bitsandbytes {bitsandbytes.__version__}')")
if [ "$mode" = "commit" ]; then
    out=tests/golden/hf
    rm -f "$out"/*.safetensors
else
    out=$(mktemp -d "${TMPDIR:-/tmp}/clft-hf-XXXXXX")
fi
echo "reference suite: regenerating the fixtures with $versions into $out"
PYTHONHASHSEED=0 "$VENV/bin/python" tests/reference/hf_reference.py "$out" "$@"
if [ ! -x "$BUILD/tests/golden/test_hf_reference" ]; then
    echo "reference suite: $BUILD/tests/golden/test_hf_reference is not built; fixtures are in $out"
    exit 0
fi
echo "reference suite: clft against the fresh fixtures"
CLFT_HF_FIXTURES="$out" "$BUILD/tests/golden/test_hf_reference"
[ "$mode" = "commit" ] || rm -rf "$out"
# The ecosystem: PEFT's adapters, logits, merges and greedy generation regenerated (tests/lora/test_peft
# against them, and PEFT loading clft's adapters), then the end-to-end round trip of clft train /
# eval / export / generate against PEFT and transformers (tests/interop/peft_roundtrip.py).
if [ "$mode" != "commit" ] && [ -x "$BUILD/tests/lora/test_peft" ] && [ -x "$BUILD/tests/interop/clft_logits" ]; then
    pf=$(mktemp -d "${TMPDIR:-/tmp}/clft-peft-XXXXXX")
    cp -r tests/lora/data/. "$pf/"
    echo "reference suite: PEFT fixtures regenerated into $pf; clft against them"
    "$VENV/bin/python" tests/interop/peft_fixtures.py --clft "$BUILD/tools/clft/clft" --out "$pf" \
        --verify "$BUILD/tests/lora/test_peft"
    echo "reference suite: clft train / eval / export / generate against PEFT and transformers"
    "$VENV/bin/python" tests/interop/peft_roundtrip.py --build "$BUILD"
    rm -rf "$pf"
fi
# A real GGUF (SmolLM2-135M-Instruct, tools/fetch-smollm2.sh): tokenizer ids, logits and greedy
# generation against transformers' own GGUF loading (tests/interop/gguf_reference.py).
gguf_model="${XDG_CACHE_HOME:-$HOME/.cache}/clft/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
if [ "$mode" != "commit" ] && [ -x "$BUILD/tools/clft/clft" ] && [ -x "$BUILD/tests/interop/clft_logits" ]; then
    if [ ! -f "$gguf_model" ]; then
        echo "reference suite: no $gguf_model (tools/fetch-smollm2.sh fetches it): the GGUF checks were skipped"
    elif ! "$VENV/bin/python" -c "import gguf" 2>/dev/null && [ "$mode" = "cached" ]; then
        echo "reference suite: the venv has no gguf package (tools/reference.sh installs it): the GGUF checks were skipped"
    else
        "$VENV/bin/python" -c "import gguf" 2>/dev/null || "$VENV/bin/pip" install -q --disable-pip-version-check gguf
        echo "reference suite: clft on $gguf_model against transformers' GGUF loading"
        "$VENV/bin/python" tests/interop/gguf_reference.py --build "$BUILD" --gguf "$gguf_model"
    fi
fi
