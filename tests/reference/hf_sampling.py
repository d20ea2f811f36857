#!/usr/bin/env python3
"""Reference for clft_sample: the scores that transformers' own logits processors give, in the
order generate() builds them (GenerationMixin._get_logits_processor of a tiny Llama, so the list
and its order are transformers' own), for seeded random logits of several vocabulary sizes (with
deliberate ties, some -inf), histories with repeated ids and parameter combinations. Writes JSON
that tests/generate/test_sample.c compares clft_sample's processed logits with (CI needs no PyPI).

    ~/.cache/clft/ref-venv/bin/python tests/reference/hf_sampling.py tests/generate/data/hf_sampling.json

Cases whose mask depends on what torch leaves open are regenerated with another seed: a top-p
boundary inside a group of equal scores (torch.sort is not stable for rows of 100 and more, so
transformers' choice is arbitrary there) or within float rounding of the threshold (the mask in
float64 differs). "-inf" is written as null.
"""
import json
import sys

import numpy as np
import torch
import transformers
from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

# (temperature, top_k, top_p, min_p, repetition_penalty); temperature 0 = greedy (do_sample False)
PARAMS = [
    (1.0, 0, 1.0, 0.0, 1.0),
    (0.7, 0, 1.0, 0.0, 1.0),
    (1.0, 5, 1.0, 0.0, 1.0),
    (1.0, 0, 0.9, 0.0, 1.0),
    (1.0, 0, 1.0, 0.1, 1.0),
    (1.0, 0, 1.0, 0.0, 1.3),
    (0.8, 40, 0.95, 0.05, 1.0),
    (0.6, 20, 0.8, 0.02, 1.2),
    (1.5, 0, 0.5, 0.2, 0.8),
    (1.3, 3, 0.3, 0.0, 1.1),
    (0.0, 0, 1.0, 0.0, 1.3),
    (0.0, 40, 0.9, 0.05, 1.0),
]
VOCABS = [1, 2, 7, 131, 131, 1000, 1000]


def f32(x):
    return float(np.float32(x))


def processors(model, t, k, p, mp, pen):
    greedy = t == 0.0
    gc = GenerationConfig(do_sample=not greedy, temperature=1.0 if greedy else f32(t), top_k=k, top_p=f32(p),
                          min_p=f32(mp) if mp > 0 else None, repetition_penalty=f32(pen))
    return model._get_logits_processor(generation_config=gc, input_ids_seq_length=1, encoder_input_ids=None,
                                       prefix_allowed_tokens_fn=None, logits_processor=None, device="cpu",
                                       model_kwargs={})


def make_logits(rng, v):
    x = (rng.standard_normal(v) * rng.uniform(0.5, 4.0)).astype(np.float32)
    x = np.round(x, 4).astype(np.float32)  # short decimals keep the file small
    if v >= 7:
        order = np.argsort(-x, kind="stable")
        for r in (r for r in (2, 4, 5, 19, 39) if r + 1 < v):  # ties where top-k cuts (k = 3, 5, 20, 40)
            x[order[r + 1]] = x[order[r]]
        for _ in range(v // 20):  # more equal pairs anywhere
            a, b = rng.integers(0, v, 2)
            x[b] = x[a]
        for i in rng.integers(0, v, max(1, v // 50)):  # a few -inf
            if i != order[0]:
                x[i] = -np.inf
    return x


def run(lp, hist, x, perm=None, dtype=torch.float32):
    s = torch.tensor(x, dtype=dtype)[None, :]
    ids = torch.tensor(hist, dtype=torch.long)[None, :]
    if perm is not None:  # the same row with the tokens renamed: order-dependent choices show up
        inv = np.argsort(perm)
        s = s[:, torch.tensor(perm)]
        ids = torch.tensor(inv[hist] if len(hist) else np.zeros(0, dtype=np.int64), dtype=torch.long)[None, :]
    out = lp(ids, s.clone())
    if perm is not None:
        out = out[:, torch.tensor(np.argsort(perm))]
    return out[0]


def enc(a):
    return [None if v == -np.inf else float(f"{v:.9g}") for v in a.tolist()]


def main(path):
    cfg = LlamaConfig(vocab_size=1000, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                      num_attention_heads=2, num_key_value_heads=2)
    model = LlamaForCausalLM(cfg)
    res = {"transformers": transformers.__version__, "torch": torch.__version__, "sets": [], "cases": []}
    regenerated = 0
    for si, v in enumerate(VOCABS):
        seed = 1000 + si
        while True:
            rng = np.random.default_rng(seed)
            x = make_logits(rng, v)
            hist = rng.integers(0, v, int(rng.integers(0, 30))).astype(np.int64)
            if len(hist) > 3:
                hist[-1] = hist[0]  # repeated ids count once
            cases, ok = [], True
            for (t, k, p, mp, pen) in PARAMS:
                lp = processors(model, t, k, p, mp, pen)
                out = run(lp, hist, x)
                mask = torch.isinf(out) & (out < 0)
                perm = rng.permutation(v)
                alt = run(lp, hist, x, perm)
                d64 = run(lp, hist, x, None, torch.float64)
                if not torch.equal(mask, torch.isinf(alt) & (alt < 0)) or \
                        not torch.equal(mask, torch.isinf(d64) & (d64 < 0)):
                    ok = False
                    break
                c = dict(set=si, temperature=t, top_k=k, top_p=f32(p), min_p=f32(mp), repetition_penalty=f32(pen),
                         processors=[type(q).__name__ for q in lp], scores=enc(out.numpy()))
                if t == 0.0:
                    c["argmax"] = int(torch.argmax(out))
                cases.append(c)
            if ok:
                break
            seed += 100
            regenerated += 1
        res["sets"].append(dict(vocab=v, seed=seed, logits=enc(x), history=hist.tolist()))
        res["cases"] += cases
    with open(path, "w") as f:
        json.dump(res, f, separators=(",", ":"))
        f.write("\n")
    print(f"{path}: {len(res['sets'])} logit rows, {len(res['cases'])} cases ({regenerated} rows regenerated)")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "hf_sampling.json")
