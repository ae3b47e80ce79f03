#!/usr/bin/env bash
# One command, no installs, under 5 minutes: does the model run on this machine's GPU, and how fast?
#
#   scripts/gpu_check.sh                    # with the project installed (or its dependencies importable)
#   scripts/gpu_check.sh --wheels DIR       # a jax-only machine: DIR holds the wheels docs/gpu.md lists
#
# Prints the backend, device, training steps/s and sentences/s, inference sentences/s, peak GPU memory
# and a short training's dev F1 (scripts/gpu_check.py says how). Exit 0 when the model ran on the GPU or
# when there is no GPU (it says so); 1 when a GPU is there and the model did not run on it; 2 when no
# Keras backend imports; 124 when it ran past 5 minutes. Runs under whichever backend is installed
# (KERAS_BACKEND chooses when both are). Other options go to gpu_check.py (--help).
set -euo pipefail
here=$(pwd)
abs() { case "$1" in /*) printf '%s' "$1" ;; *) printf '%s/%s' "$here" "$1" ;; esac; }   # paths as the caller meant them
cd "$(dirname "$0")/.."
if [ -z "${PYTHON:-}" ]; then           # $PYTHON, else the project's virtualenv, else python3
  if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --wheels)
      [ $# -ge 2 ] || { echo "gpu_check.sh: --wheels needs a folder" >&2; exit 2; }
      wheels=$(abs "$2")
      ls "$wheels"/*.whl >/dev/null 2>&1 || { echo "gpu_check.sh: no .whl file in $wheels" >&2; exit 2; }
      # unpack (not install) every wheel into a throw-away folder put first on PYTHONPATH
      unpacked=$(mktemp -d); trap 'rm -rf "$unpacked"' EXIT
      for w in "$wheels"/*.whl; do "$PYTHON" -m zipfile -e "$w" "$unpacked"; done
      export PYTHONPATH="$unpacked${PYTHONPATH:+:$PYTHONPATH}"
      shift 2 ;;
    --json)
      [ $# -ge 2 ] || { echo "gpu_check.sh: --json needs a file" >&2; exit 2; }
      args+=("--json" "$(abs "$2")"); shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done
timeout 300 "$PYTHON" scripts/gpu_check.py "${args[@]+"${args[@]}"}"
