#!/usr/bin/env python3
"""bench_train_torch.py - training tokens/s of clft against transformers + PEFT on the same model, the
same shape and the same machine, in one run (a benchmark, not a test). Prints JSON.

clft: benchmarks/bench_train --model FILE.gguf --method qlora (SmolLM2-135M-Instruct.Q4_1.gguf: the
base requantized to NF4, LoRA r 8 / alpha 16 on all seven projections, AdamW; activation checkpointing off
by default as `clft train` picks it when the memory plan fits, --checkpointing 1 for the recomputing run)
on every OpenCL device given. PyTorch (PyPI torch on the CPU, torch.set_num_threads(--threads)):
transformers loads the same GGUF (dequantized to fp32), PEFT adds LoRA r 8 / alpha 16 on the same
seven projections, and AdamW steps on the same batch x seq of token ids (no gradient checkpointing:
the cheaper setting for PyTorch). Both time steps after a warm-up step; tokens/s = batch * seq /
mean step seconds. The ratio clft / PyTorch is printed per device (the issue's goal: >= 1.5).

    ~/.cache/clft/ref-venv/bin/python benchmarks/bench_train_torch.py [--build build] [--gguf FILE]
        [--devices 0,1] [--batch 4] [--seq 512] [--steps 3] [--threads 2] [--out FILE.json]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_GGUF = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "clft", "smollm2",
                            "SmolLM2-135M-Instruct.Q4_1.gguf")
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def torch_run(gguf, batch, seq, steps, threads, rank):
    import torch
    torch.set_num_threads(threads)
    import peft
    import transformers
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM
    folder, name = os.path.dirname(os.path.abspath(gguf)), os.path.basename(gguf)
    t0 = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    load_s = time.perf_counter() - t0
    model = get_peft_model(model, LoraConfig(r=rank, lora_alpha=2 * rank, lora_dropout=0.0, target_modules=TARGETS,
                                             task_type="CAUSAL_LM"))
    model.train()
    vocab = model.config.vocab_size
    ids = torch.tensor([(i * 7919 + 13) % vocab for i in range(batch * seq)]).reshape(batch, seq)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    times, loss = [], 0.0
    for i in range(steps + 1):
        t0 = time.perf_counter()
        out = model(input_ids=ids, labels=ids)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        dt = time.perf_counter() - t0
        print(f"  torch step {i}: {dt:.3f} s, loss {out.loss.item():.4f}", file=sys.stderr, flush=True)
        if i:
            times.append(dt)
            loss = out.loss.item()
    mean = sum(times) / len(times)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"framework": f"torch {torch.__version__}, transformers {transformers.__version__}, peft {peft.__version__}",
            "threads": threads, "dtype": "float32", "method": "lora (fp32 base)", "batch": batch, "seq_len": seq,
            "steps": steps, "step_seconds_mean": mean, "step_seconds_best": min(times),
            "tokens_per_second": batch * seq / mean, "trainable_params": trainable, "last_loss": loss,
            "load_seconds": load_s}


def clft_run(bench, gguf, device, batch, seq, steps, checkpointing):
    env = dict(os.environ, CLFT_DEVICE=str(device))
    with tempfile.TemporaryDirectory() as tmp:  # the clft-bench/1 document (stdout is its Markdown table)
        out = os.path.join(tmp, "train.json")
        r = subprocess.run([bench, "--device", str(device), "--model", gguf, "--method", "qlora", "--batch",
                            str(batch), "--seq", str(seq), "--steps", str(steps), "--checkpointing",
                            str(checkpointing), "--json", out], capture_output=True, text=True, env=env)
        sys.stderr.write(r.stderr)
        if r.returncode != 0:
            sys.exit(f"bench_train_torch.py: bench_train failed on device {device}")
        with open(out) as f:
            doc = json.load(f)
    doc["device"] = doc["device"]["name"]
    return doc


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--gguf", default=DEFAULT_GGUF)
    ap.add_argument("--devices", default="0,1")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seq", type=int, default=512)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rank", type=int, default=8, help="LoRA rank of the PyTorch run (clft's default is 8)")
    ap.add_argument("--checkpointing", type=int, default=0, choices=(-1, 0, 1),
                    help="clft's activation checkpointing (default 0: what `clft train` picks when the plan fits, "
                         "and what the PyTorch run does)")
    ap.add_argument("--out", help="also write the JSON here")
    a = ap.parse_args()
    bench = os.path.join(a.build, "benchmarks", "bench_train")
    for p in (bench, a.gguf):
        if not os.path.exists(p):
            sys.exit(f"bench_train_torch.py: {p} is missing (build with benchmarks; tools/fetch-smollm2.sh)")
    res = {"model": a.gguf, "batch": a.batch, "seq_len": a.seq, "clft": [], "torch": None}
    for dev in a.devices.split(","):
        res["clft"].append(clft_run(bench, a.gguf, dev, a.batch, a.seq, a.steps, a.checkpointing))
    res["torch"] = torch_run(a.gguf, a.batch, a.seq, a.steps, a.threads, a.rank)
    tt = res["torch"]["tokens_per_second"]
    res["ratios"] = {}
    for c in res["clft"]:
        run = c["runs"][0]
        res["ratios"][c["device"]] = run["tokens_per_second"] / tt
    text = json.dumps(res, indent=1)
    print(text)
    if a.out:
        with open(a.out + ".tmp", "w") as f:
            f.write(text + "\n")
        os.replace(a.out + ".tmp", a.out)
    for c in res["clft"]:
        run = c["runs"][0]
        print(f"{c['device']}: clft QLoRA {run['tokens_per_second']:.1f} tokens/s vs PyTorch LoRA fp32 {tt:.1f} "
              f"tokens/s ({a.threads} threads): {run['tokens_per_second'] / tt:.2f}x (goal >= 1.5x)", file=sys.stderr)


if __name__ == "__main__":
    main()
