#!/usr/bin/env python3
"""clft on a real GGUF against transformers' own GGUF loading (PyPI: torch, transformers, gguf; CPU, fp32).

The model is SmolLM2-135M-Instruct.Q4_1.gguf (tools/fetch-smollm2.sh puts it into the user's cache).
transformers loads it with from_pretrained(dir, gguf_file=...) - its tensors dequantized to fp32 - and
its GGUF tokenizer with AutoTokenizer.from_pretrained(dir, gguf_file=...); clft reads the same file:
  (1) tokenizer: the ids of `clft tokenize --tokenizer FILE.gguf` equal transformers' on every text of
      tests/reference/gguf_tokenizer_cases.py (scripts, code, digits, emoji, whitespace; >= 50), with
      and without special tokens;
  (2) logits: clft's logits on a ChatML prompt (f32 base, tests/interop/clft_logits) agree with
      transformers' (max |clft - transformers| / max |transformers| <= 1e-4) on every OpenCL device;
  (3) generation: greedy `clft generate --chat` (f32 base) renders the same prompt ids as
      transformers' apply_chat_template and generates the same ids as generate(do_sample=False), for
      the prompt of (2) (a short answer, ended by <|im_end|>) and one that runs the full 32 tokens.
Pieces shared with tests/gguf/smollm2_logits.py (the prompt, clft's logits) and make_fixtures.py (the
comparison) are imported from there.

    tools/reference.sh runs it when the venv and the model are cached; by hand:
    ~/.cache/clft/ref-venv/bin/python tests/interop/gguf_reference.py [--build build] [--gguf FILE]
        [--devices 0,1]
Exits non-zero when a check fails; prints every number it compares.
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np
import torch

torch.set_num_threads(min(4, os.cpu_count() or 1))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "gguf"))
sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))
from gguf_tokenizer_cases import TEXTS  # noqa: E402
from make_fixtures import compare_logits  # noqa: E402
from smollm2_logits import PROMPT, run_clft  # noqa: E402

# a second conversation whose answer is longer than the 32 tokens generated
LONG_PROMPT = [{"role": "system", "content": "You are a helpful assistant."},
               {"role": "user", "content": "Explain in five sentences how a bicycle works."}]
FAILS = []
DEFAULT_GGUF = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "clft", "smollm2",
                            "SmolLM2-135M-Instruct.Q4_1.gguf")


def check(name, ok, detail):
    print(f"{'ok  ' if ok else 'FAIL'} {name}: {detail}", flush=True)
    if not ok:
        FAILS.append(name)


def run(cmd, stdin=None, env=None):
    r = subprocess.run(cmd, capture_output=True, text=True, input=stdin, env=env)
    if r.returncode != 0:
        sys.stderr.write(f"command failed ({r.returncode}): {' '.join(cmd)}\n{r.stdout}\n{r.stderr}\n")
        raise SystemExit(1)
    return r.stdout


def check_tokenizer(clft, gguf, tok):
    bad = []
    for special in (False, True):
        for t in TEXTS:
            ref = tok.encode(t, add_special_tokens=special)
            cmd = [clft, "tokenize", "--tokenizer", gguf] + (["--add-special"] if special else [])
            got = json.loads(run(cmd, stdin=t))
            if got != ref:
                bad.append((special, t, got[:12], ref[:12]))
    for special, t, got, ref in bad[:5]:
        print(f"     add_special={special} {t!r}: clft {got}... transformers {ref}...")
    check("tokenizer", not bad, f"{2 * len(TEXTS) - len(bad)}/{2 * len(TEXTS)} texts (with and without special "
          f"tokens) give transformers' ids")


def chat_prompt_ids(tok, conv):
    ids = tok.apply_chat_template(conv, add_generation_prompt=True, tokenize=True)
    if hasattr(ids, "keys"):  # newer transformers return a BatchEncoding
        ids = ids["input_ids"]
    return [int(i) for i in ids]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--gguf", default=DEFAULT_GGUF)
    ap.add_argument("--devices", default="0,1", help="OpenCL device indices (CLFT_DEVICE) to check")
    ap.add_argument("--tokens", type=int, default=32)
    a = ap.parse_args()
    clft = os.path.join(a.build, "tools", "clft", "clft")
    clft_logits = os.path.join(a.build, "tests", "interop", "clft_logits")
    for p in (clft, clft_logits, a.gguf):
        if not os.path.exists(p):
            sys.exit(f"gguf_reference.py: {p} is missing (build clft; tools/fetch-smollm2.sh fetches the model)")
    folder, name = os.path.dirname(os.path.abspath(a.gguf)), os.path.basename(a.gguf)
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer
    print(f"torch {torch.__version__}, transformers {transformers.__version__}; {a.gguf}", flush=True)
    tok = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    check_tokenizer(clft, a.gguf, tok)

    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32,
                                                 attn_implementation="eager")
    model.eval()
    ids = chat_prompt_ids(tok, PROMPT)
    with torch.no_grad():
        ref = model(torch.tensor([ids])).logits[0].float().numpy()
    gens = []
    for conv in (PROMPT, LONG_PROMPT):
        cids = chat_prompt_ids(tok, conv)
        with torch.no_grad():
            out = model.generate(torch.tensor([cids]), max_new_tokens=a.tokens, do_sample=False,
                                 pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id)
        gen = [int(i) for i in out[0, len(cids):]]
        gens.append((conv, cids, gen))
        print(f"prompt: {len(cids)} tokens; transformers generates {len(gen)} tokens: {tok.decode(gen)!r}", flush=True)
    for dev in a.devices.split(","):
        got = run_clft(clft_logits, a.gguf, ids, ref.shape[1], dev)
        rel = compare_logits(got, ref)
        agree = float((got.argmax(-1) == ref.argmax(-1)).mean())
        check(f"logits device {dev}", rel <= 1e-4, f"max |clft - transformers| / max |transformers| = {rel:.3g} "
              f"(<= 1e-4), argmax agreement {agree:.3f}")
        env = dict(os.environ, CLFT_DEVICE=dev)
        for k, (conv, cids, ref_gen) in enumerate(gens):
            g = json.loads(run([clft, "generate", "--model", a.gguf, "--chat", "--system", conv[0]["content"],
                                "--prompt", conv[1]["content"], "--max-tokens", str(a.tokens), "--temperature", "0",
                                "--base-dtype", "f32", "--json", "--quiet"], env=env))
            check(f"chat prompt {k + 1} device {dev}", g["prompt_ids"] == cids,
                  f"clft generate --chat renders {len(g['prompt_ids'])} ids, apply_chat_template {len(cids)}")
            check(f"greedy generation {k + 1} device {dev}", g["ids"] == ref_gen,
                  f"{len(g['ids'])} ids {'equal' if g['ids'] == ref_gen else 'differ'}: clft {g['text']!r}")
    if FAILS:
        print(f"gguf_reference.py: {len(FAILS)} check(s) failed: {', '.join(FAILS)}")
        return 1
    print("gguf_reference.py: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
