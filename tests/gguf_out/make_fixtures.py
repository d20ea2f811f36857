#!/usr/bin/env python3
"""make_fixtures.py - fixtures from PyPI's gguf package (gguf-py) for clft's GGUF writer tests
(tests/gguf_out/test_gguf_write.c).

Writes, with gguf-py's GGUFWriter, the files the C test writes with clft's writer from the same
content, so that the test can compare them byte for byte:
  writer_ref.gguf      every metadata value type (u8 .. f64, bool, string), arrays of numbers, bools and
                       strings (with an empty string and UTF-8), tensors F32 (1-d .. 4-d), F16, BF16,
                       Q8_0, Q4_0, Q4_1 (quantized by gguf.quants), default alignment 32
  writer_ref_a64.gguf  general.alignment 64 (add_custom_alignment), two tensors
Tensor values are v(i, k) = ((i * 7 + k * 3) % 23 - 11) / 8 for element i of tensor k (exact in
f16/bf16), so the C test computes the same numbers.

With --check FILE ... it reads clft-written GGUF files with GGUFReader and prints their metadata and
tensors (a local check that the package reads what clft writes; the committed byte comparison covers
it in CI).

usage: ~/.cache/clft/ref-venv/bin/python tests/gguf_out/make_fixtures.py [--out tests/gguf_out/data]
           [--check FILE ...]
"""
import argparse
import os

import numpy as np
import gguf
from gguf import GGUFWriter, GGUFValueType as VT, GGMLQuantizationType as QT


def values(n, k):
    i = np.arange(n, dtype=np.int64)
    return (((i * 7 + k * 3) % 23) - 11).astype(np.float32) / 8.0


# (name, ggml type, torch-order shape)
TENSORS = [
    ("t.f32_1d", QT.F32, (5,)),
    ("t.f32_2d", QT.F32, (3, 4)),
    ("t.f32_3d", QT.F32, (2, 3, 2)),
    ("t.f32_4d", QT.F32, (2, 1, 2, 3)),
    ("t.f16", QT.F16, (3, 7)),
    ("t.bf16", QT.BF16, (2, 5)),
    ("t.q8_0", QT.Q8_0, (3, 64)),
    ("t.q4_0", QT.Q4_0, (2, 32)),
    ("t.q4_1", QT.Q4_1, (2, 96)),
]


def tensor_array(k, qt, shape):
    x = values(int(np.prod(shape)), k).reshape(shape)
    if qt == QT.F32:
        return x, None
    if qt == QT.F16:
        return x.astype(np.float16), None
    return gguf.quants.quantize(x, qt), qt


def write_ref(path, alignment=None, tensors=TENSORS, full_meta=True):
    w = GGUFWriter(path, "llama")
    if alignment:
        w.add_custom_alignment(alignment)
    if full_meta:
        w.add_key_value("v.u8", 200, VT.UINT8)
        w.add_key_value("v.i8", -100, VT.INT8)
        w.add_key_value("v.u16", 60000, VT.UINT16)
        w.add_key_value("v.i16", -30000, VT.INT16)
        w.add_key_value("v.u32", 4000000000, VT.UINT32)
        w.add_key_value("v.i32", -2000000000, VT.INT32)
        w.add_key_value("v.f32", 0.1, VT.FLOAT32)
        w.add_key_value("v.bool", True, VT.BOOL)
        w.add_key_value("v.str", "h\u00e9llo \u4e16\u754c", VT.STRING)
        w.add_key_value("v.u64", 18000000000000000000, VT.UINT64)
        w.add_key_value("v.i64", -9000000000000000000, VT.INT64)
        w.add_key_value("v.f64", -2.5e-300, VT.FLOAT64)
        w.add_key_value("a.i32", [1, -2, 3], VT.ARRAY, VT.INT32)
        w.add_key_value("a.f32", [0.5, -1.25], VT.ARRAY, VT.FLOAT32)
        w.add_key_value("a.u8", [0, 255, 7], VT.ARRAY, VT.UINT8)
        w.add_key_value("a.bool", [True, False, True], VT.ARRAY, VT.BOOL)
        w.add_key_value("a.str", ["a", "", "\u0120the", "<|im_end|>"], VT.ARRAY, VT.STRING)
        w.add_key_value("a.u64", [1, 2**63], VT.ARRAY, VT.UINT64)
    else:
        w.add_key_value("v.str", "x", VT.STRING)
    for k, (name, qt, shape) in enumerate(tensors):
        arr, raw = tensor_array(k, qt, shape)
        if qt == QT.BF16:  # gguf-py writes bf16 as raw uint16
            u = values(int(np.prod(shape)), k).reshape(shape).view(np.uint32)
            arr = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
            w.add_tensor(name, arr, raw_shape=shape, raw_dtype=QT.BF16)
        elif raw is not None:
            w.add_tensor(name, arr, raw_dtype=raw)
        else:
            w.add_tensor(name, arr)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def dump(path):
    r = gguf.GGUFReader(path)
    print(f"== {path}: alignment {r.alignment}, {len(r.fields)} fields, {len(r.tensors)} tensors")
    for f in r.fields.values():
        if f.name.startswith("GGUF."):
            continue
        t = f.types
        try:
            v = f.contents()
        except Exception:  # older gguf-py
            v = "?"
        if isinstance(v, list) and len(v) > 8:
            v = f"[{len(v)} values: {v[:4]} ...]"
        elif isinstance(v, str) and len(v) > 120:
            v = v[:120] + "..."
        print(f"  {f.name} {[x.name for x in t]} = {v}")
    for t in r.tensors:
        print(f"  tensor {t.name} {t.tensor_type.name} ne={list(map(int, t.shape))} offset={t.data_offset}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "data"))
    ap.add_argument("--check", nargs="*")
    a = ap.parse_args()
    if a.check:
        for p in a.check:
            dump(p)
        return
    os.makedirs(a.out, exist_ok=True)
    write_ref(os.path.join(a.out, "writer_ref.gguf"))
    write_ref(os.path.join(a.out, "writer_ref_a64.gguf"), alignment=64, tensors=TENSORS[1:3], full_meta=False)
    for p in ("writer_ref.gguf", "writer_ref_a64.gguf"):
        dump(os.path.join(a.out, p))
    print("gguf", gguf.__version__ if hasattr(gguf, "__version__") else "?", "numpy", np.__version__)


if __name__ == "__main__":
    main()
