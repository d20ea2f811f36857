#!/usr/bin/env python3
"""peft_fixtures.py - fixtures from the real PEFT for clft's adapter tests (tests/lora/test_peft.c).

What it does:
  1. a tiny ragged Llama base written by clft itself:
       clft init --config tests/lora/data/base_config.json --seed 7 --out WORK/base
     (the C test regenerates the same folder with clft_model_init_write; the FNV-1a of its
     model.safetensors is recorded so that a change of clft's init is caught),
  2. adapters made by PEFT on that base with get_peft_model (lora_B set to random non-zero values,
     lora_A as PEFT initializes it), saved with save_pretrained into tests/lora/data/peft_<case>/:
       lora    r 4, lora_alpha 8, q/v/down_proj, f32 base
       rslora  r 4, lora_alpha 6, use_rslora, k/o/gate/up_proj, f32 base
       qlora   r 4, lora_alpha 8, q/down_proj, on the base loaded by transformers as bitsandbytes NF4
               (blocksize 64, double quantization, compute dtype float32)
  3. tests/lora/data/peft_reference.safetensors: the token ids, transformers+PEFT logits of every
     case (eager attention, fp32), and PEFT's merged projections: merge_and_unload() for lora, and
     for qlora what PEFT's Linear4bit.merge computes before it re-quantizes (dequantize_bnb_weight +
     get_delta_weight),
  4. tests/lora/data/peft_reference.json: versions, the base's checksum, the cases, the key list of
     PEFT's adapter_config.json, and the tensor names/shapes/dtypes and metadata PEFT wrote.

With --verify TEST_BINARY (optional; a local check, not a CI requirement) it also runs the C test
with CLFT_PEFT_OUT=DIR, which makes clft write adapters of its own (random A and B, LoRA and QLoRA)
and its logits there, and checks that PeftModel.from_pretrained loads each clft adapter without a
warning and gives clft's logits.

usage: ~/.cache/clft/ref-venv/bin/python tests/interop/peft_fixtures.py --clft build/tools/clft/clft
           [--out tests/lora/data] [--verify build/tests/lora/test_peft]
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import warnings

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference"))
from bnb_cpu import exact_cpu_4bit  # noqa: E402  (bitsandbytes' CPU 4-bit path, exact on every CPU)

SEED = 7
T = 8
CASES = {
    "lora": dict(r=4, lora_alpha=8, use_rslora=False, targets=["q_proj", "v_proj", "down_proj"], qlora=False),
    "rslora": dict(r=4, lora_alpha=6, use_rslora=True, targets=["k_proj", "o_proj", "gate_proj", "up_proj"],
                   qlora=False),
    "qlora": dict(r=4, lora_alpha=8, use_rslora=False, targets=["q_proj", "down_proj"], qlora=True),
}
MERGED = ("lora", "qlora")  # cases whose merged projections are stored (keeps the fixtures small)


def fnv1a64(data):
    h = 0xcbf29ce484222325
    for b in data:
        h ^= b
        h = (h * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


GREEDY = 24  # tokens of the greedy-generation fixture


def load_base(base, qlora):
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig
    kw = dict(dtype=torch.float32, attn_implementation="eager")
    if qlora:
        kw["quantization_config"] = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                                       bnb_4bit_use_double_quant=True,
                                                       bnb_4bit_compute_dtype=torch.float32)
        kw["device_map"] = "cpu"
    model = AutoModelForCausalLM.from_pretrained(base, **kw)
    if qlora:  # bitsandbytes' exact CPU path on every CPU (tests/reference/bnb_cpu.py)
        import bitsandbytes as bnb
        exact_cpu_4bit(model)
        for mod in model.modules():
            if isinstance(mod, bnb.nn.Linear4bit):
                assert mod.weight.quant_state.blocksize == 64 and mod.weight.quant_state.nested
    model.eval()
    return model


def logits_of(model, ids):
    with torch.no_grad():
        return model(input_ids=ids).logits.float().contiguous()


def make_case(name, c, base, out_dir, ids, ref):
    import peft
    model = load_base(base, c["qlora"])
    lc = peft.LoraConfig(r=c["r"], lora_alpha=c["lora_alpha"], use_rslora=c["use_rslora"],
                         target_modules=c["targets"], lora_dropout=0.0, task_type="CAUSAL_LM")
    torch.manual_seed(100 + sum(map(ord, name)))  # PEFT's kaiming init of lora_A draws from the global RNG
    pm = peft.get_peft_model(model, lc)
    g = torch.Generator().manual_seed(1000 + sum(map(ord, name)))
    with torch.no_grad():
        for pname, p in pm.named_parameters():
            if "lora_B" in pname:
                p.copy_((torch.rand(p.shape, generator=g) - 0.5) * 0.4)
    adir = os.path.join(out_dir, f"peft_{name}")
    shutil.rmtree(adir, ignore_errors=True)
    pm.save_pretrained(adir)
    os.remove(os.path.join(adir, "README.md"))  # PEFT's model card template: not part of the adapter
    ref[f"{name}.logits"] = logits_of(pm, ids)
    # greedy generation from the same ids (clft generate must give these tokens: tests/lora/test_peft.c)
    with torch.no_grad():
        out = pm.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=False, max_new_tokens=GREEDY,
                          pad_token_id=pm.config.eos_token_id)
    ref[f"{name}.greedy"] = out[0, ids.shape[1]:].to(torch.int32).contiguous()
    if name in MERGED:
        if c["qlora"]:
            from peft.utils.integrations import dequantize_bnb_weight
            for mname, mod in pm.named_modules():
                if isinstance(mod, peft.tuners.lora.bnb.Linear4bit):
                    w = mod.get_base_layer().weight
                    merged = dequantize_bnb_weight(w, state=w.quant_state).float() + mod.get_delta_weight("default")
                    key = mname.replace("base_model.model.", "", 1) + ".weight"
                    ref[f"{name}.merged.{key}"] = merged.float().contiguous()
        else:
            merged = pm.merge_and_unload()
            sd = merged.state_dict()
            for k in sd:
                if k.endswith(".weight") and any(f".{t}." in k for t in c["targets"]):
                    ref[f"{name}.merged.{k}"] = sd[k].float().contiguous()
    return adir


def describe_adapter(adir):
    from safetensors import safe_open
    with open(os.path.join(adir, "adapter_config.json")) as f:
        cfg = json.load(f)
    tensors = []
    with safe_open(os.path.join(adir, "adapter_model.safetensors"), "pt") as f:
        meta = f.metadata()
        for k in sorted(f.keys()):
            t = f.get_tensor(k)
            tensors.append([k, str(t.dtype).replace("torch.", ""), list(t.shape)])
    return sorted(cfg.keys()), tensors, meta


def verify(test_binary, data_dir, base):
    """clft's own adapters and logits (written by the C test) against PEFT."""
    import peft
    from safetensors.torch import load_file
    out = tempfile.mkdtemp(prefix="clft_peft_verify_")
    scratch = tempfile.mkdtemp(prefix="clft_peft_scratch_")
    env = dict(os.environ, CLFT_PEFT_OUT=out)
    r = subprocess.run([test_binary, data_dir, scratch], env=env, capture_output=True, text=True)
    print(r.stdout.strip())
    if r.returncode != 0:
        print(r.stderr)
        sys.exit("the C test failed")
    ref = load_file(os.path.join(out, "clft_logits.safetensors"))
    ids = ref["ids"].long()
    worst = 0.0

    def load(qlora, adir):
        model = load_base(base, qlora)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            pm = peft.PeftModel.from_pretrained(model, adir)
        return pm, sorted({f"{w.category.__name__}: {w.message}" for w in caught})

    for case, qlora in (("clft_lora", False), ("clft_qlora", True)):
        # what loading PEFT's own adapter of this kind says (transformers deprecations and the like)
        _, baseline = load(qlora, os.path.join(data_dir, "peft_qlora" if qlora else "peft_lora"))
        pm, said = load(qlora, os.path.join(out, case))
        extra = [w for w in said if w not in baseline]
        for w in extra:
            print(f"  {case}: warning while loading clft's adapter: {w}")
        assert not extra, f"{case}: PeftModel.from_pretrained warned about clft's adapter"
        if baseline:
            print(f"  ({len(baseline)} warning(s) that PEFT's own adapter gives too: {'; '.join(baseline)})")
        got = logits_of(pm, ids)
        want = ref[f"{case}.logits"]
        rel = ((got - want).abs().max() / want.abs().max()).item()
        worst = max(worst, rel)
        print(f"  {case}: PeftModel.from_pretrained, no warning of its own; logits max|d|/max|ref| = {rel:.2e}")
        assert rel <= 1e-4, f"{case}: PEFT's logits differ from clft's ({rel:.2e})"
    shutil.rmtree(out)
    shutil.rmtree(scratch, ignore_errors=True)
    print(f"verify: clft adapters load in PEFT {peft.__version__} with clft's logits (worst {worst:.2e})")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clft", required=True, help="the clft binary (for clft init)")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lora", "data"))
    ap.add_argument("--verify", help="the test_peft binary: also check clft-written adapters in PEFT")
    args = ap.parse_args()
    out_dir = os.path.abspath(args.out)
    clft = os.path.abspath(args.clft)
    import bitsandbytes
    import peft
    import safetensors
    import transformers
    from safetensors.torch import save_file

    work = tempfile.mkdtemp(prefix="clft_peft_fixtures_")
    cwd = os.getcwd()
    try:
        os.chdir(work)  # the base is "base": PEFT writes that as base_model_name_or_path
        subprocess.run([clft, "init", "--config", os.path.join(out_dir, "base_config.json"), "--seed",
                        str(SEED), "--out", "base"], check=True, capture_output=True)
        with open("base/model.safetensors", "rb") as f:
            base_fnv = fnv1a64(f.read())
        g = torch.Generator().manual_seed(SEED)
        vocab = json.load(open("base/config.json"))["vocab_size"]
        ids = torch.randint(0, vocab, (1, T), generator=g)
        ref = {"ids": ids.to(torch.int64)}
        manifest = dict(
            versions=dict(peft=peft.__version__, transformers=transformers.__version__, torch=torch.__version__,
                          bitsandbytes=bitsandbytes.__version__, safetensors=safetensors.__version__),
            base=dict(config="base_config.json", seed=SEED, model_fnv1a64=f"{base_fnv:016x}"),
            T=T, cases={}, adapter_config_keys=None, tensors={}, metadata={})
        for name, c in CASES.items():
            adir = make_case(name, c, "base", out_dir, ids, ref)
            keys, tensors, meta = describe_adapter(adir)
            if manifest["adapter_config_keys"] is None:
                manifest["adapter_config_keys"] = keys
            assert keys == manifest["adapter_config_keys"], "PEFT's key set differs between cases"
            manifest["cases"][name] = dict(r=c["r"], lora_alpha=c["lora_alpha"], use_rslora=c["use_rslora"],
                                           targets=sorted(c["targets"]),
                                           base="bitsandbytes nf4/64/double quant" if c["qlora"] else "f32",
                                           merged=name in MERGED)
            manifest["tensors"][name] = tensors
            manifest["metadata"][name] = meta
            print(f"{name}: {len(tensors)} tensors, logits {tuple(ref[name + '.logits'].shape)}")
        save_file(ref, os.path.join(out_dir, "peft_reference.safetensors"), metadata={"format": "pt"})
        with open(os.path.join(out_dir, "peft_reference.json"), "w") as f:
            json.dump(manifest, f, indent=2, sort_keys=True)
            f.write("\n")
        print(f"wrote the fixtures into {out_dir} (PEFT {peft.__version__}, transformers "
              f"{transformers.__version__}, bitsandbytes {bitsandbytes.__version__})")
        if args.verify:
            verify(os.path.abspath(os.path.join(cwd, args.verify)), out_dir, os.path.join(work, "base"))
    finally:
        os.chdir(cwd)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
