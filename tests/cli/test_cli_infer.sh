#!/bin/sh
# test_cli_infer.sh - `clft generate` and `clft eval` from the command line on a `clft init --preset
# tiny` model and a LoRA/QLoRA run of it: greedy generation is deterministic and the same with the
# adapter given as the run folder or its checkpoint, --json output, --chat with the model's template,
# --stop, streaming equals --json's text; eval prints loss, perplexity and accuracy, --out writes the
# JSON, --run takes a run's settings, and the loss equals what `clft train` evaluated on the same file;
# every bad input of both commands as a one-line error with exit 2.
# --prompts FILE: one JSON line per prompt, each equal to --prompt alone; bad lines named by file:line.
# Usage: test_cli_infer.sh CLFT_BINARY SCRATCH_DIR SOURCE_DIR
set -u
. "$(dirname "$0")/../io/cli_common.sh" "$1" "$2"
SRC=$3
D="$SRC/examples/data"
one_line() { [ "$(wc -l < "$T/stderr")" -eq 1 ] && grep -q -- "$1" "$T/stderr"; }
jget() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$1" "$2"; }

check "init tiny" code 0 "$CLFT" init --preset tiny --out "$T/m" --seed 4
check "a QLoRA run with an eval set" code 0 "$CLFT" train --model "$T/m" --data "$D/completion.jsonl" \
    --eval-data dev="$D/completion.jsonl" --seq-len 96 --batch 4 --steps 3 --lr 5e-3 --out "$T/run" --quiet

# ---- generate ------------------------------------------------------------------------------------------
G="--model $T/m --adapter $T/run --max-tokens 16 --temperature 0"
check "generate, greedy" code 0 "$CLFT" generate $G --prompt "Question: What do drones do?"
cp "$T/stdout" "$T/g1"
check "... prints a summary line on stderr" grep -q "^\[nf4 base, QLoRA adapter, plain\] prompt [0-9]* tokens" "$T/stderr"
check "greedy again: the same text" code 0 "$CLFT" generate $G --prompt "Question: What do drones do?" --quiet
check "... identical" cmp -s "$T/stdout" "$T/g1"
check "the checkpoint folder as the adapter: the same text" code 0 "$CLFT" generate --model "$T/m" \
    --adapter "$T/run/checkpoint-3" --max-tokens 16 --temperature 0 --prompt "Question: What do drones do?" --quiet
check "... identical" cmp -s "$T/stdout" "$T/g1"
check "--json" code 0 "$CLFT" generate $G --prompt "Question: What do drones do?" --json --quiet
check "... text as streamed, 16 ids, the prompt's ids" python3 - "$T/stdout" "$T/g1" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
streamed = open(sys.argv[2], encoding="utf-8", errors="surrogateescape").read()
assert streamed == j["text"] + "\n", (streamed, j["text"])
assert len(j["ids"]) == j["generated_tokens"] <= 16 and j["prompt_tokens"] == len(j["prompt_ids"]) > 5, j
assert j["stop"] in ("max tokens", "end token"), j["stop"]
PY
check "sampling with a seed is reproducible" sh -c "'$CLFT' generate $G --temperature 1 --top-k 0 --top-p 1 \
    --min-p 0 --seed 9 --prompt hello --json --quiet > '$T/s1' && '$CLFT' generate $G --temperature 1 --top-k 0 \
    --top-p 1 --min-p 0 --seed 9 --prompt hello --json --quiet > '$T/s2' && \
    python3 -c 'import json,sys; a,b=[json.load(open(f)) for f in sys.argv[1:]]; assert a[\"ids\"]==b[\"ids\"]' \
    '$T/s1' '$T/s2'"
printf 'Question: What do drones do?' > "$T/prompt.txt"
check "--prompt-file" code 0 "$CLFT" generate $G --prompt-file "$T/prompt.txt" --quiet
check "... the same text as --prompt" cmp -s "$T/stdout" "$T/g1"
check "--prompt-file - (standard input)" sh -c "'$CLFT' generate $G --prompt-file - --quiet < '$T/prompt.txt' > '$T/gin' \
    && cmp -s '$T/gin' '$T/g1'"
printf '{"prompt": "Question: What do drones do?"}\n\n{"prompt": "hi"}\n' > "$T/prompts.jsonl"
check "--prompts: one JSON line per prompt, each the text --prompt makes alone" sh -c "
    '$CLFT' generate $G --prompts '$T/prompts.jsonl' > '$T/pm' 2> /dev/null &&
    '$CLFT' generate $G --prompt 'Question: What do drones do?' --json --quiet > '$T/p1' &&
    '$CLFT' generate $G --prompt hi --json --quiet > '$T/p2' &&
    python3 -c 'import json,sys; m=[json.loads(l) for l in open(sys.argv[1])]; a,b=[json.load(open(f)) for f in sys.argv[2:]]; \
        assert [x[\"i\"] for x in m]==[0,1] and m[0][\"text\"]==a[\"text\"] and m[1][\"text\"]==b[\"text\"] \
        and m[0][\"generated_tokens\"]==a[\"generated_tokens\"], m' '$T/pm' '$T/p1' '$T/p2'"
printf '{"prompt": "hi"}\n[1, 2]\n' > "$T/badprompts.jsonl"
check "--prompts with a line that is no object (exit 2)" code 2 "$CLFT" generate $G --prompts "$T/badprompts.jsonl"
check "... one line naming the file and line" one_line "badprompts.jsonl:2: not a JSON object"
printf '{"messages": [{"role": "user", "content": "hi"}]}\n' > "$T/chatprompts.jsonl"
check "--prompts with messages but no --chat (exit 2)" code 2 "$CLFT" generate $G --prompts "$T/chatprompts.jsonl"
check "... one line" one_line "needs --chat"
check "--prompts with messages and --chat" code 0 "$CLFT" generate $G --chat --prompts "$T/chatprompts.jsonl"
check "--chat with the model's template (llama2 for clft init's tokenizer)" code 0 "$CLFT" generate $G --chat \
    --system "Be brief." --prompt "What do drones do?"
check "... named in the summary" grep -q ", llama2\] prompt" "$T/stderr"
check "--chat-template chatml" code 0 "$CLFT" generate $G --chat --chat-template chatml --prompt "hi"
check "--stop: the text ends before the stop string" sh -c "
    s=\$(python3 -c 'import sys; t=open(sys.argv[1], encoding=\"utf-8\", errors=\"replace\").read().rstrip(\"\\n\"); \
        print(next((c for c in t[2:] if c.isprintable() and not c.isspace() and c != \"\\ufffd\"), \"\"), end=\"\")' '$T/g1')
    [ -n \"\$s\" ] || { echo 'no character to stop at in the greedy text'; exit 1; }
    '$CLFT' generate $G --prompt 'Question: What do drones do?' --stop \"\$s\" --json --quiet > '$T/st' &&
    python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); t=open(sys.argv[2], encoding=\"utf-8\", \
        errors=\"surrogateescape\").read(); assert j[\"stop\"] == \"stop string\" and sys.argv[3] not in j[\"text\"] \
        and t.startswith(j[\"text\"]), j' '$T/st' '$T/g1' \"\$s\""
check "LoRA base storage override (--base-dtype bf16)" code 0 "$CLFT" generate --model "$T/m" --prompt hi \
    --max-tokens 4 --base-dtype bf16
check "... said in the summary" grep -q "^\[bf16" "$T/stderr"
# bad input
check "no --model" code 2 "$CLFT" generate --prompt hi
check "... one line" one_line "--model DIR is required"
check "no prompt" code 2 "$CLFT" generate --model "$T/m"
check "... one line" one_line "one of --prompt TEXT, --prompt-file FILE or --prompts FILE"
check "--max-tokens 0" code 2 "$CLFT" generate --model "$T/m" --prompt hi --max-tokens 0
check "... one line" one_line "max-tokens 0"
check "a negative temperature" code 2 "$CLFT" generate --model "$T/m" --prompt hi --temperature -0.5
check "... one line" one_line "must not be negative"
check "--top-p 0" code 2 "$CLFT" generate --model "$T/m" --prompt hi --top-p 0
check "a prompt longer than the context" code 2 "$CLFT" generate --model "$T/m" --prompt-file "$D/text.jsonl" \
    --context 64
check "... one line" one_line "the context holds 64"
check "a missing model folder" code 2 "$CLFT" generate --model "$T/none" --prompt hi
check "... one line" one_line "none"
check "a missing adapter folder" code 2 "$CLFT" generate --model "$T/m" --adapter "$T/none" --prompt hi
check "... one line" one_line "--adapter"
mkdir -p "$T/ia3" && sed 's/"peft_type": "LORA"/"peft_type": "IA3"/' "$T/run/adapter_config.json" > "$T/ia3/adapter_config.json" &&
    cp "$T/run/adapter_model.safetensors" "$T/ia3/"
check "an adapter whose peft_type is IA3" code 2 "$CLFT" generate --model "$T/m" --adapter "$T/ia3" --prompt hi
check "... one line naming it" one_line "IA3"
"$CLFT" init --preset tiny --config-only --out "$T/ocfg" >/dev/null 2>&1
python3 - "$T/ocfg/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["hidden_size"], c["head_dim"] = 48, 12
json.dump(c, open(sys.argv[1], "w"))
PY
"$CLFT" init --config "$T/ocfg/config.json" --out "$T/other" >/dev/null 2>&1
check "an adapter for another base (hidden 48)" code 2 "$CLFT" generate --model "$T/other" --adapter "$T/run" --prompt hi
check "... one line" one_line "lora_A"
check "--system without --chat" code 2 "$CLFT" generate --model "$T/m" --prompt hi --system x
check "an unknown option" code 2 "$CLFT" generate --model "$T/m" --prompt hi --frobnicate
check "--chat on a model without a known template needs --chat-template" sh -c "
    cp -r '$T/m' '$T/nt' && python3 -c 'import json,sys; p=sys.argv[1]; c=json.load(open(p)); c.pop(\"chat_template\", None); \
        json.dump(c, open(p, \"w\"))' '$T/nt/tokenizer_config.json' &&
    '$CLFT' generate --model '$T/nt' --prompt hi --chat > /dev/null 2> '$T/stderr'; [ \$? -eq 2 ] && \
    grep -q 'chat-template' '$T/stderr'"

# ---- eval ----------------------------------------------------------------------------------------------
check "eval" code 0 "$CLFT" eval --model "$T/m" --adapter "$T/run" --data "$D/completion.jsonl" --seq-len 96 \
    --out "$T/ev.json"
check "... loss, perplexity and accuracy" grep -q "^loss [0-9.]*  perplexity [0-9.]*  accuracy [0-9.]* (" "$T/stdout"
check "... the loss of clft train's last evaluation on the same file, perplexity = exp(loss)" python3 - \
    "$T/ev.json" "$T/run/metrics.jsonl" <<'PY'
import json, math, sys
e = json.load(open(sys.argv[1]))
last = [json.loads(l) for l in open(sys.argv[2])][-1]
assert abs(e["loss"] - last["eval"]["dev"]) <= 1e-6 * abs(e["loss"]), (e["loss"], last["eval"])
assert abs(e["perplexity"] - math.exp(e["loss"])) <= 1e-9 * e["perplexity"]
assert 0 <= e["accuracy"] <= 1 and e["correct"] <= e["tokens"] and e["tokens"] > 0
assert e["base"].startswith("nf4") and e["format"] == "completion", e
PY
check "eval --run: the run's model, adapter, data settings and data" code 0 "$CLFT" eval --run "$T/run" --json
check "... the same numbers" python3 - "$T/stdout" "$T/ev.json" <<'PY'
import json, sys
a, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
for k in ("loss", "tokens", "correct", "examples"):
    assert a[k] == b[k], (k, a[k], b[k])
PY
check "eval without an adapter (the base alone)" code 0 "$CLFT" eval --model "$T/m" --data "$D/chat.jsonl" \
    --seq-len 128 --json
check "... counts only the assistant tokens (chat)" python3 -c "
import json, sys
j = json.load(open(sys.argv[1]))
assert j['format'] == 'chat' and j['adapter'] is None and 0 < j['tokens'], j" "$T/stdout"
check "eval: no --data" code 2 "$CLFT" eval --model "$T/m"
check "... one line" one_line "--data FILE is required"
check "eval: a missing data file" code 2 "$CLFT" eval --model "$T/m" --data "$T/none.jsonl"
check "... one line" one_line "none.jsonl"
printf '{"prompt": "a", "completion": "b"}\n{"prompt": 3}\n' > "$T/bad.jsonl"
check "eval: a bad JSONL line" code 2 "$CLFT" eval --model "$T/m" --data "$T/bad.jsonl"
check "... FILE:LINE" one_line "bad.jsonl:2"
check "eval: --seq-len 1" code 2 "$CLFT" eval --model "$T/m" --data "$D/completion.jsonl" --seq-len 1
check "eval --run of a folder without a run" code 2 "$CLFT" eval --run "$T/m"
check "... one line" one_line "train_config.json"
check "eval: an adapter for another base" code 2 "$CLFT" eval --model "$T/other" --adapter "$T/run" \
    --data "$D/completion.jsonl"
check "... one line" one_line "lora_A"

# ---- a full fine-tuning run's model folder; an adapter made by PEFT itself -----------------------------
check "a full fine-tuning run" code 0 "$CLFT" train --model "$T/m" --data "$D/completion.jsonl" --method full \
    --seq-len 96 --batch 4 --steps 2 --out "$T/full" --quiet
check "generate from its model folder" code 0 "$CLFT" generate --model "$T/full" --prompt hi --max-tokens 4 \
    --temperature 0 --quiet
check "eval --run of it (its trained model)" code 0 "$CLFT" eval --run "$T/full" --json
check "... the trained model, no adapter" python3 -c "
import json, sys
j = json.load(open(sys.argv[1]))
assert j['adapter'] is None and j['model'].endswith('/full') and j['tokens'] > 0, j" "$T/stdout"
L="$SRC/tests/lora/data"
check "the PEFT fixtures' base (clft init, seed 7)" code 0 "$CLFT" init --config "$L/base_config.json" --seed 7 \
    --out "$T/pbase"
check "generate with an adapter PEFT made (r 4, q/v/down)" code 0 "$CLFT" generate --model "$T/pbase" \
    --adapter "$L/peft_lora" --prompt hi --max-tokens 4 --temperature 0 --quiet
check "clft train --adapter of that PEFT adapter" code 0 "$CLFT" train --model "$T/pbase" --adapter "$L/peft_lora" \
    --data "$D/completion.jsonl" --method lora --seq-len 64 --batch 4 --steps 2 --out "$T/cont" --quiet
check "... continues it with PEFT's rank, alpha and targets, and writes an adapter of them" python3 - \
    "$T/cont/adapter_config.json" "$L/peft_lora/adapter_config.json" <<'PY'
import json, sys
a, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
for k in ("r", "lora_alpha", "use_rslora"):
    assert a[k] == b[k], (k, a[k], b[k])
assert sorted(a["target_modules"]) == sorted(b["target_modules"]), (a["target_modules"], b["target_modules"])
PY

[ $fail -eq 0 ] && rm -rf "$T"
exit $fail
