#!/bin/sh
# Installs what clft needs to build and test on Debian/Ubuntu (idempotent). Run as root or with sudo.
#   tools/install-deps.sh          build + test dependencies
#   tools/install-deps.sh --dev    also the PyTorch reference tooling (regenerating golden fixtures)
set -eu
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
# chromium: renders `clft bench compare` pages in tests/bench; clpeak: the reference the device suite is compared with
PKGS="build-essential cmake pkg-config ocl-icd-opencl-dev opencl-headers libclblast-dev libcjson-dev
      libzstd-dev libpcre2-dev libutf8proc-dev pocl-opencl-icd oclgrind clinfo python3 python3-venv clang
      openmpi-bin libopenmpi-dev procps chromium clpeak"
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
# A second OpenCL implementation for the tests: Intel's OpenCL CPU runtime, from PyPI into a
# virtual environment under the user's cache (never a system folder; no root needed). pip puts the
# runtime and its libraries (libsvml, libimf, TBB) into the venv's lib/; tools/ocl-env.sh registers
# it with the ICD loader. Skipped when already there (the stamp is written last: an interrupted
# install is completed by the next run; nothing is ever deleted), on machines other than x86-64,
# and with CLFT_INTEL_OCL=0.
# Versions are pinned so that CI runs the same runtime; CLFT_INTEL_OCL_VERSION picks another.
venv="${CLFT_INTEL_OCL_VENV:-$HOME/.cache/clft/intel-ocl-venv}"
ver="${CLFT_INTEL_OCL_VERSION:-2026.2.0}"
stamp="$venv/.clft-intel-ocl-$ver"
if [ "${CLFT_INTEL_OCL:-1}" = 0 ]; then
  echo "Intel OpenCL CPU runtime: skipped (CLFT_INTEL_OCL=0)"
elif [ "$(uname -m)" != x86_64 ]; then
  echo "Intel OpenCL CPU runtime: skipped (PyPI has it for x86-64 only)"
elif [ -f "$stamp" ] && [ -f "$venv/lib/libintelocl.so" ]; then
  echo "Intel OpenCL CPU runtime $ver: $venv (already installed; '. tools/ocl-env.sh' registers it)"
else
  echo "Intel OpenCL CPU runtime $ver: installing from PyPI into $venv"
  if [ -e "$venv" ] && [ ! -f "$venv/pyvenv.cfg" ]; then
    echo "install-deps: $venv exists and is not a Python venv; set CLFT_INTEL_OCL_VENV elsewhere" >&2
    exit 1
  fi
  mkdir -p "$(dirname "$venv")"
  [ -f "$venv/pyvenv.cfg" ] || python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --disable-pip-version-check --no-input -q \
    "intel-opencl-rt==$ver" "intel-cmplr-lib-rt==$ver"
  if [ ! -f "$venv/lib/libintelocl.so" ]; then
    echo "install-deps: $venv/lib/libintelocl.so missing after pip install" >&2
    exit 1
  fi
  touch "$stamp"
  echo "Intel OpenCL CPU runtime $ver: installed; '. tools/ocl-env.sh' makes the ICD loader see it"
fi
