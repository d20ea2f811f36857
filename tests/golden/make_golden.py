#!/usr/bin/python3
"""Golden fixtures for clft's training core, from an independent implementation: plain PyTorch
autograd (Debian's python3-torch; no transformers/peft/bitsandbytes needed).

Builds tiny Llama-family decoders exactly as Hugging Face transformers defines them (RMSNorm in
f32, rotate-half RoPE with optional llama3 scaling, GQA by repeat_interleave, SwiGLU, optional
q/k/v bias, tied embeddings, sliding window), attaches LoRA adapters to all seven projections
(PEFT semantics: y = base(x) + B(A(x)) * alpha/r), runs forward + the HF causal-LM loss (shifted
labels, ignore_index -100, mean over counted tokens) and backward, and writes one safetensors file
per variant with: input_ids, labels, every weight, the LoRA A/B, logits, loss and LoRA gradients.

The NF4 variant quantizes the seven projection weights of every layer with NF4 + double
quantization (blocksize 64, nested blocksize 256) following bitsandbytes' CPU algorithm
(FORMATS.md section 1) and uses the dequantized weights as the frozen base; the file also holds
those dequantized weights, so a mismatch in quantization can be told apart from one in the model.

Regenerate: /usr/bin/python3 tests/golden/make_golden.py tests/golden   (CI does not need torch).
"""
import json
import math
import os
import struct
import sys

import torch

torch.set_default_dtype(torch.float32)

VARIANTS = {
    # name: config
    "llama_f32": dict(vocab=512, hidden=64, layers=2, heads=4, kv_heads=2, inter=128, eps=1e-5,
                      theta=10000.0, rope_scaling=None, tied=False, bias=False, window=0, nf4=False,
                      B=2, T=16, r=8, alpha=16.0, seed=1234),
    "llama_nf4": dict(vocab=512, hidden=64, layers=2, heads=4, kv_heads=2, inter=128, eps=1e-5,
                      theta=10000.0, rope_scaling=None, tied=False, bias=False, window=0, nf4=True,
                      B=2, T=16, r=8, alpha=16.0, seed=1234),
    # Qwen2-like: q/k/v bias, tied embeddings, sliding window 5, rope theta 1e6, 3 heads / 1 kv head,
    # plus llama3 rope scaling to cover that path too.
    "qwen2_f32": dict(vocab=384, hidden=48, layers=2, heads=3, kv_heads=1, inter=80, eps=1e-6,
                      theta=1e6, rope_scaling=dict(factor=8.0, low_freq_factor=1.0,
                                                   high_freq_factor=4.0, original_max_position_embeddings=8),
                      tied=True, bias=True, window=5, nf4=False, B=2, T=13, r=4, alpha=8.0, seed=99),
}

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]

# ---- NF4 + double quantization (bitsandbytes CPU algorithm, FORMATS.md section 1) ---------------
NF4 = torch.tensor([-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
                    -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
                    0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
                    0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0], dtype=torch.float32)


def dynamic_map_signed():
    data = []
    for i in range(7):
        fraction_items = 2 ** i + 1
        boundaries = torch.linspace(0.1, 1, fraction_items, dtype=torch.float32)
        means = (boundaries[:-1] + boundaries[1:]) / 2.0
        data += (10 ** (-6 + i) * means).tolist()
        data += (-(10 ** (-6 + i)) * means).tolist()
    data += [0.0, 1.0]
    data.sort()
    return torch.tensor(data, dtype=torch.float32)


def quantize_blockwise(x, code, blocksize):
    n = x.numel()
    nb = (n + blocksize - 1) // blocksize
    pad = nb * blocksize - n
    xp = torch.cat([x, torch.zeros(pad)]) if pad else x
    blocks = xp.view(nb, blocksize)
    absmax = blocks.abs().max(dim=1).values
    scaled = (blocks * (1.0 / absmax.clamp(min=1e-38)).unsqueeze(1)).clamp(-1, 1)
    mid = (code[:-1] + code[1:]) / 2
    q = torch.bucketize(scaled.reshape(-1), mid)
    return q[:n], absmax


def nf4_double_quant_roundtrip(w):
    flat = w.reshape(-1).float()
    q, absmax = quantize_blockwise(flat, NF4, 64)
    offset = absmax.mean()
    dmap = dynamic_map_signed()
    qa, absmax2 = quantize_blockwise(absmax - offset, dmap, 256)
    absmax_r = dmap[qa] * absmax2.repeat_interleave(256)[: absmax.numel()] + offset
    deq = NF4[q] * absmax_r.repeat_interleave(64)[: flat.numel()]
    return deq.view_as(w)


# ---- model ---------------------------------------------------------------------------------------
def rms_norm(x, w, eps):
    h = x.to(torch.float32)
    var = h.pow(2).mean(-1, keepdim=True)
    return w * (h * torch.rsqrt(var + eps))


def inv_freq(cfg, D):
    inv = 1.0 / (cfg["theta"] ** (torch.arange(0, D, 2, dtype=torch.int64).float() / D))
    rs = cfg["rope_scaling"]
    if rs:
        factor, lo, hi, old = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"], \
            rs["original_max_position_embeddings"]
        low_wl, high_wl = old / lo, old / hi
        wavelen = 2 * math.pi / inv
        inv_l = torch.where(wavelen > low_wl, inv / factor, inv)
        smooth = (old / wavelen - lo) / (hi - lo)
        smoothed = (1 - smooth) * inv_l / factor + smooth * inv_l
        is_medium = ~(wavelen < high_wl) * ~(wavelen > low_wl)
        inv = torch.where(is_medium, smoothed, inv_l)
    return inv


def rotate_half(x):
    d = x.shape[-1] // 2
    return torch.cat((-x[..., d:], x[..., :d]), dim=-1)


def forward(cfg, P, ids, lora):
    B, T = ids.shape
    C, H, KV = cfg["hidden"], cfg["heads"], cfg["kv_heads"]
    D = C // H
    scale = cfg["alpha"] / cfg["r"]
    pos = torch.arange(T).float()
    freqs = torch.outer(pos, inv_freq(cfg, D))
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos(), emb.sin()
    t = torch.arange(T)
    allowed = t[None, :] <= t[:, None]
    if cfg["window"]:
        allowed = allowed & (t[None, :] > t[:, None] - cfg["window"])
    mask = torch.where(allowed, 0.0, float("-inf"))

    def lin(x, name, l, tgt):
        y = x @ P[name].t()
        if name.replace(".weight", ".bias") in P:
            y = y + P[name.replace(".weight", ".bias")]
        A, Bm = lora[(l, tgt)]
        return y + (x @ A.t()) @ Bm.t() * scale

    x = P["model.embed_tokens.weight"][ids]
    for l in range(cfg["layers"]):
        p = f"model.layers.{l}."
        h = rms_norm(x, P[p + "input_layernorm.weight"], cfg["eps"])
        q = lin(h, p + "self_attn.q_proj.weight", l, "q_proj").view(B, T, H, D).transpose(1, 2)
        k = lin(h, p + "self_attn.k_proj.weight", l, "k_proj").view(B, T, KV, D).transpose(1, 2)
        v = lin(h, p + "self_attn.v_proj.weight", l, "v_proj").view(B, T, KV, D).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(H // KV, dim=1)
        v = v.repeat_interleave(H // KV, dim=1)
        att = (q @ k.transpose(-1, -2)) / math.sqrt(D) + mask
        att = torch.softmax(att.float(), dim=-1)
        o = (att @ v).transpose(1, 2).reshape(B, T, H * D)
        x = x + lin(o, p + "self_attn.o_proj.weight", l, "o_proj")
        h = rms_norm(x, P[p + "post_attention_layernorm.weight"], cfg["eps"])
        g = lin(h, p + "mlp.gate_proj.weight", l, "gate_proj")
        u = lin(h, p + "mlp.up_proj.weight", l, "up_proj")
        x = x + lin(torch.nn.functional.silu(g) * u, p + "mlp.down_proj.weight", l, "down_proj")
    x = rms_norm(x, P["model.norm.weight"], cfg["eps"])
    head = P["model.embed_tokens.weight"] if cfg["tied"] else P["lm_head.weight"]
    return x @ head.t()


def causal_lm_loss(logits, labels):
    V = logits.shape[-1]
    labels = torch.nn.functional.pad(labels, (0, 1), value=-100)
    shift = labels[..., 1:].reshape(-1)
    return torch.nn.functional.cross_entropy(logits.float().reshape(-1, V), shift, ignore_index=-100)


def shapes(cfg):
    C, H, KV, F = cfg["hidden"], cfg["heads"], cfg["kv_heads"], cfg["inter"]
    D = C // H
    return {"q_proj": (H * D, C), "k_proj": (KV * D, C), "v_proj": (KV * D, C), "o_proj": (C, H * D),
            "gate_proj": (F, C), "up_proj": (F, C), "down_proj": (C, F)}


def build(cfg):
    g = torch.Generator().manual_seed(cfg["seed"])
    rnd = lambda *s, std=0.02: torch.randn(*s, generator=g) * std
    P = {"model.embed_tokens.weight": rnd(cfg["vocab"], cfg["hidden"], std=0.5)}
    sh = shapes(cfg)
    for l in range(cfg["layers"]):
        p = f"model.layers.{l}."
        P[p + "input_layernorm.weight"] = 1.0 + rnd(cfg["hidden"], std=0.1)
        P[p + "post_attention_layernorm.weight"] = 1.0 + rnd(cfg["hidden"], std=0.1)
        for t in TARGETS:
            mod = "self_attn." if t in ("q_proj", "k_proj", "v_proj", "o_proj") else "mlp."
            P[p + mod + t + ".weight"] = rnd(*sh[t], std=0.15)
            if cfg["bias"] and t in ("q_proj", "k_proj", "v_proj"):
                P[p + mod + t + ".bias"] = rnd(sh[t][0], std=0.1)
    P["model.norm.weight"] = 1.0 + rnd(cfg["hidden"], std=0.1)
    if not cfg["tied"]:
        P["lm_head.weight"] = rnd(cfg["vocab"], cfg["hidden"], std=0.15)
    lora = {}
    for l in range(cfg["layers"]):
        for t in TARGETS:
            out_f, in_f = sh[t]
            bound = 1.0 / math.sqrt(in_f)
            A = (torch.rand(cfg["r"], in_f, generator=g) * 2 - 1) * bound
            Bm = rnd(out_f, cfg["r"], std=0.05)  # non-zero so that dA is non-zero
            lora[(l, t)] = (A, Bm)
    ids = torch.randint(0, cfg["vocab"], (cfg["B"], cfg["T"]), generator=g)
    labels = ids.clone()
    labels[0, :3] = -100  # a masked prompt
    labels[1, 5:7] = -100
    return P, lora, ids, labels


def lora_name(l, t, ab):
    mod = "self_attn." if t in ("q_proj", "k_proj", "v_proj", "o_proj") else "mlp."
    return f"base_model.model.model.layers.{l}.{mod}{t}.lora_{ab}.weight"


def save_safetensors(path, tensors, metadata):
    order = sorted(tensors)
    header = {"__metadata__": metadata}
    blobs, off = [], 0
    for name in order:
        t = tensors[name].contiguous()
        dt = {torch.float32: "F32", torch.int32: "I32"}[t.dtype]
        b = t.numpy().tobytes()
        header[name] = {"dtype": dt, "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def main(outdir):
    for name, cfg in VARIANTS.items():
        P, lora, ids, labels = build(cfg)
        out = {}
        base = dict(P)
        if cfg["nf4"]:
            for k in list(P):
                if any(k.endswith(t + ".weight") for t in TARGETS):
                    base[k] = nf4_double_quant_roundtrip(P[k])
                    out["dequant." + k] = base[k]
        for (l, t), (A, Bm) in lora.items():
            A.requires_grad_(True)
            Bm.requires_grad_(True)
        logits = forward(cfg, base, ids, lora)
        loss = causal_lm_loss(logits, labels)
        loss.backward()
        for k, v in P.items():
            out[k] = v  # the original (unquantized) weights: the C side quantizes them itself
        for (l, t), (A, Bm) in lora.items():
            out[lora_name(l, t, "A")] = A.detach()
            out[lora_name(l, t, "B")] = Bm.detach()
            out["grad." + lora_name(l, t, "A")] = A.grad
            out["grad." + lora_name(l, t, "B")] = Bm.grad
        out["input_ids"] = ids.to(torch.int32)
        out["labels"] = labels.to(torch.int32)
        out["logits"] = logits.detach()
        out["loss"] = loss.detach().reshape(1)
        meta = {k: json.dumps(v) for k, v in cfg.items()}
        meta["torch"] = torch.__version__
        save_safetensors(os.path.join(outdir, f"golden_{name}.safetensors"), out, meta)
        print(f"{name}: loss {loss.item():.6f}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__)))
