#!/usr/bin/env bash
# Warm start against cold start at equal budget on one judge pair (see README.md, "Warm start
# against cold start"): SOURCE is optimized cheaply (LabeledFewShot, 4 demos) and registered,
# then TARGET is optimized twice with the same small MIPROv2 budget, once cold and once with
# --warm-start SOURCE@1, and the two results are compared on TARGET's 60 test rows.
#   examples/judges/warm_start.sh relevance minimality [OUT_DIR] [extra promptsmith options...]
set -euo pipefail
cd "$(dirname "$0")/../.."
src=${1:?usage: warm_start.sh SOURCE TARGET [OUT_DIR] [promptsmith options]}
dst=${2:?usage: warm_start.sh SOURCE TARGET [OUT_DIR] [promptsmith options]}
out=${3:-warm-start-$src-$dst}
shift $(( $# < 3 ? $# : 3 ))
mkdir -p "$out"
out=$(cd "$out" && pwd)
ps=(${PROMPTSMITH:-promptsmith} "$@")
J=examples/judges
db="sqlite://$out/store.db"
"${ps[@]}" optimize --program $J/$src/program.json --data $J/$src/data/train.jsonl --train-size 12 --val-size 12 \
  --optimizer labeled --k 4 --metric judge --seed 0 --keep-regression \
  --register judge_$src --database-url "$db" --out "$out/source_state.json"
target=(--program $J/$dst/program.json --data $J/$dst/data/train.jsonl --train-size 12 --val-size 12
        --test-data $J/$dst/data/test.jsonl --test-size 40 --optimizer mipro --num-candidates 3 --num-trials 6
        --minibatch-size 6 --max-bootstrapped-demos 2 --max-labeled-demos 2 --metric judge --seed 0
        --max-calls 224 --keep-regression --database-url "$db")
"${ps[@]}" optimize "${target[@]}" --out "$out/cold_state.json"
"${ps[@]}" optimize "${target[@]}" --warm-start "judge_$src@1" --out "$out/warm_state.json"
for side in cold warm; do
  "${ps[@]}" compare --program $J/$dst/program.json --baseline --state "$out/${side}_state.json" \
    --data $J/$dst/data/test.jsonl --metric judge
done
"${ps[@]}" compare --program $J/$dst/program.json --state "$out/cold_state.json" --state "$out/warm_state.json" \
  --data $J/$dst/data/test.jsonl --metric judge
