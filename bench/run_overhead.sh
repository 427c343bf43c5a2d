#!/usr/bin/env bash
# Overhead and throughput of promptsmith vs DSPy 3.4.1 against the fake model, through the
# counting proxy: builds the binaries, makes the DSPy venv when missing, runs the latency x
# concurrency matrix (default 0,100 ms x 16,256, 10,000 examples) and prints a table.
# Extra arguments go to bench/run_overhead.py (e.g. --examples 1000 --repeat 3).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p promptsmith -p promptsmith-bench
python="${DSPY_PYTHON:-$(bench/setup-dspy.sh | tail -n 1)}"
exec python3 bench/run_overhead.py --dspy-python "$python" "$@"
