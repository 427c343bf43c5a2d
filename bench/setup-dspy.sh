#!/usr/bin/env bash
# Creates the Python virtual environment the DSPy side of the benchmarks runs in:
# dspy==3.4.1 and optuna from PyPI, in ~/.cache/promptsmith/dspy-venv (override with
# DSPY_VENV). Prints the venv's python path on the last line. Idempotent.
set -euo pipefail

venv="${DSPY_VENV:-${PROMPTSMITH_CACHE_DIR:-$HOME/.cache/promptsmith}/dspy-venv}"
python="${PYTHON:-python3}"

if [ -x "$venv/bin/python" ] && "$venv/bin/python" - <<'PY' 2>/dev/null
import importlib.metadata as m, sys
sys.exit(0 if m.version("dspy") == "3.4.1" and m.version("optuna") else 1)
PY
then
  echo "dspy 3.4.1 and optuna already in $venv" >&2
else
  echo "creating $venv with dspy==3.4.1 and optuna (a minute or two)" >&2
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade pip
  "$venv/bin/python" -m pip install --quiet "dspy==3.4.1" optuna
fi
"$venv/bin/python" -c 'import dspy, optuna; print("dspy", dspy.__version__, "optuna", optuna.__version__)' >&2
echo "$venv/bin/python"
