#!/usr/bin/env python3
"""clpeak_compare.py CLPEAK.txt DEVICE.json - clpeak's numbers next to `clft bench device`'s (Markdown).
Goals (issue 11): memory bandwidth within 10% of clpeak's global memory bandwidth (its best vector
width; clft's read bandwidth, the same kind of measurement) and fp32/fp16 FMA at least clpeak's. The
transfer and latency rows are for information (different buffer sizes and methods). clpeak's
bandwidth kernels are written for GPUs (a work-group reads a block, its work-items a work-group size
apart), which a CPU runs as strided loads; clft's read limit is the best of its variants, one of which
(blocked16_maxwg) reads that way in work-groups of the device's largest size, shown on its own row.
Memory bandwidth on a shared virtual machine drifts by tens of percent from minute to minute:
benchmarks/run-all.sh runs clpeak right after the device suite."""
import json
import re
import sys


def section_max(text, title):
    """Largest value listed under a clpeak section heading ("Global memory bandwidth (GBPS)")."""
    m = re.search(re.escape(title) + r"\n((?:\s+\w+\s*:\s*[\d.]+\n)+)", text)
    if not m:
        return None
    return max(float(v) for v in re.findall(r":\s*([\d.]+)", m.group(1)))


def line_value(text, key):
    m = re.search(re.escape(key) + r"\s*:\s*([\d.]+)", text)
    return float(m.group(1)) if m else None


def main():
    text = open(sys.argv[1]).read()
    dev = json.load(open(sys.argv[2]))
    lim = {k: v["value"] for k, v in dev["limits"].items()}
    rows = [
        ("memory bandwidth (GB/s): clpeak global memory vs clft read", section_max(text, "Global memory bandwidth (GBPS)"),
         lim.get("read_gbs"), "within 10%"),
        ("memory bandwidth (GB/s): clpeak vs clft read with clpeak's access pattern (blocked16_maxwg)",
         section_max(text, "Global memory bandwidth (GBPS)"),
         dev.get("details", {}).get("read_kernels_gbs", {}).get("blocked16_maxwg"), "within 10%"),
        ("fp32 FMA (GFLOP/s)", section_max(text, "Single-precision compute (GFLOPS)"), lim.get("fp32_gflops"),
         ">= clpeak"),
        ("fp16 FMA (GFLOP/s)", section_max(text, "Half-precision compute (GFLOPS)"), lim.get("fp16_gflops"),
         ">= clpeak"),
        ("host to device (GB/s): enqueueWriteBuffer", line_value(text, "enqueueWriteBuffer"), lim.get("h2d_gbs"),
         "info"),
        ("device to host (GB/s): enqueueReadBuffer", line_value(text, "enqueueReadBuffer"), lim.get("d2h_gbs"),
         "info"),
        ("kernel launch latency (us)", line_value(text, "Kernel launch latency"), lim.get("launch_us"), "info"),
    ]
    d = dev["device"]
    print("### %s (%s, %s): clpeak vs clft bench device\n" % (d["name"], d["platform"], d["driver_version"]))
    print("| measurement | clpeak | clft | clft / clpeak | goal | met |")
    print("|---|---:|---:|---:|---|---|")
    for name, cp, cl, goal in rows:
        if cp is None and cl is None:
            print("| %s | unsupported | unsupported | - | %s | - |" % (name, goal))
            continue
        if cp is None or cl is None:
            print("| %s | %s | %s | - | %s | - |" % (name, "unsupported" if cp is None else "%.4g" % cp,
                                                     "unsupported" if cl is None else "%.4g" % cl, goal))
            continue
        r = cl / cp
        met = "-" if goal == "info" else ("yes" if (abs(r - 1) <= 0.10 if goal == "within 10%" else r >= 1) else "no")
        print("| %s | %.4g | %.4g | %.2f | %s | %s |" % (name, cp, cl, r, goal, met))


main()
