#!/usr/bin/env bash
# Creates .venv and installs the pinned requirements; does nothing when they are unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"
stamp=.venv/.installed
wanted=$(cat requirements.txt requirements-no-deps.txt scripts/install.sh | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ]; then
  exit 0
fi
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
pip() { .venv/bin/python -m pip --disable-pip-version-check "$@"; }
echo "Installing dependencies into .venv (the first time takes a few minutes: llama-cpp-python compiles)…"
pip install -q torch==2.13.0
# llama.cpp built for the build machine's own CPU (GGML_NATIVE) crashes in its first multi-token
# decode on an AVX-512/AMX Xeon; an AVX2 build runs everywhere we have tried. pip's wheel cache
# would hand back a native build, hence --no-cache-dir; the stamp keeps it to one compile.
llama=$(grep -i '^llama[-_]cpp[-_]python==' requirements.txt)
llama_flags="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON"
if [ "$(cat .venv/.llama-build 2>/dev/null)" != "$llama $llama_flags" ]; then
  CMAKE_ARGS="$llama_flags" pip install -q --no-cache-dir --force-reinstall --no-deps "$llama"
  echo "$llama $llama_flags" > .venv/.llama-build
fi
pip install -q -r requirements.txt
pip install -q --no-deps -r requirements-no-deps.txt
echo "$wanted" > "$stamp"
