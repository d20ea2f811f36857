#!/bin/sh
# Installs the build into a temporary prefix and builds two consumers against it: one with CMake's
# find_package(clft) (clft::clft) and one with pkg-config (clft.pc). usage: test_install.sh BUILD_DIR SRC_DIR
set -eu
build=$1; src=$2
tmp=$(mktemp -d "${TMPDIR:-/tmp}/clft-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" > "$tmp/install.log"
test -f "$tmp/prefix/include/clft.h"
cmake -S "$src" -B "$tmp/cm" -DCMAKE_PREFIX_PATH="$tmp/prefix" > "$tmp/cm.log"
cmake --build "$tmp/cm" > "$tmp/cmb.log"
"$tmp/cm/consumer"
libdir=$(ls -d "$tmp"/prefix/lib*/pkgconfig | head -n 1)
PKG_CONFIG_PATH="$libdir" cc -std=c11 "$src/main.c" -o "$tmp/pc" \
  $(PKG_CONFIG_PATH="$libdir" pkg-config --cflags --libs clft) -Wl,-rpath,"$(dirname "$libdir")"
"$tmp/pc"
echo "test_install: 2 passed, 0 failed"
