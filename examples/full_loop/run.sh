#!/usr/bin/env bash
# The full loop for a judge, through the service, with no step done by hand: collect the judge's
# evaluations, record human feedback on them, export the feedback as training data, optimize,
# register the result as `candidate`, A/B-test it against the active judge, and let the rollout
# promote it or roll it back. README "The full loop, scripted" walks through it.
#
# usage: examples/full_loop/run.sh [--judge relevance] [--n 24] [--port 8181] [--lm-base-url URL]
#   --judge J        one of examples/judges/*/ (default relevance)
#   --n N            judge evaluations collected before optimizing (default 24, at most 60)
#   --port P         port of the promptsmith server it starts on 127.0.0.1 (default 8181)
#   --lm-base-url U  an OpenAI-compatible server (default: the local model, started when needed)
# env: PROMPTSMITH (the binary, default target/release/promptsmith, built when missing)
#
# The "human" is played by the example's labelled judgments: feedback on a prediction is 1 when
# the judge's pass/fail matches the label, else 0 with the label as the correction. Everything
# goes into a fresh SQLite store in a temporary directory, printed at the start.
set -euo pipefail
cd "$(dirname "$0")/../.."

judge="relevance"; n=24; port=8181; lm_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --judge) judge="$2"; shift 2 ;;
    --n) n="$2"; shift 2 ;;
    --port) port="$2"; shift 2 ;;
    --lm-base-url) lm_args=(--lm-base-url "$2"); shift 2 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "full_loop: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
dir="examples/judges/$judge"
[ -f "$dir/program.json" ] || { echo "full_loop: no judge '$judge' (expected $dir/program.json)" >&2; exit 2; }
[ "$n" -ge 8 ] && [ "$n" -le 60 ] || { echo "full_loop: --n $n: expected 8 to 60" >&2; exit 2; }

bin="${PROMPTSMITH:-target/release/promptsmith}"
[ -x "$bin" ] || cargo build --release -p promptsmith
work="$(mktemp -d)"
db="$work/loop.db"
base="http://127.0.0.1:$port"
say() { printf '\n== %s\n' "$*"; }
api() { # METHOD PATH [BODY]: the JSON answer; fails on an HTTP error
  curl -sS --fail-with-body -X "$1" -H 'content-type: application/json' "$base$2" ${3:+--data-binary "$3"}
}
field() { python3 -c "import json,sys; v=json.load(sys.stdin); print(eval('v'+sys.argv[1]))" "$1"; }
tick() { "$bin" rollout tick --database-url "$db" "${lm_args[@]}" >/dev/null; }
echo "store: $db"

say "1. register the $judge judge as production and start the service"
"$bin" registry register "$judge" --program "$dir/program.json" --alias production --database-url "$db" --note "as written"
"$bin" serve --bind "127.0.0.1:$port" --database-url "$db" --workdir "$work/jobs" --monitor-interval-seconds 0 \
  "${lm_args[@]}" >"$work/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do curl -sf "$base/health" >/dev/null && break; sleep 1; done
curl -sf "$base/health" >/dev/null || { echo "the server did not start; see $work/serve.log" >&2; exit 1; }

# One judged prediction with the human's feedback; prints 1 when the judge was right.
judged() { # ROW_JSON CALLER
  local row="$1" caller="$2" inputs label answer id right
  inputs=$(python3 -c "import json,sys; r=json.loads(sys.argv[1]); r.pop('pass'); print(json.dumps(r))" "$row")
  label=$(python3 -c "import json,sys; print(json.dumps(json.loads(sys.argv[1])['pass']))" "$row")
  answer=$(api POST "/v1/programs/$judge/predict" "{\"inputs\": $inputs, \"caller_key\": \"$caller\"}")
  id=$(echo "$answer" | field "['prediction_id']")
  right=$(echo "$answer" | python3 -c "import json,sys; a=json.load(sys.stdin); print(int(a['outputs'].get('pass') == json.loads(sys.argv[1])))" "$label")
  api POST "/v1/predictions/$id/feedback" "{\"score\": $right, \"correct_outputs\": {\"pass\": $label}}" >/dev/null
  echo "$right"
}

say "2. collect $n judge evaluations on live traffic, each with human feedback"
right=0
i=0
while read -r row; do
  i=$((i + 1)); one=$(judged "$row" "collect-$i"); right=$((right + one))
done \
  < <(head -n "$n" "$dir/data/train.jsonl")
echo "the judge as written agreed with the human on $right of $n"

say "3. export the feedback as training data"
"$bin" data export --from-feedback --program "$judge" --out "$work/feedback.jsonl" --database-url "$db"
ds=$(api POST "/v1/datasets?name=$judge-feedback" "@$work/feedback.jsonl" | field "['id']")
echo "uploaded as $ds"

say "4. optimize from the feedback and register the result as candidate"
job=$(api POST /v1/optimizations "{\"program\": \"$judge@production\", \"dataset\": \"$ds\",
  \"optimizer\": {\"name\": \"labeled\", \"k\": 4}, \"metric\": \"judge\", \"val_size\": $((n / 2)),
  \"register\": {\"name\": \"$judge\", \"promote\": false, \"promotion_margin\": 0.0}}" | field "['id']")
echo "job $job"
while :; do
  status=$(api GET "/v1/optimizations/$job" | field "['status']")
  case "$status" in completed|failed|cancelled) break ;; esac
  sleep 5
done
api GET "/v1/optimizations/$job" | python3 -c "
import json,sys; j=json.load(sys.stdin); r=j.get('result') or {}
print('job', j['status'], '| baseline', r.get('baseline_score'), '-> result', r.get('final_score'), '| registered', json.dumps(r.get('registered')))"
[ "$status" = completed ] || { echo "the optimization did not complete; see $work/serve.log" >&2; exit 1; }
candidate=$(api GET "/v1/programs/$judge" | field "['aliases'].get('candidate')")
if [ "$candidate" = None ]; then echo "no candidate registered (the result did not beat production offline); stopping here"; exit 0; fi

say "5. A/B-test candidate (version $candidate) against production on live traffic"
exp=$(api POST /v1/experiments "{\"program\": \"$judge\", \"challenger\": \"candidate\", \"traffic\": 0.5,
  \"min_samples\": 8, \"rollout\": {\"steps\": [0.5, 1.0], \"min_samples_per_step\": 8, \"min_step_minutes\": 0}}" | field "['id']")
echo "experiment $exp"
round=0
while [ "$(api GET "/v1/experiments/$exp" | field "['status']")" = running ] && [ $round -lt 10 ]; do
  while read -r row; do judged "$row" "ab-$round-$((i++))" >/dev/null; done < <(shuf -n 8 --random-source=<(yes) "$dir/data/test.jsonl")
  tick; round=$((round + 1))
done
api GET "/v1/experiments/$exp" | python3 -c "
import json,sys; e=json.load(sys.stdin); c, h = e['control'], e['challenger']
print('decision:', e['decision'], '| p =', e.get('p_value'), '| control', json.dumps(c), '| challenger', json.dumps(h))"
if [ "$(api GET "/v1/experiments/$exp" | field "['status']")" = running ]; then
  api POST "/v1/experiments/$exp/stop" >/dev/null
  echo "no decision after $round rounds of 8 predictions: stopped, production unchanged"
fi

say "6. the rollout promotes the winner step by step, or rolls it back"
rollout=$(api GET /v1/rollouts | field "['rollouts'][0]['id'] if v['rollouts'] else ''")
if [ -z "$rollout" ]; then echo "no rollout: the challenger did not win"; else
  round=0
  while [ "$(api GET "/v1/rollouts/$rollout" | field "['status']")" = running ] && [ $round -lt 10 ]; do
    while read -r row; do judged "$row" "ro-$round-$((i++))" >/dev/null; done < <(shuf -n 8 --random-source=<(yes) "$dir/data/test.jsonl")
    tick; round=$((round + 1))
  done
  api GET "/v1/rollouts/$rollout" | python3 -c "import json,sys; r=json.load(sys.stdin); print('rollout', r['status'], '-', r.get('reason', ''))"
fi
say "7. where production points now, and the alias log (who moved it, and why)"
"$bin" registry show "$judge" --database-url "$db"
