#!/usr/bin/env python3
"""Randomised cross-check of clft's tokenizer against the Hugging Face `tokenizers` package:
random texts (words, digits, whitespace runs, CJK, emoji sequences, combining marks, controls,
added tokens, arbitrary code points) through both, ids and decodings compared. Not a ctest (needs
the PyPI package); run by hand after changing src/tokenizer:

    /tmp/tok_hfvenv/bin/python tests/reference/hf_tokenizers_random.py build/libclft.so [N] [SEED]

Known difference: code points assigned after the Unicode version of the system's PCRE2 (10.42:
Unicode 14) are letters for the Hugging Face library (Unicode 16) but not for clft's regexes, so a
random code point from e.g. Egyptian Hieroglyphs Extended-A (U+13460..) can split differently.
"""
import ctypes
import json
import os
import random
import subprocess
import sys
import tempfile

import tokenizers

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "tokenizers")
POOL = ["the", "The", "HELLO", "world", "don't", "'s", "'LL", "x", "über", "naïve", "東京", "日本語", "한국어",
        "\u1100\u1161\u11a8", "e\u0301", "\u0301", "😀", "👍🏽", "👨\u200d👩\u200d👧", "🇫🇷", "123", "4567890", "3.14",
        "-", "--", "...", "!?", "(", ")", "{", "}", "<", ">", "<|", "|>", "_", "__", "@", "#", "$", "€", "\u2581",
        " ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", "\r", "\u00a0", "\u3000", "\u2009", "\u200b", "\x00", "\x07",
        "\x1b", "\x7f", "\x85", "ﬁ", "Ａ", "①", "ǅ", "İ", "ß", "Ω", "ω", "\u0627\u0644", "\u05e9", "\u0915\u094d"]


def rand_cp(rng):
    while True:
        cp = rng.choice([rng.randrange(0x20, 0x80), rng.randrange(0x80, 0x800), rng.randrange(0x800, 0x10000),
                         rng.randrange(0x10000, 0x110000)])
        if not 0xD800 <= cp <= 0xDFFF:
            return chr(cp)


def rand_text(rng, specials):
    parts = []
    for _ in range(rng.randrange(0, 25)):
        r = rng.random()
        if r < 0.65:
            parts.append(rng.choice(POOL))
        elif r < 0.8:
            parts.append(rand_cp(rng))
        elif r < 0.9 and specials:
            parts.append(rng.choice(specials))
        else:
            parts.append(" ")
    return "".join(parts)


def load_hf(d):
    p = os.path.join(d, "tokenizer.json")
    if os.path.exists(p):
        return tokenizers.Tokenizer.from_file(p)
    raw = subprocess.run(["zstd", "-dc", p + ".zst"], check=True, capture_output=True).stdout
    return tokenizers.Tokenizer.from_str(raw.decode("utf-8"))


BL = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}
PRE_VARIANTS = [  # llama3 with these pre-tokenizers instead of its own
    {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
    {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
    {"type": "Sequence", "pretokenizers": [{"type": "Whitespace"}, BL]},
    {"type": "Sequence", "pretokenizers": [{"type": "WhitespaceSplit"}, BL]},
    {"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": True}, BL]},
    {"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": False}, BL]},
    {"type": "Sequence", "pretokenizers": [{"type": "Punctuation", "behavior": "Isolated"}, BL]},
    {"type": "Sequence", "pretokenizers": [{"type": "Punctuation", "behavior": "Contiguous"}, BL]},
] + [
    {"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": pat, "behavior": beh, "invert": inv}, BL]}
    for pat in ({"Regex": "\\s+"}, {"String": " "}, {"Regex": "[aeiou]"}, {"Regex": "\\w+|\\W"})
    for beh in ("Removed", "Isolated", "MergedWithPrevious", "MergedWithNext", "Contiguous")
    for inv in (False, True)
]


def check_variants(lib, n, seed):
    """llama3's vocabulary under other pre-tokenizers, through clft_tokenizer_load_from_memory."""
    lib.clft_tokenizer_load_from_memory.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t,
                                                    ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p)]
    lib.clft_tokenizer_free.argtypes = [ctypes.c_void_p]
    raw = subprocess.run(["zstd", "-dc", os.path.join(ROOT, "llama3", "tokenizer.json.zst")], check=True,
                         capture_output=True).stdout.decode("utf-8")
    base = json.loads(raw)
    bad = 0
    for v, pre in enumerate(PRE_VARIANTS):
        base["pre_tokenizer"] = pre
        js = json.dumps(base, ensure_ascii=False)
        hf = tokenizers.Tokenizer.from_str(js)
        tok = ctypes.c_void_p()
        b = js.encode()
        if lib.clft_tokenizer_load_from_memory(b, len(b), None, 0, b"variant", ctypes.byref(tok)) != 0:
            print(f"variant {v}: {lib.clft_last_error().decode()}")
            bad += 1
            continue
        rng = random.Random(seed + v)
        vbad = 0
        for _ in range(n):
            text = rand_text(rng, [])
            want = hf.encode(text, add_special_tokens=False).ids
            got = encode(lib, tok, text)
            if got != want:
                vbad += 1
                if vbad <= 2:
                    print(f"variant {v} {json.dumps(pre)[:120]}: MISMATCH {text!r}\n  ids {got}\n  hf  {want}")
        lib.clft_tokenizer_free(tok)
        bad += vbad
    print(f"pre-tokenizer variants: {len(PRE_VARIANTS)} x {n} texts, {bad} mismatches")
    return bad


def encode(lib, tok, text):
    b = text.encode("utf-8")
    ids = ctypes.POINTER(ctypes.c_int32)()
    cnt = ctypes.c_size_t()
    if lib.clft_tokenize(tok, b, len(b), 0, ctypes.byref(ids), ctypes.byref(cnt)) != 0:
        return "error: " + lib.clft_last_error().decode()
    got = [ids[k] for k in range(cnt.value)]
    lib.clft_free(ids)
    return got


def main():
    lib = ctypes.CDLL(sys.argv[1] if len(sys.argv) > 1 else "build/libclft.so")
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    lib.clft_tokenizer_load.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p)]
    lib.clft_tokenize.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int,
                                  ctypes.POINTER(ctypes.POINTER(ctypes.c_int32)), ctypes.POINTER(ctypes.c_size_t)]
    lib.clft_detokenize.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int32), ctypes.c_size_t, ctypes.c_int,
                                    ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(ctypes.c_size_t)]
    lib.clft_last_error.restype = ctypes.c_char_p
    lib.clft_free.argtypes = [ctypes.c_void_p]
    bad_total = 0
    for name in ("llama2", "llama3", "qwen3"):
        d = os.path.join(ROOT, name)
        hf = load_hf(d)
        tok = ctypes.c_void_p()
        if lib.clft_tokenizer_load(d.encode(), ctypes.byref(tok)) != 0:
            sys.exit(f"{name}: {lib.clft_last_error().decode()}")
        specials = [t.content for t in hf.get_added_tokens_decoder().values()][:40]
        rng = random.Random(seed)
        bad = 0
        for i in range(n):
            text = rand_text(rng, specials)
            want = hf.encode(text, add_special_tokens=False).ids
            b = text.encode("utf-8")
            ids = ctypes.POINTER(ctypes.c_int32)()
            cnt = ctypes.c_size_t()
            if lib.clft_tokenize(tok, b, len(b), 0, ctypes.byref(ids), ctypes.byref(cnt)) != 0:
                print(f"{name}: error on {text!r}: {lib.clft_last_error().decode()}")
                bad += 1
                continue
            got = [ids[k] for k in range(cnt.value)]
            out = ctypes.c_char_p()
            ol = ctypes.c_size_t()
            lib.clft_detokenize(tok, ids, cnt, 0, ctypes.byref(out), ctypes.byref(ol))
            dec = ctypes.string_at(out, ol.value).decode("utf-8")
            lib.clft_free(out)
            lib.clft_free(ids)
            want_dec = hf.decode(want, skip_special_tokens=False)
            if got != want or dec != want_dec:
                bad += 1
                if bad <= 5:
                    print(f"{name}: MISMATCH {text!r}\n  ids {got}\n  hf  {want}\n  dec {dec!r}\n  hf  {want_dec!r}")
        print(f"{name}: {n - bad}/{n} random texts agree with tokenizers {tokenizers.__version__}")
        bad_total += bad
    bad_total += check_variants(lib, max(n // 10, 50), seed)
    sys.exit(1 if bad_total else 0)


if __name__ == "__main__":
    main()
