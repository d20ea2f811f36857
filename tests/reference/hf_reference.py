#!/usr/bin/env python3
"""Reference suite: clft's loss, logits and gradients against Hugging Face transformers + PEFT +
bitsandbytes (PyPI, CPU, fp32, eager attention) over a matrix of tiny models.

For every case of CASES (Llama / Mistral / Qwen2, tied and untied, GQA ratios 1/2/3/5, hidden and
intermediate sizes that are not multiples of 64 nor of the GEMM tiles, llama3 and linear RoPE
scaling, Mistral's sliding window) and method (full fine-tuning; LoRA on an f32, f16 or bf16 base;
QLoRA with NF4 or FP4, blocksize 64 or 128, double quantization on or off) this script

  * builds the model with transformers' own classes (LlamaForCausalLM, ...), eager attention, f32;
  * sets every weight from clft's deterministic test generator (hf_weight below; the C test,
    tests/golden/test_hf_reference.c, computes the very same floats, so the fixtures hold no weights);
  * LoRA: wraps it with PEFT (get_peft_model, r, lora_alpha, all seven projections, dropout 0) and
    sets A and B (B non-zero) from the same generator. An f16/bf16 base is the f32 weight rounded
    to that dtype (nearest even) and computed in f32, as clft stores it and computes;
  * QLoRA: replaces the seven projections of every layer with bitsandbytes' Linear4bit
    (Params4bit with the case's quant_type, blocksize, compress_statistics = double quant;
    compute dtype f32) before PEFT wraps them, so quantization, dequantization and the 4-bit
    matmul's autograd are bitsandbytes' own;
  * runs the causal-LM forward with labels (first third of every row -100), backward, and writes
    tests/golden/hf/<case>.safetensors: input_ids, labels, logits, loss, the gradient of every
    trainable tensor (every weight for full fine-tuning, every lora_A / lora_B for adapters, in
    PEFT's saved names), for QLoRA the bitsandbytes-dequantized weight of two projections, and the
    case description as JSON in the metadata (key "case"), which the C test reads.

    python3 -m venv /tmp/refvenv && /tmp/refvenv/bin/pip install torch transformers peft bitsandbytes safetensors
    /tmp/refvenv/bin/python tests/reference/hf_reference.py tests/golden/hf        # all cases
    /tmp/refvenv/bin/python tests/reference/hf_reference.py tests/golden/hf CASE   # one case

tools/reference.sh makes the venv and runs this (CI runs it when a cached venv exists).
"""
import json
import os
import sys

import numpy as np
import torch

torch.set_num_threads(min(4, os.cpu_count() or 1))
torch.use_deterministic_algorithms(True)

PROJ = [("self_attn", "q_proj"), ("self_attn", "k_proj"), ("self_attn", "v_proj"), ("self_attn", "o_proj"),
        ("mlp", "gate_proj"), ("mlp", "up_proj"), ("mlp", "down_proj")]

# ---- model shapes --------------------------------------------------------------------------------
# heads/kv give GQA ratios 3, 1, 2, 2, 2, 5; no size is a multiple of 64 or of the CPU/GPU tiles.
# pad: pad_token_id (nn.Embedding padding_idx: that row gets no gradient from the lookup); the ids
# of those models hold it twice, in positions that count in the loss.
MODELS = {
    "llama_a": dict(arch="llama", vocab=131, hidden=96, inter=160, layers=2, heads=6, kv=2, tied=False,
                    rope=None, window=0, bias=False, eps=1e-5, theta=10000.0, pad=None),
    "llama_b": dict(arch="llama", vocab=131, hidden=80, inter=136, layers=2, heads=5, kv=5, tied=True,
                    rope=dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0,
                              original_max_position_embeddings=8), window=0, bias=False, eps=1e-5,
                    theta=500000.0, pad=11),
    "mistral_c": dict(arch="mistral", vocab=131, hidden=72, inter=200, layers=2, heads=6, kv=3, tied=False,
                      rope=dict(rope_type="linear", factor=2.0), window=7, bias=False, eps=1e-5,
                      theta=10000.0, pad=None),
    "mistral_d": dict(arch="mistral", vocab=131, hidden=96, inter=160, layers=2, heads=4, kv=2, tied=True,
                      rope=dict(rope_type="llama3", factor=4.0, low_freq_factor=1.0, high_freq_factor=4.0,
                                original_max_position_embeddings=6), window=5, bias=False, eps=1e-6,
                      theta=10000.0, pad=None),
    "qwen2_e": dict(arch="qwen2", vocab=131, hidden=96, inter=136, layers=2, heads=6, kv=3, tied=True,
                    rope=None, window=0, bias=True, eps=1e-6, theta=1000000.0, pad=7),
    "qwen2_f": dict(arch="qwen2", vocab=131, hidden=80, inter=160, layers=2, heads=5, kv=1, tied=False,
                    rope=dict(rope_type="linear", factor=3.0), window=0, bias=True, eps=1e-6, theta=10000.0,
                    pad=9),
}

# ---- the matrix ------------------------------------------------------------------------------------
# (model, method, base dtype / 4-bit type, blocksize, double quant)
CASES = []
for m in MODELS:
    CASES.append((m, "full", "f32", 0, 0))
    CASES.append((m, "lora", "f32", 0, 0))
CASES += [
    ("llama_a", "lora", "f16", 0, 0), ("qwen2_e", "lora", "f16", 0, 0),
    ("llama_b", "lora", "bf16", 0, 0), ("mistral_c", "lora", "bf16", 0, 0),
    ("llama_a", "qlora", "nf4", 64, 1), ("qwen2_e", "qlora", "nf4", 64, 1),
    ("llama_b", "qlora", "nf4", 128, 1), ("mistral_d", "qlora", "nf4", 128, 1),
    ("mistral_c", "qlora", "nf4", 64, 0), ("qwen2_f", "qlora", "nf4", 128, 0),
    ("llama_a", "qlora", "fp4", 64, 1), ("mistral_c", "qlora", "fp4", 128, 1),
    ("qwen2_e", "qlora", "fp4", 64, 0), ("llama_b", "qlora", "fp4", 128, 0),
]
B, T, R, ALPHA = 2, 11, 4, 8.0


def case_name(c):
    m, method, dt, bs, dq = c
    if method == "qlora":
        return f"{m}_qlora_{dt}_bs{bs}_{'dq' if dq else 'nodq'}"
    if method == "lora":
        return f"{m}_lora_{dt}"
    return f"{m}_full"


# ---- clft's deterministic test generator (tests/golden/hf_gen.h is its C twin) ---------------------
M64 = (1 << 64) - 1


def fnv1a(s):
    h = 0xcbf29ce484222325
    for b in s.encode():
        h = ((h ^ b) * 0x100000001b3) & M64
    return h


def splitmix(x):
    """splitmix64 finalizer of a uint64 numpy array (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        z = x + np.uint64(0x9e3779b97f4a7c15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xbf58476d1ce4e5b9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94d049bb133111eb)
        return z ^ (z >> np.uint64(31))


def hf_uniform(name, n, seed):
    """n values in [-1, 1): (k - 2^23) / 2^23 with k the top 24 bits of splitmix64(h + i); exact in f32."""
    h = np.uint64((fnv1a(name) ^ ((seed * 0x9e3779b97f4a7c15) & M64)) & M64)
    with np.errstate(over="ignore"):
        idx = h + np.arange(n, dtype=np.uint64) * np.uint64(0xd1b54a32d192ed03)
    k = (splitmix(idx) >> np.uint64(40)).astype(np.float64)
    return (k - 8388608.0) / 8388608.0


def hf_weight(name, shape, seed):
    """The value of a tensor by its HF name: norms 1 + u/8, biases u/16, embeddings/projections u/16,
    LoRA A u/8, LoRA B u/16 (all computed exactly in double, then rounded once to f32)."""
    n = int(np.prod(shape))
    u = hf_uniform(name, n, seed)
    if name.endswith("norm.weight"):
        v = 1.0 + u / 8.0
    elif "lora_A" in name:
        v = u / 8.0
    else:
        v = u / 16.0
    return torch.from_numpy(v.astype(np.float32).reshape(shape))


def hf_ids(name, n, vocab, seed):
    u = hf_uniform(name, n, seed)
    return ((u + 1.0) * 0.5 * vocab).astype(np.int64).clip(0, vocab - 1)


# ---- models ----------------------------------------------------------------------------------------
def make_config(md):
    import transformers
    rope = {"rope_type": "default", "rope_theta": md["theta"]}
    if md["rope"]:
        rope = dict(md["rope"], rope_theta=md["theta"])
    common = dict(vocab_size=md["vocab"], hidden_size=md["hidden"], intermediate_size=md["inter"],
                  num_hidden_layers=md["layers"], num_attention_heads=md["heads"],
                  num_key_value_heads=md["kv"], rms_norm_eps=md["eps"], rope_parameters=rope,
                  tie_word_embeddings=md["tied"], max_position_embeddings=64, attention_dropout=0.0,
                  bos_token_id=1, eos_token_id=2, pad_token_id=md["pad"])
    if md["arch"] == "llama":
        return transformers.LlamaConfig(attention_bias=md["bias"], mlp_bias=False, **common)
    if md["arch"] == "mistral":
        return transformers.MistralConfig(sliding_window=md["window"] or None, **common)
    return transformers.Qwen2Config(use_sliding_window=False, **common)


def round_to(x, dt):
    if dt == "f16":
        return x.to(torch.float16).to(torch.float32)
    if dt == "bf16":
        return x.to(torch.bfloat16).to(torch.float32)
    return x


def build(c, seed):
    import transformers
    mname, method, dt, bs, dq = c
    md = MODELS[mname]
    cfg = make_config(md)
    cfg._attn_implementation = "eager"
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(cfg, attn_implementation="eager",
                                                          dtype=torch.float32)
    sd = {}
    for name, p in model.state_dict().items():
        if md["tied"] and name == "lm_head.weight":
            continue
        w = hf_weight(name, tuple(p.shape), seed)
        if method == "lora" and any(name.endswith(f"{t}.weight") for _, t in PROJ):
            w = round_to(w, dt)
        sd[name] = w
    missing, unexpected = model.load_state_dict(sd, strict=False)
    assert not unexpected and all(k == "lm_head.weight" for k in missing), (missing, unexpected)
    if md["tied"]:
        model.tie_weights()
        assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
    dequant = {}
    if method == "qlora":
        import bitsandbytes as bnb
        import bitsandbytes.functional as F
        from bnb_cpu import use_generic_cpu_dequant
        use_generic_cpu_dequant()  # the same results on every CPU (bnb_cpu.py)
        for li, layer in enumerate(model.model.layers):
            for blk, t in PROJ:
                parent = getattr(layer, blk)
                lin = getattr(parent, t)
                q = bnb.nn.Linear4bit(lin.in_features, lin.out_features, bias=lin.bias is not None,
                                      compute_dtype=torch.float32, compress_statistics=bool(dq), quant_type=dt,
                                      quant_storage=torch.uint8)
                q.weight = bnb.nn.Params4bit(lin.weight.data.clone(), requires_grad=False, blocksize=bs,
                                             compress_statistics=bool(dq), quant_type=dt, quant_storage=torch.uint8)
                if lin.bias is not None:
                    q.bias = torch.nn.Parameter(lin.bias.data.clone())
                q = q.to("cpu")  # quantizes
                q.support_avx512bf16_for_cpu = False  # the generic forward (bnb_cpu.py)
                assert q.weight.quant_state.blocksize == bs and q.weight.quant_state.quant_type == dt
                assert bool(q.weight.quant_state.nested) == bool(dq)
                setattr(parent, t, q)
                if li == 0 and t in ("q_proj", "down_proj"):
                    dequant[f"dequant.model.layers.0.{blk}.{t}.weight"] = F.dequantize_4bit(
                        q.weight.data, q.weight.quant_state).float().contiguous()
    if method == "full":
        return model, dequant
    import peft
    lc = peft.LoraConfig(r=R, lora_alpha=ALPHA, lora_dropout=0.0, bias="none",
                         target_modules=[t for _, t in PROJ], init_lora_weights=True)
    model = peft.get_peft_model(model, lc)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_" in name:
                p.copy_(hf_weight(peft_name(name), tuple(p.shape), seed))
    return model, dequant


def peft_name(name):
    """PEFT's in-memory name to the name PEFT saves (no adapter name)."""
    return name.replace(".default.weight", ".weight")


def run_case(c, out_dir):
    mname, method, dt, bs, dq = c
    md = MODELS[mname]
    name = case_name(c)
    seed = fnv1a(name) & 0xffffffff
    model, dequant = build(c, seed)
    # config.json as transformers writes it for this model (the C test loads it from a folder);
    # the f32 folder that the C test writes and quantizes itself has no quantization_config
    cj = json.loads((model.config if method == "full" else model.base_model.model.config).to_json_string())
    cj.pop("quantization_config", None)
    cj["architectures"] = [{"llama": "LlamaForCausalLM", "mistral": "MistralForCausalLM",
                            "qwen2": "Qwen2ForCausalLM"}[md["arch"]]]
    config_json = json.dumps(cj, indent=2, sort_keys=True)
    model.train()  # dropout is 0 everywhere; train mode as a trainer runs it
    ids = torch.from_numpy(hf_ids("input_ids", B * T, md["vocab"], seed).reshape(B, T))
    if md["pad"] is not None:
        ids[0, T // 2] = md["pad"]
        ids[1, T - 2] = md["pad"]
    labels = ids.clone()
    labels[:, : T // 3] = -100
    out = model(input_ids=ids, labels=labels, use_cache=False)
    out.loss.backward()
    tensors = {
        "input_ids": ids.to(torch.int32).contiguous(),
        "labels": labels.to(torch.int32).contiguous(),
        "logits": out.logits.detach().float().contiguous(),
        "loss": out.loss.detach().float().reshape(1),
    }
    ngrad = 0
    for pname, p in model.named_parameters():
        if not p.requires_grad:
            continue
        assert p.grad is not None, pname
        key = peft_name(pname) if method != "full" else pname
        tensors["grad." + key] = p.grad.detach().float().contiguous()
        ngrad += 1
    if md["tied"] and method == "full":
        assert "grad.lm_head.weight" not in tensors
    tensors.update(dequant)
    import bitsandbytes
    import peft
    import transformers
    from safetensors.torch import save_file
    meta = dict(md, name=name, model=mname, method=method, dtype=dt, blocksize=bs, double_quant=dq, B=B, T=T,
                r=R if method != "full" else 0, alpha=ALPHA if method != "full" else 0.0, seed=seed,
                rope=md["rope"] or {}, pad=-1 if md["pad"] is None else md["pad"])
    versions = dict(torch=torch.__version__, transformers=transformers.__version__, peft=peft.__version__,
                    bitsandbytes=bitsandbytes.__version__)
    path = os.path.join(out_dir, name + ".safetensors")
    save_file(tensors, path, metadata={"case": json.dumps(meta, sort_keys=True), "versions": json.dumps(versions),
                                       "config_json": config_json})
    print(f"{path}: loss {out.loss.item():.6f}, {ngrad} gradients")


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else "tests/golden/hf"
    only = set(sys.argv[2:])
    os.makedirs(out_dir, exist_ok=True)
    names = [case_name(c) for c in CASES]
    assert len(set(names)) == len(names)
    unknown = only - set(names)
    if unknown:
        sys.exit(f"unknown case(s) {sorted(unknown)}; cases: {', '.join(names)}")
    for c in CASES:
        if not only or case_name(c) in only:
            run_case(c, out_dir)


if __name__ == "__main__":
    main()
