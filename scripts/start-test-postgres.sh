#!/usr/bin/env bash
# A throwaway PostgreSQL server for the store tests.
#
#   scripts/start-test-postgres.sh DIR         # start; prints the database URL on stdout
#   scripts/start-test-postgres.sh --stop DIR  # stop it and remove DIR
#
# Installs PostgreSQL from Debian's packages when no server binaries are found, initialises a
# cluster in DIR (as the `postgres` user when run as root: PostgreSQL refuses to run as root),
# starts it on a free port on 127.0.0.1 with trust authentication, and creates the database
# `promptsmith_test`. Logs go to DIR/postgres.log.
set -euo pipefail

run_as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

find_bin() {
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then echo "$d"; return 0; fi
  done
  return 1
}

if [ "${1:-}" = "--stop" ]; then
  dir="${2:?usage: $0 --stop DIR}"
  if bin="$(find_bin)" && [ -f "$dir/data/postmaster.pid" ]; then
    run_as_pg "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  fi
  rm -rf "$dir"
  exit 0
fi

dir="${1:?usage: $0 DIR}"
if ! bin="$(find_bin)"; then
  echo "[postgres] no PostgreSQL server found; installing it from Debian's packages" >&2
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
  else
    sudo apt-get update -qq >&2 && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
  fi
  bin="$(find_bin)" || { echo "[postgres] installation gave no initdb/pg_ctl" >&2; exit 1; }
fi

mkdir -p "$dir"
if [ "$(id -u)" = 0 ]; then chown postgres "$dir"; fi
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
run_as_pg "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --no-locale >"$dir/initdb.log" 2>&1 || {
  echo "[postgres] initdb failed:" >&2; cat "$dir/initdb.log" >&2; exit 1; }
opts="-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=200 -c fsync=on"
run_as_pg "$bin/pg_ctl" -D "$dir/data" -o "$opts" -l "$dir/postgres.log" -w -t 60 start >/dev/null || {
  echo "[postgres] server did not start:" >&2; tail -n 30 "$dir/postgres.log" >&2; exit 1; }
run_as_pg "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -qAt \
  -c "CREATE DATABASE promptsmith_test" >/dev/null
echo "[postgres] PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port (data: $dir)" >&2
echo "postgres://postgres@127.0.0.1:$port/promptsmith_test"
