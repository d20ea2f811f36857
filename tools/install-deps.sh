#!/bin/sh
# Installs what clft needs to build and test on Debian/Ubuntu (idempotent). Run as root or with sudo.
#   tools/install-deps.sh          build + test dependencies
#   tools/install-deps.sh --dev    also the PyTorch reference tooling (regenerating golden fixtures)
set -eu
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
PKGS="build-essential cmake pkg-config ocl-icd-opencl-dev opencl-headers libclblast-dev libcjson-dev
      libzstd-dev libpcre2-dev libutf8proc-dev pocl-opencl-icd oclgrind clinfo python3 clang"
if [ "${1:-}" = "--dev" ]; then PKGS="$PKGS python3-torch python3-numpy"; fi
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  # shellcheck disable=SC2086
  $SUDO apt-get install -y -q --no-install-recommends $missing
fi
# libFuzzer (tests/fuzz): the compiler-rt package that matches clang's major version
v=$(clang --version 2>/dev/null | sed -n 's/.*clang version \([0-9]*\).*/\1/p' | head -n 1)
if [ -n "$v" ] && ! dpkg-query -W -f='${Status}' "libclang-rt-$v-dev" 2>/dev/null | grep -q "install ok installed"; then
  if apt-cache show "libclang-rt-$v-dev" >/dev/null 2>&1; then
    $SUDO apt-get install -y -q --no-install-recommends "libclang-rt-$v-dev"
  fi
fi
