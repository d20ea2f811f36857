# tools/ocl-env.sh - sourced (". tools/ocl-env.sh") by tools/test.sh and tools/demo.sh, or by hand:
# lets the OpenCL ICD loader find Intel's OpenCL CPU runtime, which tools/install-deps.sh installs
# from PyPI into a venv ($CLFT_INTEL_OCL_VENV, default ~/.cache/clft/intel-ocl-venv), next to the
# system's drivers (PoCL, GPUs). Without that venv it changes nothing.
#
# How: a vendors folder inside the venv holds intel-cpu.icd (the runtime's absolute path) and a link
# to every .icd file of the system's folder, and OCL_ICD_VENDORS points at it; that variable
# replaces /etc/OpenCL/vendors for ocl-icd (the loader of Debian, Ubuntu, Fedora, Arch) and for the
# Khronos loader alike, so the system's drivers stay visible. Not used, on purpose:
#   OCL_ICD_FILENAMES  ocl-icd 2.3.1 (Debian 12) ignores it: the Intel runtime would not appear;
#                      the Khronos loader reads it in addition to the vendors folder: listing the
#                      runtime there too would show it twice.
#   LD_LIBRARY_PATH    the runtime finds its libraries through its RUNPATH ($ORIGIN); the venv's
#                      lib/ also holds a libOpenCL.so.1 (the wheel's own loader) that would replace
#                      the system's loader in every program started from this shell.
# The folder is only written where it differs from what it should hold, so that programs already
# reading it (another test run) never see it half written.
clft_intel_venv="${CLFT_INTEL_OCL_VENV:-$HOME/.cache/clft/intel-ocl-venv}"
if [ -f "$clft_intel_venv/lib/libintelocl.so" ]; then
  clft_icd_dir="$clft_intel_venv/clft-vendors"
  clft_sys_icd="${OPENCL_VENDOR_PATH:-/etc/OpenCL/vendors}"
  if [ -n "${OCL_ICD_VENDORS:-}" ] && [ "$OCL_ICD_VENDORS" != "$clft_icd_dir" ] && [ -d "$OCL_ICD_VENDORS" ]; then
    clft_sys_icd="$OCL_ICD_VENDORS" # an earlier choice of folder is kept, with the runtime added
  fi
  mkdir -p "$clft_icd_dir"
  if [ "$(cat "$clft_icd_dir/intel-cpu.icd" 2>/dev/null)" != "$clft_intel_venv/lib/libintelocl.so" ]; then
    echo "$clft_intel_venv/lib/libintelocl.so" >"$clft_icd_dir/intel-cpu.icd.tmp.$$"
    mv -f "$clft_icd_dir/intel-cpu.icd.tmp.$$" "$clft_icd_dir/intel-cpu.icd"
  fi
  for clft_f in "$clft_sys_icd"/*.icd; do
    [ -f "$clft_f" ] || continue
    case "$(cat "$clft_f")" in *libintelocl.so*) continue ;; esac # a system-wide copy of the same runtime
    clft_l="$clft_icd_dir/system-$(basename "$clft_f")"
    if [ "$(readlink "$clft_l" 2>/dev/null)" != "$clft_f" ]; then ln -sfn "$clft_f" "$clft_l"; fi
  done
  for clft_l in "$clft_icd_dir"/system-*.icd; do # drivers removed from the system since
    if [ -L "$clft_l" ] && [ ! -e "$clft_l" ]; then rm -f "$clft_l"; fi
  done
  export OCL_ICD_VENDORS="$clft_icd_dir"
  unset clft_icd_dir clft_sys_icd clft_f clft_l
fi
unset clft_intel_venv
