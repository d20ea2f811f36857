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
  data/meta.gguf + meta.json + meta_tensors.safetensors  for tests/gguf/test_gguf.c:
      a file written by gguf.GGUFWriter with every metadata value type (extreme values, UTF-8,
      empty strings), arrays of strings / every integer type / floats / bools, alignment 64, and
      tensors of 1 to 4 dimensions in F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 and Q2_K..Q6_K;
      meta.json lists what was written (integers as strings: 64-bit values do not survive JSON
      doubles; floats as the exact double of the stored value) and is checked against GGUFReader;
      meta_tensors.safetensors holds each tensor's raw bytes (<name>.raw) and f32 values
      (<name>.f32, gguf.quants.dequantize)
  data/tiny_llama.gguf, data/tiny_qwen2.gguf + tiny_logits.safetensors  for test_gguf_model.c:
      two tiny random models written with GGUFWriter the way llama.cpp's converter lays them out
      (GGUF names, Q/K rows permuted for llama and not for qwen2, 4 heads over 2 KV heads, tied
      embeddings for llama, q/k/v biases and an output.weight for qwen2 whose vocabulary size comes
      from tokenizer.ggml.tokens), tensors in Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, F16, BF16 and F32;
      tiny_logits.safetensors holds token ids (<arch>.ids) and the logits transformers computes
      after loading the GGUF itself (AutoModelForCausalLM.from_pretrained(gguf_file=...), fp32)

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


VT = gguf.GGUFValueType
INT_TYPES = {VT.UINT8: np.uint8, VT.INT8: np.int8, VT.UINT16: np.uint16, VT.INT16: np.int16,
             VT.UINT32: np.uint32, VT.INT32: np.int32, VT.UINT64: np.uint64, VT.INT64: np.int64}


def meta_file(out):
    rng = np.random.default_rng(7)
    path = os.path.join(out, "meta.gguf")
    w = gguf.GGUFWriter(path, "llama")  # writes general.architecture first
    w.add_custom_alignment(64)
    expect = [("general.architecture", VT.STRING, None, "llama"), ("general.alignment", VT.UINT32, None, 64)]

    def kv(key, vtype, value, sub=None):
        w.add_key_value(key, value, vtype, sub)
        expect.append((key, vtype, sub, value))

    for vt, npt in INT_TYPES.items():
        info = np.iinfo(npt)
        kv(f"test.{vt.name.lower()}.min", vt, int(info.min))
        kv(f"test.{vt.name.lower()}.max", vt, int(info.max))
    kv("test.float32", VT.FLOAT32, float(np.float32(-1.2345678e-7)))
    kv("test.float32.big", VT.FLOAT32, float(np.finfo(np.float32).max))
    kv("test.float64", VT.FLOAT64, 3.141592653589793e300)
    kv("test.bool.true", VT.BOOL, True)
    kv("test.bool.false", VT.BOOL, False)
    kv("test.string", VT.STRING, "héllo wörld \u4e16\u754c \U0001F600")
    kv("test.string.empty", VT.STRING, "")
    kv("test.arr.str", VT.ARRAY, ["<s>", "", "\u0120the", "a b", "\n"], VT.STRING)
    for vt, npt in INT_TYPES.items():
        info = np.iinfo(npt)
        vals = [int(info.min), 0, 1, int(info.max)] + [int(v) for v in rng.integers(info.min, info.max, 3, dtype=npt)]
        kv(f"test.arr.{vt.name.lower()}", VT.ARRAY, vals, vt)
    kv("test.arr.float32", VT.ARRAY, [float(np.float32(v)) for v in rng.standard_normal(6)], VT.FLOAT32)
    kv("test.arr.float64", VT.ARRAY, [float(v) for v in rng.standard_normal(4)], VT.FLOAT64)
    kv("test.arr.bool", VT.ARRAY, [True, False, True], VT.BOOL)
    kv("tokenizer.ggml.bos_token_id", VT.UINT32, 1)

    tensors = []

    def tensor(name, qtype, shape):
        x = rng.standard_normal(shape).astype(np.float32)
        if qtype in (T.Q2_K, T.Q3_K, T.Q4_K, T.Q5_K, T.Q6_K):
            raw = random_blocks(rng, qtype, int(np.prod(shape)) // 256).reshape(-1)
            data = raw.reshape(*shape[:-1], -1)
            w.add_tensor(name, data, raw_dtype=qtype)
        elif qtype == T.F32:
            w.add_tensor(name, x)
        elif qtype == T.F16:
            w.add_tensor(name, x.astype(np.float16))
        else:
            data = quantize(x, qtype)
            w.add_tensor(name, data, raw_dtype=qtype)
        tensors.append((name, qtype, shape))

    tensor("t.f32", T.F32, (5,))
    tensor("t.f16", T.F16, (3, 7))
    tensor("t.bf16", T.BF16, (2, 3, 5))
    tensor("t.q8_0", T.Q8_0, (3, 64))
    tensor("t.q4_0", T.Q4_0, (2, 2, 2, 32))
    tensor("t.q4_1", T.Q4_1, (4, 32))
    tensor("t.q5_0", T.Q5_0, (1, 64))
    tensor("t.q5_1", T.Q5_1, (2, 32))
    for q in (T.Q2_K, T.Q3_K, T.Q4_K, T.Q5_K, T.Q6_K):
        tensor(f"t.{q.name.lower()}", q, (2, 256))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()

    # read it back with gguf-py's reader: what the C test expects must be what the file holds
    r = gguf.GGUFReader(path)
    assert [f.name for f in r.fields.values() if not f.name.startswith("GGUF.")] == [e[0] for e in expect]
    st = {}
    jt = []
    for (name, qtype, shape), rt in zip(tensors, r.tensors):
        assert rt.name == name and rt.tensor_type == qtype
        assert list(rt.shape) == list(reversed(shape)), (name, rt.shape, shape)
        raw = np.asarray(rt.data).view(np.uint8).reshape(-1)
        st[name + ".raw"] = raw.copy()
        st[name + ".f32"] = np.asarray(dequantize(np.asarray(rt.data), qtype), dtype=np.float32).reshape(-1).copy()
        jt.append({"name": name, "type": int(qtype), "ne": [int(v) for v in reversed(shape)]})
    # offsets relative to the data section, as gguf-py lays them out (padded to the alignment)
    off = 0
    for t, (name, qtype, shape) in zip(jt, tensors):
        t["offset"] = off
        off += (len(st[name + ".raw"]) + 63) // 64 * 64
    for t, rt in zip(jt, r.tensors):
        assert rt.data_offset - r.tensors[0].data_offset == t["offset"]

    def jval(vt, v):
        if vt in INT_TYPES:
            return str(v)
        if vt == VT.BOOL:
            return bool(v)
        return v

    jkv = []
    for key, vt, sub, v in expect:
        e = {"key": key, "type": int(vt)}
        if vt == VT.ARRAY:
            e["elem"] = int(sub)
            e["value"] = [jval(sub, x) for x in v]
        else:
            e["value"] = jval(vt, v)
        jkv.append(e)
    with open(os.path.join(out, "meta.json"), "w") as f:
        json.dump({"version": 3, "alignment": 64, "kv": jkv, "tensors": jt}, f, indent=1)
        f.write("\n")
    save_file(st, os.path.join(out, "meta_tensors.safetensors"))


def permute_qk(w, n_head):
    """llama.cpp's HF -> GGUF row order of q_proj/k_proj (FORMATS.md 4.4), written from the row formula:
    GGUF row h*hd + 2i + a = HF row h*hd + a*hd/2 + i"""
    rows = w.shape[0]
    hd = rows // n_head
    out = np.empty_like(w)
    for h in range(n_head):
        for i in range(hd // 2):
            for a in range(2):
                out[h * hd + 2 * i + a] = w[h * hd + a * hd // 2 + i]
    return out


TINY = dict(vocab_size=160, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, rms_norm_eps=1e-5, rope_theta=10000.0, max_position_embeddings=128,
            bos_token_id=1, eos_token_id=2)
# GGUF type of each tensor kind (ne[0] is 64 or 96: no K-quants, whose blocks are 256)
TINY_TYPES = {"token_embd": T.Q8_0, "attn_q": T.Q4_1, "attn_k": T.Q4_0, "attn_v": T.Q8_0, "attn_output": T.F16,
              "ffn_gate": T.BF16, "ffn_up": T.Q5_0, "ffn_down": T.Q5_1, "output": T.F16}


def tiny_model(out, arch):
    import torch
    import transformers
    seed = {"llama": 11, "qwen2": 12}[arch]
    torch.manual_seed(seed)
    if arch == "llama":
        cfg = transformers.LlamaConfig(**TINY, tie_word_embeddings=True)
        model = transformers.LlamaForCausalLM(cfg)
    else:
        cfg = transformers.Qwen2Config(**TINY, tie_word_embeddings=False)
        model = transformers.Qwen2ForCausalLM(cfg)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:
                p.copy_(1.0 + 0.2 * torch.randn_like(p))
            else:
                p.copy_(0.15 * torch.randn_like(p))
    sd = {k: v.detach().float().numpy() for k, v in model.state_dict().items()}
    hd = TINY["hidden_size"] // TINY["num_attention_heads"]
    path = os.path.join(out, f"tiny_{arch}.gguf")
    w = gguf.GGUFWriter(path, arch)
    w.add_name(f"tiny-{arch}")
    w.add_block_count(TINY["num_hidden_layers"])
    w.add_context_length(TINY["max_position_embeddings"])
    w.add_embedding_length(TINY["hidden_size"])
    w.add_feed_forward_length(TINY["intermediate_size"])
    w.add_head_count(TINY["num_attention_heads"])
    w.add_head_count_kv(TINY["num_key_value_heads"])
    w.add_layer_norm_rms_eps(TINY["rms_norm_eps"])
    w.add_rope_freq_base(TINY["rope_theta"])
    w.add_rope_dimension_count(hd)
    if arch == "llama":
        w.add_vocab_size(TINY["vocab_size"])
    w.add_tokenizer_model("gpt2")
    w.add_token_list([f"t{i}" for i in range(TINY["vocab_size"])])
    w.add_bos_token_id(TINY["bos_token_id"])
    w.add_eos_token_id(TINY["eos_token_id"])
    names = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
             "lm_head.weight": "output.weight"}
    per_layer = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
                 "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
                 "mlp.down_proj": "ffn_down", "input_layernorm": "attn_norm",
                 "post_attention_layernorm": "ffn_norm"}
    for l in range(TINY["num_hidden_layers"]):
        for hf, gg in per_layer.items():
            for suf in ("weight", "bias"):
                names[f"model.layers.{l}.{hf}.{suf}"] = f"blk.{l}.{gg}.{suf}"
    for hf, x in sd.items():
        if arch == "llama" and hf == "lm_head.weight":
            continue  # tied
        gname = names[hf]
        kind = gname.split(".")[-2]
        if arch == "llama" and kind in ("attn_q", "attn_k"):
            x = permute_qk(x, TINY["num_attention_heads"] if kind == "attn_q" else TINY["num_key_value_heads"])
        qtype = T.F32 if (x.ndim == 1 or gname.endswith(".bias")) else TINY_TYPES[kind]
        if qtype == T.F32:
            w.add_tensor(gname, x.astype(np.float32))
        elif qtype == T.F16:
            w.add_tensor(gname, x.astype(np.float16))
        else:
            w.add_tensor(gname, quantize(x.astype(np.float32), qtype), raw_dtype=qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    ids = np.array([1, 17, 42, 99, 3, 150, 77, 8, 64, 2, 120, 5], dtype=np.int32)
    return ids, gguf_logits(out, f"tiny_{arch}.gguf", ids)


def gguf_logits(folder, name, ids):
    """The logits transformers computes for ids after loading folder/name itself (dequantized to fp32,
    eager attention). Shared with tests/interop/gguf_reference.py."""
    import torch
    from transformers import AutoModelForCausalLM
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32,
                                                 attn_implementation="eager")
    model.eval()
    with torch.no_grad():
        return model(torch.tensor([list(ids)], dtype=torch.long)).logits[0].float().numpy()


def compare_logits(got, ref):
    """max |got - ref| / max |ref| (the interop tolerance is 1e-4)"""
    got = np.asarray(got, dtype=np.float64).reshape(ref.shape)
    return float(np.abs(got - ref).max() / np.abs(ref).max())


def tiny_models(out):
    t = {}
    for arch in ("llama", "qwen2"):
        ids, logits = tiny_model(out, arch)
        t[f"{arch}.ids"] = ids
        t[f"{arch}.logits"] = logits.astype(np.float32)
    save_file(t, os.path.join(out, "tiny_logits.safetensors"),
              metadata={"transformers_version": importlib.metadata.version("transformers"),
                        "gguf_version": importlib.metadata.version("gguf")})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "data"))
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    ggml_blocks(a.out)
    meta_file(a.out)
    tiny_models(a.out)
    print("wrote", a.out)


if __name__ == "__main__":
    main()
