#!/usr/bin/env python3
"""check_bench.py - checks a `clft bench` result document (schema clft-bench/1) and its Markdown.
  check_bench.py SUITE FILE.json STDOUT.txt [quick]
The keys every suite writes, units, min <= median <= max, fractions of the limit, every entry a row
of the Markdown table printed to stdout; for train: the op-family split sums to the step's wall
time, idle >= 0, and the peak memory of every class next to the plan. Prints the first problem and
exits 1; never looks at speed (no wall-clock assertion)."""
import json
import math
import sys


def fail(msg):
    print("check_bench: " + msg)
    sys.exit(1)


def main():
    suite, path, out_path = sys.argv[1], sys.argv[2], sys.argv[3]
    quick = len(sys.argv) > 4 and sys.argv[4] == "quick"
    d = json.load(open(path))
    out = open(out_path).read()
    for k in ("schema", "suite", "device", "clft", "settings", "repetitions", "warmup", "limits", "entries"):
        if k not in d:
            fail("%s: no key %r" % (path, k))
    if d["schema"] != "clft-bench/1" or d["suite"] != suite:
        fail("%s: schema %r suite %r" % (path, d["schema"], d["suite"]))
    for k in ("name", "vendor", "platform", "driver_version", "opencl_version", "type"):
        if not isinstance(d["device"].get(k), str) or not d["device"][k]:
            fail("%s: device.%s missing" % (path, k))
    for k in ("version", "git_revision"):
        if not d["clft"].get(k):
            fail("%s: clft.%s missing" % (path, k))
    if d["settings"].get("quick") is not quick:
        fail("%s: settings.quick is %r" % (path, d["settings"].get("quick")))
    for name, lim in d["limits"].items():
        if not (lim.get("value", 0) > 0 and lim.get("unit")):
            fail("%s: limit %s: %r" % (path, name, lim))
    if not d["entries"]:
        fail("%s: no entries" % path)
    if "| entry | group | unit | min | median | max | fraction of limit |" not in out:
        fail("%s: no Markdown table header on stdout" % out_path)
    units = {"GB/s", "GFLOP/s", "us", "s", "s/step", "tokens/s", "fraction", "MiB"}
    names = set()
    for e in d["entries"]:
        n = e.get("name")
        if not n or n in names:
            fail("entry name %r missing or repeated" % n)
        names.add(n)
        if e.get("unit") not in units:
            fail("%s: unit %r" % (n, e.get("unit")))
        lo, med, hi = e.get("min"), e.get("median"), e.get("max")
        if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in (lo, med, hi)):
            fail("%s: min/median/max %r %r %r" % (n, lo, med, hi))
        if not (lo <= med * (1 + 1e-12) and med <= hi * (1 + 1e-12)):
            fail("%s: not min <= median <= max: %r %r %r" % (n, lo, med, hi))
        if e["group"] != "op split" and not lo > 0:
            fail("%s: value %r not positive" % (n, lo))
        if "fraction_of_limit" in e:
            f = e["fraction_of_limit"]
            if e.get("limit") not in d["limits"]:
                fail("%s: limit %r not among the limits" % (n, e.get("limit")))
            # quick runs move a few MiB: memory-bound kernels then run in cache, above the
            # memory limit; compute-bound ones (GFLOP/s) must stay under the FMA limit
            bound = 1.5 if (not quick or e["unit"] == "GFLOP/s") else 50
            if not 0 < f <= bound:
                fail("%s: fraction_of_limit %r outside (0, %g]" % (n, f, bound))
        if "| %s |" % n not in out:
            fail("%s: no Markdown row for it" % n)
        if "seconds" in e:
            s = e["seconds"]
            if not 0 < s["min"] <= s["median"] <= s["max"]:
                fail("%s: seconds %r" % (n, s))
    if suite == "device":
        for k in ("read_gbs", "write_gbs", "copy_gbs", "fp32_gflops", "launch_us", "h2d_gbs", "d2h_gbs"):
            if k not in d["limits"]:
                fail("device: limit %s missing" % k)
        fp16 = d["device"]["fp16"]
        if fp16 != ("fp16_gflops" in d["limits"]):
            fail("device: fp16 %r but limit fp16_gflops %r" % (fp16, "fp16_gflops" in d["limits"]))
        if not fp16 and "fma fp16: unsupported" not in out:
            fail("device: no 'unsupported' note for fp16")
        for n in ("memory read", "memory write", "memory copy", "fma fp32", "launch latency (back to back)",
                  "host to device (write buffer)", "device to host (read buffer)"):
            if n not in names:
                fail("device: entry %r missing" % n)
    if suite == "kernels":
        groups = {e["group"] for e in d["entries"]}
        for g in ("dequant", "gemm", "gemv", "attention", "loss", "optimizer"):
            if g not in groups:
                fail("kernels: no %s entries" % g)
        storages = {e.get("storage") for e in d["entries"] if e["group"] == "gemm"}
        for s in ("f32", "bf16", "f16", "nf4", "q8_0", "q4_0", "q4_1"):
            if s not in storages:
                fail("kernels: no gemm entry for storage %s" % s)
        paths = {e.get("path") for e in d["entries"] if e["group"] == "gemm"}
        for p in ("tiled", "clblast", "fused", "gemv"):
            if p not in paths:
                fail("kernels: no gemm entry for path %s" % p)
    if suite == "train":
        if not d.get("runs"):
            fail("train: no runs")
        for r in d["runs"]:
            tag = "%s/%s" % (r["model"], r["method"])
            sp = r["op_split"]
            fam = sp["families"]
            total = sum(v["seconds_per_step"] for v in fam.values())
            wall = sp["wall_seconds_per_step"]
            if abs(total - wall) > 1e-6 * max(1.0, wall):
                fail("%s: op split sums to %r, wall %r" % (tag, total, wall))
            if fam["idle"]["seconds_per_step"] < 0:
                fail("%s: idle %r < 0 (device busy longer than the wall time)" % (tag, fam["idle"]))
            if not any(k.startswith("gemm ") for k in fam) or "attention" not in fam or "optimizer" not in fam:
                fail("%s: op families %r" % (tag, sorted(fam)))
            if r["method"] == "qlora" and "gemm nf4" not in fam:
                fail("%s: no gemm nf4 family" % tag)
            mem = r["memory"]
            if not (mem["peak_bytes"] > 0 and mem["plan_bytes"] > 0):
                fail("%s: memory %r" % (tag, mem))
            for c in ("weights", "trainable", "gradients", "optimizer", "activations", "scratch"):
                m = mem["by_class"].get(c)
                if m is None or "peak_bytes" not in m or "plan_bytes" not in m:
                    fail("%s: memory class %s missing" % (tag, c))
            for k in ("tokens_per_second", "mfu", "startup_cold_seconds", "startup_warm_seconds"):
                if not r.get(k, 0) > 0:
                    fail("%s: %s %r" % (tag, k, r.get(k)))
    print("check_bench: %s %s: %d entries ok" % (suite, path, len(d["entries"])))


main()
