#!/usr/bin/env python3
"""smollm2_logits.py - clft's logits on a real GGUF against transformers' own GGUF loading (outside CI:
needs the ref venv and the model file).

transformers loads the GGUF (AutoModelForCausalLM.from_pretrained(dir, gguf_file=...), dequantized to
fp32, eager attention) and tokenizes a ChatML prompt with the GGUF's own tokenizer; clft computes the
logits of the same ids with an f32 base through the public API (tests/interop/clft_logits, which
reads .gguf paths); the script prints max |clft - transformers| / max |transformers| per OpenCL device
and fails above 1e-4. tests/interop/gguf_reference.py can reuse run_clft() and make_fixtures'
gguf_logits() / compare_logits().

usage: ~/.cache/clft/ref-venv/bin/python tests/gguf/smollm2_logits.py --clft-logits BUILD/tests/interop/clft_logits
           [--gguf ~/.cache/clft/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf] [--devices 0,1]
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import compare_logits, gguf_logits  # noqa: E402

PROMPT = [{"role": "system", "content": "You are a helpful assistant."},
          {"role": "user", "content": "What is the capital of France? Answer in one word, then explain 2+2."}]


def chat_ids(folder, name):
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    ids = tok.apply_chat_template(PROMPT, add_generation_prompt=True, tokenize=True)
    if hasattr(ids, "keys"):  # newer transformers return a BatchEncoding
        ids = ids["input_ids"]
    return [int(i) for i in ids]


def run_clft(clft_logits, gguf, ids, vocab, device=None):
    """clft's logits (T x vocab, f32 base) for ids on OpenCL device `device` (CLFT_DEVICE)"""
    env = dict(os.environ)
    if device is not None:
        env["CLFT_DEVICE"] = str(device)
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "logits.bin")
        subprocess.run([clft_logits, gguf, "-", ",".join(str(i) for i in ids), out, "f32"], check=True, env=env)
        return np.fromfile(out, dtype=np.float32).reshape(len(ids), vocab)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--clft-logits", required=True)
    ap.add_argument("--gguf", default=os.path.expanduser("~/.cache/clft/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"))
    ap.add_argument("--devices", default="0,1")
    a = ap.parse_args()
    folder, name = os.path.dirname(os.path.abspath(a.gguf)), os.path.basename(a.gguf)
    ids = chat_ids(folder, name)
    ref = gguf_logits(folder, name, ids)
    print(f"{name}: {len(ids)} tokens, vocab {ref.shape[1]}, max |logit| {np.abs(ref).max():.4g}")
    worst = 0.0
    for dev in a.devices.split(","):
        got = run_clft(a.clft_logits, a.gguf, ids, ref.shape[1], dev)
        rel = compare_logits(got, ref)
        same_argmax = float((got.argmax(-1) == ref.argmax(-1)).mean())
        print(f"device {dev}: max |clft - transformers| / max |transformers| = {rel:.3g}, "
              f"argmax agreement {same_argmax:.3f}")
        worst = max(worst, rel)
    if worst > 1e-4:
        print("FAIL: above 1e-4")
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
