#!/bin/sh
# Runs a kernel test under Oclgrind with its memory, race and uninitialised-value checks and fails
# when the test fails or Oclgrind logs anything (Oclgrind itself does not set the exit code).
# usage: oclgrind_run.sh OCLGRIND TEST [ARGS...]
set -u
ocl=$1; shift
log=$(mktemp "${TMPDIR:-/tmp}/clft-oclgrind.XXXXXX")
"$ocl" --data-races --uninitialized --check-api --max-errors 20 --log "$log" "$@"
rc=$?
if [ -s "$log" ]; then
  echo "Oclgrind reported problems:" >&2
  cat "$log" >&2
  rm -f "$log"
  exit 1
fi
rm -f "$log"
exit $rc
