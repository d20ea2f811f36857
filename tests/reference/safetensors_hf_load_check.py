#!/usr/bin/env python3
"""safetensors_hf_load_check.py - manual cross-check (not run by ctest: CI has no transformers) that a
folder written by `clft init` loads in Hugging Face transformers with no missing or unexpected
weights, that the tokenizer and chat template work, that a forward pass runs, and that transformers
re-saves config.json and generation_config.json byte for byte as clft wrote them (up to the keys it
adds at load time and its version string).

Usage: python3 tests/reference/safetensors_hf_load_check.py MODEL_DIR
(needs torch, transformers, safetensors, jinja2; checked with transformers 4.46.3 and torch 1.13)
"""
import json
import os
import sys
import tempfile

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer


def main():
    d = sys.argv[1]
    model, info = AutoModelForCausalLM.from_pretrained(d, output_loading_info=True)
    bad = {k: v for k, v in info.items() if v}
    print(type(model).__name__, sum(p.numel() for p in model.parameters()), "parameters")
    ok = not bad
    if bad:
        print("loading problems:", bad)
    tok = AutoTokenizer.from_pretrained(d)
    ids = tok("Hello world", return_tensors="pt").input_ids
    print("ids", ids.tolist(), "->", repr(tok.decode(ids[0])))
    with torch.no_grad():
        logits = model(ids).logits
    print("logits", tuple(logits.shape), "finite", bool(torch.isfinite(logits).all()))
    ok &= bool(torch.isfinite(logits).all())
    if tok.chat_template:
        msgs = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]
        print("chat:", repr(tok.apply_chat_template(msgs, tokenize=False)))
    with tempfile.TemporaryDirectory() as out:
        model.config.save_pretrained(out)
        model.generation_config.save_pretrained(out)
        for name in ["config.json", "generation_config.json"]:
            theirs = json.load(open(os.path.join(out, name)))
            for k in ["_attn_implementation_autoset", "_name_or_path", "transformers_version"]:
                theirs.pop(k, None)
            mine = json.load(open(os.path.join(d, name)))
            mine.pop("transformers_version", None)
            same = theirs == mine
            print(name, "matches transformers' own save" if same else "DIFFERS: %s" % theirs)
            ok &= same
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
