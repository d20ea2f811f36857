#!/usr/bin/env python3
"""bnb_quant_reference.py - writes tests/quant/fixtures/bnb_q4.bin: NF4/FP4 quantization (with and
without double quantization) computed by bitsandbytes itself on CPU tensors, for the C test
tests/quant/test_quant.c. A development tool: never a runtime or test-time dependency.

    python3 -m venv /tmp/bnbvenv && /tmp/bnbvenv/bin/pip install bitsandbytes torch numpy
    /tmp/bnbvenv/bin/python tests/reference/bnb_quant_reference.py [OUT]

Two passes. The "native" pass runs bitsandbytes as installed (its nested 8-bit quantizer is
libbitsandbytes_cpu's lookup-table code: clft's CLFT_Q4_NESTED_BNB_CPU). The "default" pass runs in
a child process in which the native library cannot load, so bitsandbytes falls back to its
pure-torch default backend (bucketize: clft's CLFT_Q4_NESTED_NEAREST). 4-bit quantization is the
default backend's in both passes (the CPU library has no 4-bit quantizer). torch runs on one thread
(see quant.c on the float32 mean).

File format (little-endian):
  "CLFTQ4FX" u32 version=1, u32 ncases, u32 nmeans, char info[120] (NUL padded versions)
  per case:
    char name[32]; u32 type (3 nf4, 4 fp4); u32 blocksize; u32 double_quant; u32 nested_mode;
    u64 numel; u32 xsrc; xsrc 0: f32 x[numel]; xsrc 1: u64 seed, f64 scale (x = gen(seed, numel,
    scale)); xsrc 2: the same, then block b of 64 (b % 7 == 0) multiplied by 1 + b % 13 in f32;
    u8 packed[(numel+1)/2]; f32 code[16]; u64 nblocks;
    no double quant: f32 absmax[nblocks]
    double quant:    u8 qabsmax[nblocks]; u64 nnested; f32 nested_absmax[nnested];
                     f32 offset; f32 nested_code[256]
    u32 has_deq; f32 deq[numel] if has_deq (bitsandbytes' dequantize_4bit to float32)
  per mean: u64 n; f32 x[n]; f32 torch_mean
"""
import os
import pickle
import struct
import subprocess
import sys

import numpy as np

F32 = np.float32


def gen(seed, n, scale=1.0):
    """Deterministic normal-ish values: Irwin-Hall of 4 splitmix64 24-bit uniforms; exact integer
    and IEEE double arithmetic then one f32 rounding, so test_quant.c regenerates the large inputs
    bit for bit (xsrc 1 and 2) instead of storing them."""
    s = (seed * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    out = np.empty(n, dtype=F32)
    for i in range(n):
        acc = 0
        for _ in range(4):
            s = (s + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
            z = s
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
            z ^= z >> 31
            acc += z >> 40
        out[i] = F32((acc - 2 * (1 << 24)) / float(1 << 24) * 1.7320508 * scale)
    return out


def blockscale(w):
    for b in range(0, w.size // 64, 7):
        w[b * 64 : (b + 1) * 64] *= F32(1.0 + (b % 13))
    return w


def midpoint_block(code, order, n_total):
    """x with absmax exactly 1.0 (so s == x) holding every f32 midpoint of the sorted code and
    its two f32 neighbours, repeated to n_total values."""
    srt = code[order]
    mids = ((srt[:-1] + srt[1:]) / F32(2)).astype(F32)
    vals = [F32(1.0)]
    for m in mids:
        vals += [m, np.nextafter(m, F32(2)), np.nextafter(m, F32(-2))]
    vals += list(code) + [F32(1e-4), F32(-1e-4), F32(0.0)]
    out = np.array([vals[i % len(vals)] for i in range(n_total)], dtype=F32)
    return out


def cases(torch, F):
    nf4 = F.get_4bit_type("nf4", device="cpu").numpy()
    fp4 = F.get_4bit_type("fp4", device="cpu").numpy()
    c = []
    c.append(("nf4_bs64_n1000", "nf4", 64, False, gen(1, 1000, 0.02), (1, 1, 0.02)))
    c.append(("nf4_bs64_n1001_dq", "nf4", 64, True, gen(2, 1001, 0.05), (1, 2, 0.05)))
    c.append(("nf4_bs128_n4099_dq", "nf4", 128, True, gen(3, 4099, 1.0), (1, 3, 1.0)))
    c.append(("fp4_bs64_n777", "fp4", 64, False, gen(4, 777, 0.03), (1, 4, 0.03)))
    c.append(("fp4_bs128_n2049_dq", "fp4", 128, True, gen(5, 2049, 2.0), (1, 5, 2.0)))
    c.append(("nf4_bs32_n12000_dq", "nf4", 32, True, gen(6, 12000, 0.01), (1, 6, 0.01)))
    c.append(("nf4_bs4096_n5000_dq", "nf4", 4096, True, gen(7, 5000, 0.1), (1, 7, 0.1)))
    c.append(("nf4_bs32_n97", "nf4", 32, False, gen(8, 97, 3.0), (1, 8, 3.0)))
    z = gen(9, 64 * 3 + 10, 0.1)
    z[64:128] = 0.0
    z[192:] = 0.0
    for qt in ("nf4", "fp4"):
        c.append((f"{qt}_zero_blocks", qt, 64, False, z.copy()))
        c.append((f"{qt}_zero_blocks_dq", qt, 64, True, z.copy()))
    const = np.array([0.5 if (i % 3) else -0.5 for i in range(64 * 40)], dtype=F32)
    c.append(("nf4_const_absmax_dq", "nf4", 64, True, const))
    order_nf4 = np.argsort(nf4, kind="stable")
    order_fp4 = torch.argsort(torch.from_numpy(fp4)).numpy()
    mp = midpoint_block(nf4, order_nf4, 64 * 2 + 50)
    mp[64] = F32(1.0)
    mp[128] = F32(1.0)
    c.append(("nf4_midpoints", "nf4", 64, False, mp))
    mp = midpoint_block(fp4, order_fp4, 64 * 2 + 51)
    mp[64] = F32(1.0)
    mp[128] = F32(1.0)
    c.append(("fp4_midpoints", "fp4", 64, False, mp))
    # many blocks so that the centered absmax values spread over the dynamic map
    w = blockscale(gen(10, 64 * 300 + 13, 0.02))
    c.append(("nf4_bs64_301blocks_dq", "nf4", 64, True, w, (2, 10, 0.02)))
    c.append(("fp4_bs64_301blocks_dq", "fp4", 64, True, w.copy(), (2, 10, 0.02)))
    return [t if len(t) == 6 else t + (None,) for t in c]


def run(mode):
    if mode == "default":  # make bitsandbytes' native library unloadable
        import ctypes

        real = ctypes.cdll.LoadLibrary

        def refuse(path):
            if "bitsandbytes" in str(path):
                raise OSError("native library disabled for the default-backend pass")
            return real(path)

        ctypes.cdll.LoadLibrary = refuse
    import torch

    torch.set_num_threads(1)
    import bitsandbytes
    import bitsandbytes.functional as F
    from bitsandbytes.cextension import ErrorHandlerMockBNBNativeLibrary, lib

    native = not isinstance(lib, ErrorHandlerMockBNBNativeLibrary)
    assert native == (mode == "native"), f"mode {mode} but native library loaded: {native}"
    info = f"bitsandbytes {bitsandbytes.__version__} torch {torch.__version__} cpu {torch.backends.cpu.get_cpu_capability()}"
    res = []
    for name, qt, bs, dq, x, src in cases(torch, F):
        if mode == "default" and not dq:
            continue  # identical in both passes
        A = torch.from_numpy(x.copy())
        packed, st = F.quantize_4bit(A, blocksize=bs, compress_statistics=dq, quant_type=qt)
        deq = F.dequantize_4bit(packed, st).numpy().astype(F32)
        r = dict(
            name=name + ("" if mode == "native" else "_nearest"),
            type=3 if qt == "nf4" else 4,
            bs=bs,
            dq=int(dq),
            mode=0 if mode == "native" else 1,
            x=x,
            src=src,
            packed=packed.reshape(-1).numpy().astype(np.uint8),
            code=st.code.numpy().astype(F32),
            deq=deq if (x.size <= 2100 and mode == "native") else None,
        )
        if dq:
            r["qabsmax"] = st.absmax.numpy().astype(np.uint8)
            assert st.absmax.dtype == torch.uint8
            r["nested_absmax"] = st.state2.absmax.numpy().astype(F32)
            r["offset"] = F32(st.offset.item())
            r["nested_code"] = st.state2.code.numpy().astype(F32)
            r["nblocks"] = r["qabsmax"].size
        else:
            r["absmax"] = st.absmax.numpy().astype(F32)
            r["nblocks"] = r["absmax"].size
        res.append(r)
    means = []
    if mode == "native":
        for i, n in enumerate([1, 3, 4, 7, 8, 9, 31, 33, 127, 128, 129, 511, 512, 513, 1000, 2053]):
            x = gen(100 + i, n, 1.0) * F32(0.1) + F32(0.3 + i)
            x = x.astype(F32)
            means.append((x, F32(torch.from_numpy(x).mean().item())))
    return info, res, means


def write(path, info, res, means):
    b = bytearray()
    b += b"CLFTQ4FX" + struct.pack("<III", 1, len(res), len(means))
    b += info.encode()[:119].ljust(120, b"\0")
    for r in res:
        b += r["name"].encode().ljust(32, b"\0")
        b += struct.pack("<IIIIQ", r["type"], r["bs"], r["dq"], r["mode"], r["x"].size)
        if r["src"] is None:
            b += struct.pack("<I", 0) + r["x"].astype("<f4").tobytes()
        else:
            b += struct.pack("<IQd", r["src"][0], r["src"][1], r["src"][2])
        b += r["packed"].tobytes() + r["code"].astype("<f4").tobytes()
        b += struct.pack("<Q", r["nblocks"])
        if r["dq"]:
            b += r["qabsmax"].tobytes() + struct.pack("<Q", r["nested_absmax"].size)
            b += r["nested_absmax"].astype("<f4").tobytes() + struct.pack("<f", r["offset"])
            b += r["nested_code"].astype("<f4").tobytes()
        else:
            b += r["absmax"].astype("<f4").tobytes()
        if r["deq"] is not None:
            b += struct.pack("<I", 1) + r["deq"].astype("<f4").tobytes()
        else:
            b += struct.pack("<I", 0)
    for x, m in means:
        b += struct.pack("<Q", x.size) + x.astype("<f4").tobytes() + struct.pack("<f", m)
    with open(path + ".tmp", "wb") as f:
        f.write(bytes(b))
    os.replace(path + ".tmp", path)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--child-default":
        sys.stdout.buffer.write(pickle.dumps(run("default")))
        return
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "quant", "fixtures", "bnb_q4.bin")
    info, res, means = run("native")
    child = subprocess.run([sys.executable, os.path.abspath(__file__), "--child-default"], check=True,
                           stdout=subprocess.PIPE)
    _, res2, _ = pickle.loads(child.stdout)
    write(out, info, res + res2, means)
    print(f"{out}: {len(res) + len(res2)} cases, {len(means)} means ({info})")


if __name__ == "__main__":
    main()
