#!/usr/bin/env python3
"""Generate tests/data/tokenizers/<name>/hf_extra_cases.json with the Hugging Face `tokenizers`
package (the authority for clft's tokenizer), and report where it disagrees with cases.json.

    /usr/bin/python3 -m venv /tmp/tok_hfvenv && /tmp/tok_hfvenv/bin/pip install tokenizers
    /tmp/tok_hfvenv/bin/python tests/reference/hf_tokenizers_cases.py [tests/data/tokenizers]

Each case: text, ids (add_special_tokens=False), ids_special (add_special_tokens=True) and
decoded (decode(ids, skip_special_tokens=False)).
"""
import json
import os
import subprocess
import sys
import tempfile

import tokenizers

TEXTS = [
    "Hello world",
    " Hello world",
    "Hello  world  ",
    "e\u0301te\u0301 cafe\u0301",            # decomposed accents (NFC composes them)
    "\u00c5ngstr\u00f6m \u212bngstr\u00f6m",  # precomposed and the Angstrom sign
    "tab\tnewline\nCRLF\r\nCR\rend",
    "    indented\n        more\n",
    "1234567890 12 345 6789",
    "don't DON'T I'M you'RE we'Ve",
    "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\n",
    "text<|im_end|>more <|endoftext|> x",
    "<s> spaced </s> tokens <unk>",
    "<s>[INST] hi [/INST] ok</s>",
    "<|begin_of_text|>Hi<|eot_id|><|start_header_id|>",
    "<think>\nreasoning\n</think>\n\nanswer",
    "a\u00a0b\u2003c\u3000d",
    "\u0001\u001f\u007f\u0085",  # controls (NUL is tested in C: cJSON strings are C strings)
    "\ud55c\uad6d\uc5b4 \u1100\u1161\u11a8",  # Hangul syllables and conjoining jamo
    "\U0001f600\U0001f44d\U0001f3fd\u200d\u2764\ufe0f",
    "x" * 300,
    " " * 40 + "y",
    "\n" * 10,
    "\u0627\u0644\u0639\u0631\u0628\u064a\u0629 \u05e2\u05d1\u05e8\u05d9\u05ea",
    "MiXeD-CaSe_snake__double  __init__",
    "https://example.com/path?query=1&x=y#frag",
    "The year 2024 had 365.25 days; pi=3.14159265358979",
    "\u2581already\u2581has\u2581metaspace",
    "trailing newline\n",
    "ends with space ",
    "\u00e9\u00e8\u00ea\u00eb \u0153\u00e6 \u00df \u0131\u0130",
    "def foo(bar):\n\treturn bar ** 2  # comment\n",
    "{\"json\": [1, 2, {\"k\": null}]}",
    "\u4f60\u597d\uff0c\u4e16\u754c\uff01\u3053\u3093\u306b\u3061\u306f\u4e16\u754c",
    "'s's 'll've",
    "a" * 17 + " " + "ab" * 20,
]


def load(d):
    for name in ("tokenizer.json", "tokenizer.json.zst"):
        p = os.path.join(d, name)
        if os.path.exists(p):
            if name.endswith(".zst"):
                raw = subprocess.run(["zstd", "-dc", p], check=True, capture_output=True).stdout
                with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
                    f.write(raw)
                    tmp = f.name
                t = tokenizers.Tokenizer.from_file(tmp)
                os.unlink(tmp)
                return t
            return tokenizers.Tokenizer.from_file(p)
    raise FileNotFoundError(d)


METASPACE_VARIANTS = [("first", False), ("always", True), ("never", False)]


def metaspace_variant(tokenizer_json, scheme, split):
    """The llama2 tokenizer turned into its legacy=False form: Metaspace pre-tokenizer and decoder."""
    j = json.loads(tokenizer_json)
    j["normalizer"] = None
    j["pre_tokenizer"] = {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": scheme, "split": split}
    j["decoder"] = {"type": "Sequence", "decoders": [
        {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": scheme, "split": split},
        {"type": "ByteFallback"}, {"type": "Fuse"}]}
    return json.dumps(j, ensure_ascii=False)


def write_metaspace_cases(root):
    d = os.path.join(root, "llama2")
    src = open(os.path.join(d, "tokenizer.json"), encoding="utf-8").read()
    out = []
    for scheme, split in METASPACE_VARIANTS:
        tok = tokenizers.Tokenizer.from_str(metaspace_variant(src, scheme, split))
        for t in TEXTS + ["<s>[INST] hi [/INST] ok</s> more", "  two  spaces", "\u2581lead"]:
            e = tok.encode(t, add_special_tokens=False)
            out.append({"prepend_scheme": scheme, "split": split, "text": t, "ids": e.ids,
                        "decoded": tok.decode(e.ids, skip_special_tokens=False)})
    with open(os.path.join(d, "hf_metaspace_cases.json"), "w", encoding="utf-8") as f:
        json.dump({"source": f"Hugging Face tokenizers {tokenizers.__version__}: llama2 with normalizer null, "
                             "pre_tokenizer Metaspace(prepend_scheme, split), decoder [Metaspace, ByteFallback, Fuse]; "
                             "tests/reference/hf_tokenizers_cases.py", "cases": out}, f, ensure_ascii=False, indent=0)
    print(f"llama2: wrote {len(out)} Metaspace cases")


EXTRA_ADDED = [
    {"content": "foo bar", "single_word": False, "lstrip": False, "rstrip": False, "normalized": True, "special": False},
    {"content": "caf\u00e9", "single_word": False, "lstrip": False, "rstrip": False, "normalized": True, "special": False},
    {"content": "<tag>", "single_word": False, "lstrip": True, "rstrip": False, "normalized": True, "special": True},
    {"content": "[SEP]", "single_word": False, "lstrip": False, "rstrip": True, "normalized": False, "special": True},
    {"content": "word", "single_word": True, "lstrip": False, "rstrip": False, "normalized": False, "special": False},
]
ADDED_TEXTS = ["a foo bar b", "foo bar", "xfoo barx", "cafe\u0301 caf\u00e9", "  <tag> x", "hello<tag>",
               "x [SEP]  y", "[SEP]\n\nz", "word words sword _word word.", " word\u00a0word"]


def write_added_cases(root):
    """Each test tokenizer with EXTRA_ADDED appended (normalized / lstrip / rstrip / single_word)."""
    out = {"source": f"Hugging Face tokenizers {tokenizers.__version__}, tests/reference/hf_tokenizers_cases.py",
           "tokenizers": {}}
    for name in ("llama2", "llama3", "qwen3"):
        d = os.path.join(root, name)
        p = os.path.join(d, "tokenizer.json")
        src = open(p, encoding="utf-8").read() if os.path.exists(p) else \
            subprocess.run(["zstd", "-dc", p + ".zst"], check=True, capture_output=True).stdout.decode("utf-8")
        j = json.loads(src)
        nid = max(max(j["model"]["vocab"].values()), max(a["id"] for a in j["added_tokens"])) + 1
        added = [dict(a, id=nid + i) for i, a in enumerate(EXTRA_ADDED)]
        j["added_tokens"] += added
        tok = tokenizers.Tokenizer.from_str(json.dumps(j, ensure_ascii=False))
        cases = [{"text": t, "ids": tok.encode(t, add_special_tokens=True).ids} for t in ADDED_TEXTS]
        out["tokenizers"][name] = {"added_tokens": added, "cases": cases}
    with open(os.path.join(root, "hf_added_cases.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=0)
    print("wrote hf_added_cases.json")


BL = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}
PRE_VARIANTS = [
    {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
    {"type": "Sequence", "pretokenizers": [{"type": "Whitespace"}, BL]},
    {"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": False}, {"type": "Punctuation"}, BL]},
    {"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "[aeiou]"}, "behavior": "MergedWithNext",
                                            "invert": False}, BL]},
    {"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "[aeiou]"}, "behavior": "MergedWithPrevious",
                                            "invert": False}, BL]},
    {"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"String": " "}, "behavior": "Contiguous",
                                            "invert": True}, BL]},
    {"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "\\w+|\\W"}, "behavior": "Removed",
                                            "invert": True}, BL]},
]
PRE_TEXTS = ["Hello, world! 12345 and 3.14 -- x", "uae eaux   queue\tooo", "  spaced  out  ", "caf\u00e9 na\u00efve \u0915\u094d\u0915",
             "a_b __init__ \u2460\u2461 \u0661\u0662", "\u65e5\u672c\u8a9e, \u4e2d\u6587! \U0001f600?", ""]


def write_pretok_cases(root):
    """llama3's vocabulary under other pre-tokenizers (Split behaviours, Whitespace, Digits, ...)."""
    raw = subprocess.run(["zstd", "-dc", os.path.join(root, "llama3", "tokenizer.json.zst")], check=True,
                         capture_output=True).stdout.decode("utf-8")
    base = json.loads(raw)
    out = []
    for pre in PRE_VARIANTS:
        base["pre_tokenizer"] = pre
        tok = tokenizers.Tokenizer.from_str(json.dumps(base, ensure_ascii=False))
        out.append({"pre_tokenizer": pre, "cases": [{"text": t, "ids": tok.encode(t, add_special_tokens=False).ids}
                                                    for t in PRE_TEXTS]})
    with open(os.path.join(root, "llama3", "hf_pretok_cases.json"), "w", encoding="utf-8") as f:
        json.dump({"source": f"Hugging Face tokenizers {tokenizers.__version__}: llama3 with other pre_tokenizers, "
                             "tests/reference/hf_tokenizers_cases.py", "variants": out}, f, ensure_ascii=False, indent=0)
    print(f"llama3: wrote {len(out)} pre-tokenizer variants")


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "data", "tokenizers")
    for name in sorted(os.listdir(root)):
        d = os.path.join(root, name)
        if not os.path.isdir(d):
            continue
        tok = load(d)
        # agreement with cases.json
        cases = json.load(open(os.path.join(d, "cases.json")))["cases"]
        bad = 0
        for c in cases:
            ids = tok.encode(c["text"], add_special_tokens=False).ids
            if ids != c["ids"]:
                bad += 1
                print(f"{name}: HF differs from cases.json for {c['text']!r}: {ids} vs {c['ids']}")
        print(f"{name}: cases.json agrees with tokenizers {tokenizers.__version__} on {len(cases) - bad}/{len(cases)}")
        out = []
        for t in TEXTS:
            e = tok.encode(t, add_special_tokens=False)
            es = tok.encode(t, add_special_tokens=True)
            out.append({"text": t, "ids": e.ids, "ids_special": es.ids,
                        "decoded": tok.decode(e.ids, skip_special_tokens=False)})
        with open(os.path.join(d, "hf_extra_cases.json"), "w", encoding="utf-8") as f:
            json.dump({"source": f"Hugging Face tokenizers {tokenizers.__version__} (PyPI), "
                                 "tests/reference/hf_tokenizers_cases.py", "cases": out}, f, ensure_ascii=False, indent=0)
        print(f"{name}: wrote {len(out)} cases")
    write_metaspace_cases(root)
    write_added_cases(root)
    write_pretok_cases(root)


if __name__ == "__main__":
    main()
