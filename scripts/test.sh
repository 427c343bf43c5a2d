#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs the local model and llama-server into the
# cache outside the clone (skipped when already there), starts ONE shared llama-server for
# the end-to-end tests, runs fmt/clippy/tests for the workspace, and stops the server.
# A missing or broken local model fails the run; nothing is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

cache="${PROMPTSMITH_CACHE_DIR:-$HOME/.cache/promptsmith}"
port="${PROMPTSMITH_TEST_LM_PORT:-8099}"

scripts/install-local-lm.sh --model qwen0.5b
model="$cache/models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
server="$cache/llama.cpp/build/bin/llama-server"

mkdir -p "$cache/logs"
log="$cache/logs/test-llama-server-$port.log"
echo "[test] starting llama-server on 127.0.0.1:$port (log: $log)" >&2
"$server" -m "$model" --host 127.0.0.1 --port "$port" --jinja -t 2 -c 8192 -np 2 >"$log" 2>&1 &
server_pid=$!
cleanup() { kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; }
trap cleanup EXIT

healthy() {
  python3 - "$1" <<'PY'
import sys, urllib.request
try:
    sys.exit(0 if urllib.request.urlopen(sys.argv[1], timeout=2).status == 200 else 1)
except Exception:
    sys.exit(1)
PY
}
for _ in $(seq 1 180); do
  if healthy "http://127.0.0.1:$port/health"; then break; fi
  if ! kill -0 "$server_pid" 2>/dev/null; then echo "[test] llama-server exited:" >&2; tail -n 30 "$log" >&2; exit 1; fi
  sleep 1
done
healthy "http://127.0.0.1:$port/health" || { echo "[test] llama-server not healthy after 180 s" >&2; tail -n 30 "$log" >&2; exit 1; }

export PROMPTSMITH_TEST_LM_URL="http://127.0.0.1:$port"
export PROMPTSMITH_TEST_MODEL_SHA256="$(cut -d' ' -f1 "$model.sha256")"

# schemathesis (PyPI, pinned) for the server's OpenAPI conformance test (promptsmith-server/tests/openapi.rs).
PROMPTSMITH_TEST_SCHEMATHESIS="$(scripts/install-schemathesis.sh)"
export PROMPTSMITH_TEST_SCHEMATHESIS

# --- PostgreSQL for the store tests (promptsmith-store; see scripts/start-test-postgres.sh) ---
pg_dir="$(mktemp -d /tmp/promptsmith-test-pg.XXXXXX)"
trap 'cleanup; scripts/start-test-postgres.sh --stop "$pg_dir"' EXIT
PROMPTSMITH_TEST_DATABASE_URL="$(scripts/start-test-postgres.sh "$pg_dir")"
export PROMPTSMITH_TEST_DATABASE_URL
# --- end PostgreSQL ---

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
log_tests=$(mktemp)
set +e
cargo test --workspace --locked --no-fail-fast 2>&1 | tee "$log_tests"
status=${PIPESTATUS[0]}
set -e
# One closing line over all test binaries (cargo prints one per binary, the last often a
# doc-test binary with 0 tests).
awk '/^test result:/ { p += $4; f += $6; s += $8 } END { printf "tests: %d passed, %d failed, %d skipped\n", p, f, s }' "$log_tests"
rm -f "$log_tests"
exit "$status"
