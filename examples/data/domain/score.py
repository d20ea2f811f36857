#!/usr/bin/env python3
"""score.py - scores generated answers to the held-out questions of the Orbik support dataset
(make_data.py) against the house format and the facts:
  format    the first line starts with "Answer:" and a line reads "Ref: KB-" and four digits
  ref       that line names the expected article (the "kb" of the question)
  keywords  every keyword of the expected answer appears (case-insensitive)
  correct   all three
    score.py HELDOUT.jsonl ANSWERS.jsonl [--json OUT] [--quiet]
ANSWERS.jsonl holds one JSON object per answered question, {"i": index into HELDOUT, "text": answer}
(clft generate --json output with an "i" added works too). Prints each question, its answer and its
marks, then the totals; --json writes the totals and the per-question marks. Standard library only."""
import argparse
import json
import re
import sys

REF = re.compile(r"^Ref: (KB-\d{4})\s*$", re.M)


def mark(row, text):
    text = text.strip()
    first = text.split("\n", 1)[0]
    refs = REF.findall(text)
    fmt = first.startswith("Answer:") and len(refs) == 1
    ref = row["kb"] in refs
    low = text.lower()  # a keyword counts as a whole word: "2 months" is not in "12 months"
    keys = all(re.search(r"(?<![\w.])" + re.escape(k.lower()) + r"(?!\w)", low) for k in row["keywords"])
    return {"format": fmt, "ref": ref, "keywords": keys, "correct": fmt and ref and keys}


def score(held, answers):
    marks = []
    for a in answers:
        row = held[a["i"]]
        m = mark(row, a["text"])
        m.update(i=a["i"], question=row["messages"][-2]["content"], text=a["text"])
        marks.append(m)
    n = max(len(marks), 1)
    totals = {k: sum(m[k] for m in marks) / n for k in ("format", "ref", "keywords", "correct")}
    totals["questions"] = len(marks)
    return totals, marks


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("heldout")
    ap.add_argument("answers")
    ap.add_argument("--json", help="write the totals and marks here")
    ap.add_argument("--quiet", action="store_true", help="totals only")
    ap.add_argument("--label", default="", help="a word printed before the totals")
    args = ap.parse_args()
    held = [json.loads(l) for l in open(args.heldout, encoding="utf-8") if l.strip()]
    answers = [json.loads(l) for l in open(args.answers, encoding="utf-8") if l.strip()]
    for a in answers:
        if not isinstance(a.get("i"), int) or not 0 <= a["i"] < len(held) or not isinstance(a.get("text"), str):
            sys.exit(f"score.py: {args.answers}: every line needs \"i\" (0..{len(held) - 1}) and \"text\"")
    totals, marks = score(held, answers)
    if not args.quiet:
        for m in marks:
            flags = " ".join(f"{k}:{'yes' if m[k] else 'no'}" for k in ("format", "ref", "keywords"))
            ans = m["text"].strip().replace("\n", "\n     ")
            print(f"  Q: {m['question']}\n  A: {ans}\n     [{flags}]")
    print(f"{args.label + ' ' if args.label else ''}score on {totals['questions']} held-out questions: "
          f"format {100 * totals['format']:.0f}%, article {100 * totals['ref']:.0f}%, "
          f"facts {100 * totals['keywords']:.0f}%, all correct {100 * totals['correct']:.0f}%")
    if args.json:
        with open(args.json + ".tmp", "w", encoding="utf-8") as f:
            json.dump({"totals": totals, "marks": marks}, f, indent=1, ensure_ascii=False)
        import os
        os.replace(args.json + ".tmp", args.json)


if __name__ == "__main__":
    main()
