#!/usr/bin/env bash
# Installs schemathesis (from PyPI, pinned) into a virtual environment in the cache outside the
# clone, for the server's OpenAPI conformance test, and prints the path of its `schemathesis`
# command. Skips the install when that version is already there.
set -euo pipefail
version="4.32.5"
cache="${PROMPTSMITH_CACHE_DIR:-$HOME/.cache/promptsmith}"
venv="$cache/schemathesis-$version"
bin="$venv/bin/schemathesis"
if ! "$bin" --version >/dev/null 2>&1; then
  echo "[schemathesis] installing schemathesis $version into $venv" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$version" >&2
  "$bin" --version >&2
fi
echo "$bin"
