#!/usr/bin/env bash
# Creates .venv and installs the pinned requirements; does nothing when they are unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"
stamp=.venv/.installed
wanted=$(cat requirements.txt requirements-no-deps.txt | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ]; then
  exit 0
fi
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
pip() { .venv/bin/python -m pip --disable-pip-version-check "$@"; }
echo "Installing dependencies into .venv (the first time takes a few minutes: llama-cpp-python compiles)…"
pip install -q torch==2.13.0
pip install -q -r requirements.txt
pip install -q --no-deps -r requirements-no-deps.txt
echo "$wanted" > "$stamp"
