#!/bin/sh
# examples/data/domain (the demo's Orbik support dataset): make_data.py writes exactly the committed
# train.jsonl and heldout.jsonl, and score.py gives the held-out answers themselves 100% and
# answers in another format 0%.
#   check_domain_data.sh SOURCE_DIR
set -eu
src="$1/examples/data/domain"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/clft-domain-XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
python3 "$src/make_data.py" --out "$tmp" >/dev/null
for f in train.jsonl heldout.jsonl; do
  cmp "$src/$f" "$tmp/$f" || { echo "FAIL: $src/$f is not what make_data.py writes (run it and commit)"; exit 1; }
done
python3 - "$src/heldout.jsonl" "$tmp" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
with open(sys.argv[2] + "/right.jsonl", "w") as f:
    for i, r in enumerate(rows):
        f.write(json.dumps({"i": i, "text": r["messages"][-1]["content"]}) + "\n")
with open(sys.argv[2] + "/wrong.jsonl", "w") as f:
    for i, r in enumerate(rows):
        f.write(json.dumps({"i": i, "text": "Ref: " + r["kb"] + "\nAnswer: no idea, 12 months"}) + "\n")
PY
python3 "$src/score.py" "$src/heldout.jsonl" "$tmp/right.jsonl" --quiet --json "$tmp/right.json"
python3 "$src/score.py" "$src/heldout.jsonl" "$tmp/wrong.jsonl" --quiet --json "$tmp/wrong.json"
python3 - "$tmp" <<'PY'
import json, sys
r = json.load(open(sys.argv[1] + "/right.json"))["totals"]
w = json.load(open(sys.argv[1] + "/wrong.json"))["totals"]
assert all(r[k] == 1.0 for k in ("format", "ref", "keywords", "correct")), r
assert w["format"] == 0.0 and w["correct"] == 0.0 and w["ref"] == 1.0, w
print("OK: the dataset is make_data.py's, score.py marks", r["questions"], "right answers right and misformatted ones wrong")
PY
