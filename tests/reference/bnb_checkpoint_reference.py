#!/usr/bin/env python3
"""Reference for `clft quantize`: what bitsandbytes itself saves for the same weights.

Reads a model folder written by `clft init --preset tiny --seed 1 --dtype bf16` (and the same with
--dtype f32), quantizes every decoder projection with bitsandbytes' own quantize_4bit (CPU, NF4,
blocksize 64, double quantization: what Linear4bit / Params4bit do with compress_statistics=True)
and writes, per weight, exactly the tensors Linear4bit._save_to_state_dict saves (weight and the
QuantState.as_dict(packed=True) items under "weight."). The C test (tests/io/test_quantize.c)
compares `clft quantize` output with these files byte for byte, so CI needs no PyPI.

    python3 -m venv /tmp/bnbvenv && /tmp/bnbvenv/bin/pip install bitsandbytes torch safetensors numpy
    build/tools/clft/clft init --preset tiny --seed 1 --dtype bf16 --out /tmp/tiny-bf16
    build/tools/clft/clft init --preset tiny --seed 1 --dtype f32 --out /tmp/tiny-f32
    /tmp/bnbvenv/bin/python tests/reference/bnb_checkpoint_reference.py /tmp/tiny-bf16 tests/io/data/bnb_tiny_bf16_nf4.safetensors
    /tmp/bnbvenv/bin/python tests/reference/bnb_checkpoint_reference.py /tmp/tiny-f32 tests/io/data/bnb_tiny_f32_nf4.safetensors
"""
import os
import sys

import bitsandbytes
import bitsandbytes.functional as F
import torch
from safetensors.torch import load_file, save_file

PROJ = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def main(src, out):
    torch.set_num_threads(1)
    weights = load_file(os.path.join(src, "model.safetensors"))
    result = {}
    for name in sorted(weights):
        if not any(name.endswith(p + ".weight") for p in PROJ):
            continue
        w = weights[name]
        packed, state = F.quantize_4bit(w, blocksize=64, compress_statistics=True, quant_type="nf4",
                                        quant_storage=torch.uint8)
        result[name] = packed.contiguous()
        for k, v in state.as_dict(packed=True).items():
            result[name + "." + k] = v.contiguous()
    save_file(result, out, metadata={"bitsandbytes": bitsandbytes.__version__, "torch": torch.__version__})
    print(f"{out}: {len(result)} tensors from {src}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
