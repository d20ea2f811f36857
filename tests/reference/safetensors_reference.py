#!/usr/bin/env python3
"""safetensors_reference.py - writes the small .safetensors fixtures of tests/io/data with the Python
safetensors library, so that tests/io/test_safetensors.c can check that clft's writer produces the
same bytes (header order, padding, offsets) and that its reader accepts them.

Usage (needs `pip install safetensors numpy`, e.g. in a venv under /tmp):
    python3 tests/reference/safetensors_reference.py tests/io/data
Values follow a formula the C test repeats: tensor k (position in the list below), element i:
    signed ints and floats: ((i + k) % 7) - 2   (floats times 0.5)
    unsigned ints: (i + k) % 7 ; bool: (i + k) % 2 == 0
"""
import json
import os
import sys

import numpy as np
from safetensors.numpy import save_file

# (name, numpy dtype, shape) - C mirrors this list in test_safetensors.c (MIXED)
MIXED = [
    ("b.f32", "float32", (2, 3)),
    ("a.f32", "float32", (4,)),
    ("z.f16", "float16", (3, 2)),
    ("i64", "int64", (2,)),
    ("i32", "int32", (3,)),
    ("u8", "uint8", (5,)),
    ("i8", "int8", (2, 2)),
    ("f64", "float64", (1,)),
    ("flag", "bool", (3,)),
    ("i16", "int16", (2,)),
    ("u16", "uint16", (2,)),
    ("u32", "uint32", (1,)),
    ("u64", "uint64", (1,)),
    ("scalar", "float32", ()),
    ("empty", "float32", (0, 3)),
]

# float32 tensors with names that need escaping or sort bytewise (C: NAMES)
NAMES = [
    ("model.layers.10.w", "float32", (2,)),
    ("model.layers.2.w", "float32", (3,)),
    ("\u00e9t\u00e9", "float32", (1,)),
    ('quote"name', "float32", (1,)),
    ("tab\tname", "float32", (2,)),
]


def values(k, dtype, shape):
    n = int(np.prod(shape)) if len(shape) else 1
    i = np.arange(n, dtype=np.int64)
    if dtype == "bool":
        v = (i + k) % 2 == 0
    elif dtype.startswith("uint"):
        v = (i + k) % 7
    elif dtype.startswith("float"):
        v = (((i + k) % 7) - 2) * 0.5
    else:
        v = ((i + k) % 7) - 2
    return np.asarray(v).astype(dtype).reshape(shape)


def build(spec):
    return {name: values(k, dt, shape) for k, (name, dt, shape) in enumerate(spec)}


def hf_split(sizes, max_shard):
    """huggingface_hub split_state_dict_into_shards_factory, on (name, bytes) in order."""
    shards, cur, cur_size = [], [], 0
    for name, size in sizes:
        if size > max_shard:
            shards.append([name])
            continue
        if cur_size + size > max_shard:
            shards.append(cur)
            cur, cur_size = [], 0
        cur.append(name)
        cur_size += size
    if cur:
        shards.append(cur)
    return shards


def write_sharded(sdir, spec, max_shard):
    tensors = build(spec)
    sizes = [(name, tensors[name].nbytes) for name, _, _ in spec]
    shards = hf_split(sizes, max_shard)
    os.makedirs(sdir, exist_ok=True)
    weight_map = {}
    for k, names in enumerate(shards):
        fname = "model-%05d-of-%05d.safetensors" % (k + 1, len(shards))
        save_file({n: tensors[n] for n in names}, os.path.join(sdir, fname), metadata={"format": "pt"})
        for n in names:
            weight_map[n] = fname
    index = {"metadata": {"total_size": sum(s for _, s in sizes)}, "weight_map": weight_map}
    with open(os.path.join(sdir, "model.safetensors.index.json"), "w") as f:
        f.write(json.dumps(index, indent=2, sort_keys=True) + "\n")


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/io/data"
    os.makedirs(out, exist_ok=True)
    save_file(build(MIXED), os.path.join(out, "ref_mixed.safetensors"), metadata={"format": "pt"})
    save_file(build(NAMES), os.path.join(out, "ref_names.safetensors"))
    # sharded: the MIXED tensors split at 40 bytes, the NAMES ones at 8 (index keys that need
    # escaping), shards written as transformers does
    write_sharded(os.path.join(out, "ref_sharded"), MIXED, 40)
    write_sharded(os.path.join(out, "ref_sharded_names"), NAMES, 8)
    for name in ["ref_mixed.safetensors", "ref_names.safetensors"]:
        with open(os.path.join(out, name), "rb") as f:
            n = int.from_bytes(f.read(8), "little")
            print(name, f.read(n).decode())


if __name__ == "__main__":
    main()
