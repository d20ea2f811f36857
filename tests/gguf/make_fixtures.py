#!/usr/bin/env python3
"""make_fixtures.py - fixtures from PyPI's gguf package (gguf-py, llama.cpp's own Python reader and
writer) for clft's GGUF tests, so that CI checks against it without PyPI.

  data/ggml_blocks.safetensors  for tests/gguf/test_ggml_blocks.c:
      deq.<TYPE>.src   U8   random blocks of every type clft reads (the fp16 scales drawn over
                            their whole finite range: largest, subnormal, zero, negative), F16/BF16
                            data with infinities and NaNs
      deq.<TYPE>.out   F32  gguf.quants.dequantize of them
      q.<TYPE>.src     F32  blocks to quantize (normal and uniform at scales 1e-30..1e30, all-zero,
                            constant, negative-only, ties of |x|, values on rounding midpoints)
      q.<TYPE>.out     U8   gguf.quants.quantize of them (Q8_0, Q4_0, Q4_1, F16, BF16)

usage: ~/.cache/clft/ref-venv/bin/python tests/gguf/make_fixtures.py [--out tests/gguf/data]
"""
import argparse
import importlib.metadata
import json
import os

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T
from gguf.quants import dequantize, quantize
from safetensors.numpy import save_file

# where the fp16 scales of each block type sit (byte offsets inside a block)
F16_FIELDS = {
    T.Q4_0: [0], T.Q4_1: [0, 2], T.Q5_0: [0], T.Q5_1: [0, 2], T.Q8_0: [0],
    T.Q2_K: [80, 82], T.Q3_K: [108], T.Q4_K: [0, 2], T.Q5_K: [0, 2], T.Q6_K: [208],
}
EXTREME_F16 = [0x7BFF, 0xFBFF, 0x0001, 0x8001, 0x0000, 0x8000, 0x0400, 0x03FF, 0x3C00, 0x1000]


def f16_finite(bits):
    return (bits & 0x7C00) != 0x7C00


def random_blocks(rng, qtype, nblocks):
    _, tsize = gguf.GGML_QUANT_SIZES[qtype]
    raw = rng.integers(0, 256, size=(nblocks, tsize), dtype=np.uint8)
    for off in F16_FIELDS[qtype]:
        for b in range(nblocks):
            if b < len(EXTREME_F16):
                v = EXTREME_F16[(b + off) % len(EXTREME_F16)]
            else:
                v = int(raw[b, off]) | (int(raw[b, off + 1]) << 8)
                while not f16_finite(v):
                    v = int(rng.integers(0, 65536))
            raw[b, off] = v & 0xFF
            raw[b, off + 1] = v >> 8
    return raw


def quant_inputs(rng, nblocks):
    blocks = []
    for scale in (1e-30, 1e-6, 1e-3, 1.0, 7.5, 1e3, 1e6, 1e30):
        blocks.append(rng.standard_normal(32) * scale)
        blocks.append(rng.uniform(-scale, scale, 32))
    blocks.append(np.zeros(32))
    blocks.append(np.full(32, 0.3))
    blocks.append(np.full(32, -2.5))
    blocks.append(-np.abs(rng.standard_normal(32)))
    b = rng.standard_normal(32); b[3] = 4.0; b[20] = -4.0; blocks.append(b)  # |max| tie: first wins
    b = rng.standard_normal(32); b[3] = -4.0; b[20] = 4.0; blocks.append(b)
    # values on rounding midpoints of Q8_0 (k + 0.5) * d with d = 1
    b = np.arange(32) - 15.5; b[0] = 127.0; blocks.append(b)
    b = (np.arange(32) % 16) * 0.5 - 4.0; blocks.append(b)                   # Q4_0 / Q4_1 half steps
    b = np.linspace(-1.0, 1.0, 32); blocks.append(b)
    while len(blocks) < nblocks:
        blocks.append(rng.standard_normal(32) * 10.0 ** rng.uniform(-8, 8))
    return np.concatenate(blocks).astype(np.float32)


def ggml_blocks(out):
    rng = np.random.default_rng(20240610)
    t = {}
    for qtype in F16_FIELDS:
        bsize, _ = gguf.GGML_QUANT_SIZES[qtype]
        nblocks = 48 if bsize == 32 else 10
        raw = random_blocks(rng, qtype, nblocks)
        t[f"deq.{qtype.name}.src"] = raw.reshape(-1)
        t[f"deq.{qtype.name}.out"] = dequantize(raw.reshape(-1), qtype).astype(np.float32).reshape(-1)
    # plain types: random bit patterns (F16/BF16 with inf and NaN), F32 as a copy
    for qtype, n in ((T.F32, 256), (T.F16, 1024), (T.BF16, 1024)):
        raw = rng.integers(0, 256, size=n * (4 if qtype == T.F32 else 2), dtype=np.uint8)
        raw[:8] = [0x00, 0x7C, 0x00, 0xFC, 0x01, 0x7C, 0xFF, 0x7F][: 8]
        if qtype == T.F32:
            deq = raw.view(np.float32).copy()
        elif qtype == T.F16:
            deq = dequantize(raw.view(np.float16), qtype)
        else:
            deq = dequantize(raw, qtype)
        t[f"deq.{qtype.name}.src"] = raw
        t[f"deq.{qtype.name}.out"] = np.asarray(deq, dtype=np.float32).reshape(-1)
    x = quant_inputs(rng, 40)
    for qtype in (T.Q8_0, T.Q4_0, T.Q4_1, T.F16, T.BF16):
        with np.errstate(over="ignore"):  # scales of 1e30 blocks overflow fp16 to inf, as in ggml
            q = quantize(x.reshape(-1, 32), qtype)
        t[f"q.{qtype.name}.src"] = x
        t[f"q.{qtype.name}.out"] = np.ascontiguousarray(q).view(np.uint8).reshape(-1)
    save_file({k: np.ascontiguousarray(v) for k, v in t.items()}, os.path.join(out, "ggml_blocks.safetensors"),
              metadata={"gguf_version": importlib.metadata.version("gguf"),
                        "numpy_version": np.__version__})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "data"))
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    ggml_blocks(a.out)
    print("wrote", a.out)


if __name__ == "__main__":
    main()
