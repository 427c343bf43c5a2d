#!/usr/bin/env bash
# One command from a fresh clone: installs the local model and llama-server (cached in
# ~/.cache/promptsmith), builds promptsmith, and optimizes the GSM8K example against the local
# model with a small budget (a few minutes on 2 cores), printing the score before and after and
# where the optimized state was saved. No API key needed. Extra arguments go to `optimize`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-local-lm.sh --model qwen0.5b
cargo build --release --locked -p promptsmith
exec target/release/promptsmith optimize \
  --program examples/gsm8k/program.json \
  --data gsm8k:train --train-size 8 --val-size 12 \
  --optimizer bootstrap --max-bootstrapped-demos 2 --max-labeled-demos 2 \
  --metric numeric_match --seed 0 --max-calls 60 "$@"
