#!/usr/bin/env bash
# One command from a fresh clone: installs the local model and llama-server (cached in
# ~/.cache/promptsmith), builds promptsmith, and evaluates the GSM8K example on 20 fixed
# questions against the local model. No API key needed.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-local-lm.sh --model qwen0.5b
cargo build --release --locked -p promptsmith
exec target/release/promptsmith eval --program examples/gsm8k/program.json --data gsm8k --limit 20 --metric numeric_match "$@"
