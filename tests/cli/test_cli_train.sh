#!/bin/sh
# test_cli_train.sh - `clft train` from the command line on a `clft init --preset tiny` model:
# every data format x method end to end (metrics.jsonl lines, config.json, checkpoint, report.html);
# resume bit-identity (K steps + --resume = N steps, loss by loss; also across SIGINT mid-epoch with
# grad-accum 2, LoRA dropout and shuffling over epoch boundaries); SIGKILL at random moments of a run
# saving every step (every checkpoint left verifies, --resume repairs metrics.jsonl and ends identical);
# every bad input as a one-line error with exit 2; --dry-run; early stop keeping the best checkpoint;
# --config under flags; the plain progress lines off a terminal.
# Usage: test_cli_train.sh CLFT_BINARY SCRATCH_DIR CKPT_VERIFY_BINARY SOURCE_DIR
set -u
. "$(dirname "$0")/../io/cli_common.sh" "$1" "$2"
# Runs are compared loss by loss across processes: one GEMM path for all of them, since the measured
# choice is timed per process and other tests running beside this one (ctest -j) rewrite the shared
# decisions file, so two processes may round differently (a resumed run itself keeps its
# checkpoint's paths: tests/train/test_state.c)
export CLFT_GEMM=tiled
VERIFY=$3
SRC=$4
D="$SRC/examples/data"
F="$SRC/tests/dataset"
one_line() { [ "$(wc -l < "$T/stderr")" -eq 1 ] && grep -q -- "$1" "$T/stderr"; }
# metrics_ok FILE N: N lines, each one JSON object with the per-step keys (eval lines: an "eval" object)
metrics_ok() {
    python3 - "$1" "$2" <<'PY'
import json, sys
lines = open(sys.argv[1]).read().split("\n")
assert lines[-1] == "", "last line not terminated"
lines = lines[:-1]
assert len(lines) == int(sys.argv[2]), "%d lines, expected %s" % (len(lines), sys.argv[2])
for i, l in enumerate(lines):
    o = json.loads(l)
    for k in ("step", "epoch", "loss", "lr", "grad_norm", "tokens", "tokens_per_s", "skipped"):
        assert k in o, "line %d lacks %s" % (i + 1, k)
    assert o["step"] == i + 1, "line %d is step %s" % (i + 1, o["step"])
    assert "eval" not in o or isinstance(o["eval"], dict)
PY
}
losses() { sed 's/.*"loss": \([^,]*\),.*/\1/' "$1"; } # the exact text of each loss
same_losses() { losses "$1" > "$T/la"; losses "$2" > "$T/lb"; [ -s "$T/la" ] && cmp -s "$T/la" "$T/lb"; }
n_lines() { [ "$(wc -l < "$1")" -eq "$2" ]; }
wait_lines() { # wait_lines FILE N PID: until FILE has N lines (or the process ended)
    i=0
    while [ "$(cat "$1" 2>/dev/null | wc -l)" -lt "$2" ] && kill -0 "$3" 2>/dev/null && [ $i -lt 1200 ]; do
        sleep 0.05
        i=$((i + 1))
    done
}

check "init tiny" code 0 "$CLFT" init --preset tiny --out "$T/m" --seed 1
M="--model $T/m --batch 2 --quiet"

# ---- 1. every format x method ------------------------------------------------------------------
# alpaca's template alone is ~150 byte-level tokens: a shorter row truncates every output away
for fmt in text completion alpaca chat; do
    seq=128
    [ $fmt = alpaca ] && seq=384
    for method in full lora qlora; do
        o="$T/e2e-$fmt-$method"
        check "$fmt x $method runs" code 0 "$CLFT" train $M --data "$D/$fmt.jsonl" --method $method --seq-len $seq \
            --steps 2 --out "$o"
        check "$fmt x $method: metrics.jsonl, one line per step" metrics_ok "$o/metrics.jsonl" 2
        check "$fmt x $method: train_config.json" python3 -c "import json,sys; assert json.load(open(sys.argv[1]))['method'] == '$method'" "$o/train_config.json"
        if [ $method = full ]; then
            check "$fmt x full: a Hugging Face model folder in --out" sh -c "[ -s '$o/config.json' ] && \
                [ -s '$o/model.safetensors' ] && [ -s '$o/tokenizer.json' ] && [ -s '$o/generation_config.json' ]"
        else
            check "$fmt x $method: a PEFT adapter in --out and in checkpoint-2" sh -c "[ -s '$o/adapter_config.json' ] && \
                [ -s '$o/adapter_model.safetensors' ] && cmp -s '$o/adapter_model.safetensors' \
                '$o/checkpoint-2/adapter_model.safetensors'"
        fi
        check "$fmt x $method: checkpoint-2 verifies" "$VERIFY" "$o/checkpoint-2"
        check "$fmt x $method: report.html has plots" grep -q "<svg" "$o/report.html"
    done
done
cp -r "$T/m" "$T/m\"q"
check "a model folder with a quote in its name" code 0 "$CLFT" train --model "$T/m\"q" --batch 2 --quiet \
    --data "$F/text.jsonl" --method lora --seq-len 64 --steps 1 --out "$T/quote"
check "... named in the report's run table" grep -q "<th>model</th><td>[^<]*m&quot;q</td>" "$T/quote/report.html"
check "... which has the dataset table" grep -q "<th>examples</th><td>4</td>" "$T/quote/report.html"
check "alpaca with a too short --seq-len: empty dataset (exit 2)" code 2 "$CLFT" train $M --data "$D/alpaca.jsonl" \
    --seq-len 64 --steps 1 --out "$T/short"
check "the message says why" one_line "without a labelled token"

# ---- 2. resume bit-identity --------------------------------------------------------------------
# K steps then --resume --steps N = N steps (constant LR: --steps sets the schedule's length); the
# fixture has 5 micro-batches per epoch, so with grad-accum 2 the runs cross several epochs
R="$M --data $F/text.jsonl --method lora --seq-len 64 --grad-accum 2 --dropout 0.1 --schedule constant"
check "8 steps in one run" code 0 "$CLFT" train $R --steps 8 --out "$T/ra"
check "3 steps" code 0 "$CLFT" train $R --steps 3 --out "$T/rb"
check "--resume --steps 8" code 0 "$CLFT" train $R --steps 8 --resume --out "$T/rb"
check "resumed metrics: 8 valid lines" metrics_ok "$T/rb/metrics.jsonl" 8
check "3 + resume = 8: losses identical" same_losses "$T/ra/metrics.jsonl" "$T/rb/metrics.jsonl"
check "a finished run resumed again changes nothing" code 0 "$CLFT" train $R --steps 8 --resume --out "$T/rb"
check "... and keeps its 8 lines" same_losses "$T/ra/metrics.jsonl" "$T/rb/metrics.jsonl"
# the same with full fine-tuning and QLoRA (no dropout there)
for method in full qlora; do
    Q="$M --data $F/completion.jsonl --method $method --seq-len 64 --schedule constant"
    check "$method: 5 steps" code 0 "$CLFT" train $Q --steps 5 --out "$T/r5-$method"
    check "$method: 2 steps + resume to 5" sh -c "'$CLFT' train $Q --steps 2 --out '$T/r2-$method' && \
        '$CLFT' train $Q --steps 5 --resume --out '$T/r2-$method'"
    check "$method: losses identical" same_losses "$T/r5-$method/metrics.jsonl" "$T/r2-$method/metrics.jsonl"
done

# across SIGINT in the middle of an epoch, cosine schedule: exit 130 with a checkpoint, then --resume
S="$M --data $F/text.jsonl --method lora --seq-len 64 --grad-accum 2 --dropout 0.1 --steps 40 --save-every 1000"
check "40 steps uninterrupted" code 0 "$CLFT" train $S --out "$T/sa"
"$CLFT" train $S --out "$T/sb" > "$T/sb.out" 2> "$T/sb.err" &
pid=$!
wait_lines "$T/sb/metrics.jsonl" 4 $pid
kill -INT $pid
wait $pid
rc=$?
check "SIGINT: exit 130 (got $rc)" [ $rc -eq 130 ]
check "SIGINT: says where it saved" grep -q "interrupted at step" "$T/sb.err"
ck=$(ls -d "$T/sb"/checkpoint-* 2>/dev/null | head -1)
check "SIGINT: a checkpoint before the end (${ck##*/})" sh -c "[ -n '$ck' ] && [ '${ck##*/}' != checkpoint-40 ]"
check "SIGINT: the checkpoint verifies" "$VERIFY" "$ck"
check "SIGINT: --resume" code 0 "$CLFT" train $S --out "$T/sb" --resume
check "SIGINT: 40 valid lines" metrics_ok "$T/sb/metrics.jsonl" 40
check "SIGINT + resume: losses identical" same_losses "$T/sa/metrics.jsonl" "$T/sb/metrics.jsonl"

# ---- 3. SIGKILL at random moments of a run that saves every step --------------------------------
# with an eval set (the same command line again with --resume names it twice: the flags' sets win)
head -n 8 "$D/text.jsonl" > "$T/general.jsonl"
K="$M --data $F/text.jsonl --method lora --seq-len 64 --steps 12 --save-every 1 --keep 3"
K="$K --eval-data general=$T/general.jsonl --eval-every 4"
check "12 steps, saving each" code 0 "$CLFT" train $K --out "$T/ka"
for try in 1 2 3 4 5; do
    o="$T/kb$try"
    delay=$(od -An -N2 -tu2 /dev/urandom | awk '{ printf "%.2f", 0.5 * $1 / 65536 }') # in the check's name
    "$CLFT" train $K --out "$o" > /dev/null 2>&1 &
    pid=$!
    [ $try -gt 1 ] && wait_lines "$o/metrics.jsonl" 1 $pid # try 1: at start-up, the others while stepping
    sleep "$delay"
    kill -KILL $pid 2>/dev/null
    wait $pid 2>/dev/null
    left=""
    for c in "$o"/checkpoint-*; do # checkpoint-N.tmp: a save cut short, never read
        case ${c##*/} in *.* | "checkpoint-*") ;; *) left="$left $c" ;; esac
    done
    [ -n "$left" ] && check "SIGKILL $try (+${delay}s): every checkpoint left verifies:$left" "$VERIFY" $left
    [ $try -eq 2 ] && printf '{"step": 99, "loss": 1.2' >> "$o/metrics.jsonl" # a line cut short by the kill
    resume=--resume
    [ -e "$o/run.json" ] || resume=--overwrite # killed before the run began: nothing to resume
    check "SIGKILL $try: $resume" code 0 "$CLFT" train $K --out "$o" $resume
    check "SIGKILL $try: 12 valid lines after resume" metrics_ok "$o/metrics.jsonl" 12
    check "SIGKILL $try: losses identical" same_losses "$T/ka/metrics.jsonl" "$o/metrics.jsonl"
    check "SIGKILL $try: eval losses identical" sh -c "[ \"\$(grep -o '\"eval\": {[^}]*}' '$T/ka/metrics.jsonl')\" = \
        \"\$(grep -o '\"eval\": {[^}]*}' '$o/metrics.jsonl')\" ]"
done

# ---- 4. bad input: one line on stderr, exit 2 -------------------------------------------------------
B="$M --method lora --seq-len 64 --steps 2"
{ head -n 2 "$F/text.jsonl"; echo 'not json'; tail -n +3 "$F/text.jsonl"; } > "$T/notjson.jsonl"
check "a line that is not JSON (exit 2)" code 2 "$CLFT" train $B --data "$T/notjson.jsonl" --out "$T/x"
check "... FILE:LINE:" one_line "notjson.jsonl:3:"
B2="--model $T/m --batch 2 --method lora --seq-len 64 --steps 2"
check "--skip-bad-lines continues" code 0 "$CLFT" train $B2 --data "$T/notjson.jsonl" --skip-bad-lines --out "$T/skip"
check "... and counts the line" grep -q "1 bad lines skipped" "$T/stdout"
check "--skip-bad-lines again (dataset cache)" code 0 "$CLFT" train $B2 --data "$T/notjson.jsonl" --skip-bad-lines \
    --out "$T/skip" --overwrite
check "... still counts the line" grep -q "1 bad lines skipped (cached)" "$T/stdout"
printf '{"prompt": "a", "completion": "b"}\n{"prompt": "only a prompt"}\n' > "$T/nokey.jsonl"
check "a line without its format's keys (exit 2)" code 2 "$CLFT" train $B --data "$T/nokey.jsonl" --out "$T/x"
check "... FILE:LINE: names the key" one_line "nokey.jsonl:2:.*completion"
printf '{"text": "bad \377\376 bytes"}\n' > "$T/utf8.jsonl"
check "invalid UTF-8 (exit 2)" code 2 "$CLFT" train $B --data "$T/utf8.jsonl" --out "$T/x"
check "... named" one_line "utf8.jsonl:1:.*UTF-8"
: > "$T/empty.jsonl"
check "an empty dataset (exit 2)" code 2 "$CLFT" train $B --data "$T/empty.jsonl" --out "$T/x"
check "... named" one_line "empty dataset"
check "a missing data file (exit 2)" code 2 "$CLFT" train $B --data "$T/nope.jsonl" --out "$T/x"
check "... named" one_line "nope.jsonl"
mkdir -p "$T/notok" && cp "$T/m/config.json" "$T/m/model.safetensors" "$T/notok/"
check "a model folder without tokenizer.json (exit 2)" code 2 "$CLFT" train --model "$T/notok" --method lora \
    --seq-len 64 --steps 2 --data "$F/text.jsonl" --out "$T/x"
check "... named" one_line "tokenizer"
printf '{"messages": [{"role": "user", "content": "hi"}]}\n' > "$T/noasst.jsonl"
check "a chat example without an assistant turn (exit 2)" code 2 "$CLFT" train $B --data "$T/noasst.jsonl" --out "$T/x"
check "... named" one_line "noasst.jsonl:1:.*assistant"
printf '{"messages": [{"role": "user", "content": "hi"}, {"role": "wizard", "content": "x"}, {"role": "assistant", "content": "y"}]}\n' > "$T/role.jsonl"
check "an unknown role (exit 2)" code 2 "$CLFT" train $B --data "$T/role.jsonl" --out "$T/x"
check "... named" one_line "role.jsonl:1:.*wizard"
check "--seq-len above max_position_embeddings (exit 2)" code 2 "$CLFT" train $B --data "$F/text.jsonl" \
    --seq-len 4096 --out "$T/x"
check "... names the maximum" one_line "2048"
check "--lr abc (exit 2)" code 2 "$CLFT" train $B --data "$F/text.jsonl" --lr abc --out "$T/x"
check "... named" one_line "'abc' is not a number"
check "an unknown flag (exit 2)" code 2 "$CLFT" train $B --data "$F/text.jsonl" --frobnicate --out "$T/x"
check "... named" one_line "frobnicate"
echo '{"lr": 1e-3, "bogus-key": 3}' > "$T/bogus.json"
check "an unknown key in --config (exit 2)" code 2 "$CLFT" train $B --data "$F/text.jsonl" --config "$T/bogus.json" \
    --out "$T/x"
check "... named" one_line "bogus-key"
check "nothing written by the failures" test ! -e "$T/x"
check "an --out holding another run (exit 2)" code 2 "$CLFT" train $B --data "$F/text.jsonl" --out "$T/ra"
check "... says --resume or --overwrite" one_line "another run"
check "... the run is untouched" same_losses "$T/ra/metrics.jsonl" "$T/rb/metrics.jsonl"
check "--overwrite replaces it" code 0 "$CLFT" train $B --data "$F/text.jsonl" --out "$T/ra" --overwrite
check "... with its own 2 steps" metrics_ok "$T/ra/metrics.jsonl" 2
check "... and only its checkpoint" test "$(ls -d "$T/ra"/checkpoint-* | wc -l)" -eq 1
mkdir -p "$T/norun"
check "--resume on a folder without a run (exit 2)" code 2 "$CLFT" train $B --data "$F/text.jsonl" --resume \
    --out "$T/norun"
check "... named" one_line "no clft run"
check "--resume with another rank (exit 2)" code 2 "$CLFT" train $B --data "$F/text.jsonl" --resume --rank 4 \
    --out "$T/ra"
check "... names both ranks" one_line "rank 4 differs from the run's 8"
check "--resume with another --batch (exit 2)" code 2 "$CLFT" train $B --data "$F/text.jsonl" --resume --batch 3 \
    --out "$T/ra"
check "... named" one_line "batch 3 differs from the run's 2"
# a full disk during a save: the run folder on a 400 KiB tmpfs that holds the first checkpoint
# (~190 KiB) but not a second: exit 1 with one line, the previous checkpoint stays complete, no
# half-written one is left, and the run resumes once there is room (needs root for the mount, as
# this machine and CI have)
mkdir -p "$T/disk"
if mount -t tmpfs -o size=400k tmpfs "$T/disk" 2>"$T/mount.err"; then
    check "a run on the small disk" code 0 "$CLFT" train $B --data "$F/text.jsonl" --out "$T/disk/run" --steps 2
    check "save on a full disk fails (exit 1)" code 1 "$CLFT" train $B --data "$F/text.jsonl" --out "$T/disk/run" \
        --resume --steps 4
    check "... with one line naming the save" one_line "saving the checkpoint failed"
    check "... the previous checkpoint still verifies" "$VERIFY" "$T/disk/run/checkpoint-2"
    check "... no checkpoint-4 exists" test ! -e "$T/disk/run/checkpoint-4"
    check "... and no temporary folder is left" sh -c "! ls -d '$T/disk/run'/*.tmp 2>/dev/null"
    cp -r "$T/disk/run" "$T/disk-run"
    umount "$T/disk"
    check "resumes from checkpoint-2 once there is room" code 0 "$CLFT" train $B --data "$F/text.jsonl" \
        --out "$T/disk-run" --resume --steps 4
    check "... to step 4" "$VERIFY" "$T/disk-run/checkpoint-4"
else
    check "mount a small tmpfs for the full-disk test (needs root): $(cat "$T/mount.err")" false
fi
check "--dry-run" code 0 "$CLFT" train $B --data "$F/text.jsonl" --out "$T/dry" --dry-run
check "... prints the memory plan" grep -q "^memory plan: .* MiB" "$T/stdout"
check "... the counts" grep -q "examples, .* rows of 64 tokens" "$T/stdout"
check "... the steps" grep -q "^steps: 2 " "$T/stdout"
check "... and writes nothing" test ! -e "$T/dry"
check "--dry-run, LoRA, checkpointing auto" code 0 "$CLFT" train $B --data "$F/text.jsonl" --out "$T/dry" --dry-run \
    --method lora
check "... off: the plan without it fits the device" grep -q "^activation checkpointing: off (auto: without it the plan is" \
    "$T/stdout"
check "--dry-run, LoRA, --checkpointing 1" code 0 "$CLFT" train $B --data "$F/text.jsonl" --out "$T/dry" --dry-run \
    --method lora --checkpointing 1
check "... no auto note, a smaller plan" sh -c "! grep -q '^activation checkpointing' '$T/stdout'"
check "a run whose plan exceeds the device's memory (batch 100000) is refused (exit 2)" code 2 "$CLFT" train $B \
    --data "$F/text.jsonl" --out "$T/unfit" --batch 100000
check "... one line: the plan, the device, what to change" one_line "memory plan needs .* GiB .*more than the .* GiB of .*change: .*--batch 1 ([0-9.]* [KM]iB, fits)"
check "... before writing anything" test ! -e "$T/unfit"

# ---- 5. early stop ------------------------------------------------------------------------------------
E="$M --data $F/text.jsonl --eval-data general=$T/general.jsonl --method full --seq-len 64 --steps 30 --lr 0.05"
check "early stop" code 0 "$CLFT" train $E --schedule constant --early-stop 1 --eval-every 1 --keep 1 \
    --out "$T/es" --quiet=false
check "... says so" grep -q "^early stop at step" "$T/stdout"
best=$(sed -n 's/^early stop.*(\(.*checkpoint-[0-9]*\)).*/\1/p' "$T/stdout")
check "... names the best checkpoint (${best##*/}), kept by --keep 1" test -d "$best"
check "... which verifies" "$VERIFY" "$best"
check "... stopped before --steps" python3 - "$T/es/metrics.jsonl" "$best" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert len(rows) < 30, len(rows)
ev = [(r["eval"]["general"], r["step"]) for r in rows if "eval" in r]
assert len(ev) == len(rows), "an eval every step"
assert sys.argv[2].endswith("checkpoint-%d" % min(ev)[1]), (min(ev), sys.argv[2])
PY
check "... the report plots the eval loss" grep -q "eval: general" "$T/es/report.html"
EL="$M --data $F/text.jsonl --eval-data general=$T/general.jsonl --method lora --seq-len 64 --steps 30 --lr 0.05"
check "early stop, LoRA" code 0 "$CLFT" train $EL --schedule constant --early-stop 1 --eval-every 1 --keep 1 \
    --out "$T/esl" --quiet=false
bestl=$(sed -n 's/^early stop.*(\(.*checkpoint-[0-9]*\)).*/\1/p' "$T/stdout")
check "... --out holds the best step's adapter (${bestl##*/}), not the last step's" sh -c "[ -n '$bestl' ] && \
    cmp -s '$T/esl/adapter_model.safetensors' '$bestl/adapter_model.safetensors' && \
    ! cmp -s '$T/esl/adapter_model.safetensors' \"\$(ls -d '$T'/esl/checkpoint-* | sort -t- -k2 -n | tail -n 1)/adapter_model.safetensors\""
check "... and says so" grep -q "^adapter: .*step ${bestl##*-})" "$T/stdout"
check "--eval-every 0: evaluated at the end only" code 0 "$CLFT" train $E --steps 3 --eval-every 0 --out "$T/ev0"
check "... one eval line" test "$(grep -c '"eval"' "$T/ev0/metrics.jsonl")" -eq 1

# ---- 6. --config, flags win -----------------------------------------------------------------------
cat > "$T/cfg.json" <<EOF
{"model": "$T/m", "data": "$F/text.jsonl", "method": "lora", "rank": 4, "lr": 0.001, "seq_len": 64,
 "schedule": "linear", "steps": 3, "batch": 2, "eval-data": {"gen": "$T/general.jsonl"}}
EOF
check "--config with flags over it" code 0 "$CLFT" train --config "$T/cfg.json" --rank 2 --steps 2 --out "$T/cf" --quiet
check "train_config.json: the file's values and the flags'" python3 - "$T/cf/train_config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
want = {"rank": 2, "lr": 0.001, "seq-len": 64, "schedule": "linear", "steps": 2, "method": "lora", "batch": 2}
for k, v in want.items():
    assert c[k] == v, (k, c[k], v)
assert list(c["eval-data"]) == ["gen"], c["eval-data"]
PY
check "metrics: 2 steps starting at lr 0.001" sh -c "grep -q '\"lr\": 0.001,' '$T/cf/metrics.jsonl' && \
    [ \$(wc -l < '$T/cf/metrics.jsonl') -eq 2 ]"
check "the written train_config.json reads back as --config" code 0 "$CLFT" train --config "$T/cf/train_config.json" \
    --out "$T/cf2" --dry-run
check "... with its settings" grep -q "lr linear 0.001" "$T/stdout"

# ---- 6b. --adapter: continue from a PEFT adapter; samples during training ----------------------------
A="$M --data $F/completion.jsonl --seq-len 64 --steps 2"
check "a LoRA run to continue from" code 0 "$CLFT" train $A --method lora --rank 4 --alpha 8 --targets q,v,down \
    --out "$T/a1"
check "--adapter continues it: rank, alpha and targets from its config" code 0 "$CLFT" train $A --method lora \
    --adapter "$T/a1" --out "$T/a2"
check "... recorded in train_config.json" python3 - "$T/a2/train_config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
assert (c["rank"], c["alpha"], c["targets"]) == (4, 8, "q,v,down"), c
assert c["adapter"].endswith("/a1"), c["adapter"]
PY
check "... starts from its weights (the first loss is the first run's last eval state, not a fresh start)" python3 - \
    "$T/a1/metrics.jsonl" "$T/a2/metrics.jsonl" <<'PY'
import json, sys
a = [json.loads(l)["loss"] for l in open(sys.argv[1])]
b = [json.loads(l)["loss"] for l in open(sys.argv[2])]
assert b[0] != a[0], (a, b)
PY
check "--adapter with another --rank" code 2 "$CLFT" train $A --method lora --adapter "$T/a1" --rank 8 --out "$T/a3"
check "... one line naming both" one_line "rank 8 differs from the adapter's r 4"
check "--adapter with --method full" code 2 "$CLFT" train $A --method full --adapter "$T/a1" --out "$T/a3"
check "... one line" one_line "adapter continues LoRA/QLoRA"
mkdir -p "$T/dora" && cp "$T/a1/adapter_model.safetensors" "$T/dora/" &&
    sed 's/"use_dora": false/"use_dora": true/' "$T/a1/adapter_config.json" > "$T/dora/adapter_config.json"
check "--adapter of a DoRA adapter" code 2 "$CLFT" train $A --method lora --adapter "$T/dora" --out "$T/a3"
check "... refused by name" one_line "use_dora"
"$CLFT" init --preset tiny --config-only --out "$T/ocfg" >/dev/null 2>&1
python3 - "$T/ocfg/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["intermediate_size"] = 96
json.dump(c, open(sys.argv[1], "w"))
PY
"$CLFT" init --config "$T/ocfg/config.json" --out "$T/other" --seed 2 >/dev/null 2>&1
check "--adapter for another base (intermediate 96)" code 2 "$CLFT" train --model "$T/other" --batch 2 --quiet \
    --data "$F/completion.jsonl" --seq-len 64 --steps 1 --method lora --adapter "$T/a1" --out "$T/a4"
check "... names the tensor and both shapes" one_line "down_proj.lora_A.weight.*96"
check "--sample-every 1 --sample-prompt" code 0 "$CLFT" train $A --method qlora --sample-every 1 \
    --sample-prompt "Question: what is a queen?" --sample-tokens 8 --out "$T/s1" --quiet=false
check "... a sample line per step on stderr" test "$(grep -c '^sample at step [12]: ' "$T/stderr")" -eq 2
check "... and in metrics.jsonl" python3 -c "
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert all(isinstance(r.get('sample'), str) for r in rows), rows" "$T/s1/metrics.jsonl"
check "--sample-every without --sample-prompt" code 2 "$CLFT" train $A --method lora --sample-every 1 --out "$T/s2"
check "--save-dtype f64" code 2 "$CLFT" train $A --method full --save-dtype f64 --out "$T/s2"
check "full fine-tuning with --save-dtype bf16: the model folder in bf16" code 0 "$CLFT" train $A --method full \
    --save-dtype bf16 --out "$T/bf"
check "... config.json and tensors bf16" python3 - "$T/bf" <<'PY'
import json, struct, sys
d = sys.argv[1]
assert json.load(open(d + "/config.json"))["torch_dtype"] == "bfloat16"
b = open(d + "/model.safetensors", "rb").read()
n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n])
assert all(v["dtype"] == "BF16" for k, v in h.items() if k != "__metadata__"), h
PY

# ---- 7. progress lines when not a terminal --------------------------------------------------------
check "--log-every 2" code 0 "$CLFT" train --model "$T/m" --data "$F/text.jsonl" --method lora --seq-len 64 \
    --batch 2 --steps 5 --log-every 2 --out "$T/log"
check "a plain line per 2 steps and the last" sh -c "[ \"\$(grep '^step ' '$T/stderr' | cut -d' ' -f2 | tr '\n' ' ')\" \
    = '2/5 4/5 5/5 ' ] && ! grep -q \"\$(printf '\r')\" '$T/stderr'"
check "... with loss, lr, tokens/s and ETA" grep -q "^step 2/5 loss [0-9.]* lr .* tok/s .*ETA" "$T/stderr"

[ $fail -eq 0 ] && rm -rf "$T"
exit $fail
