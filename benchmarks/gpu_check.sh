#!/usr/bin/env bash
# The GPU check of issue 15 in one command, from a clean checkout, with only pip (no internet needed).
#
#   benchmarks/gpu_check.sh [--wheels DIR] [--data DIR] [--smoke] [more gpu_check.py options]
#
#   --wheels DIR  a folder of wheels from which pip installs what the notebooks need beyond PyTorch
#                 (nbval, ipykernel, ipywidgets, ipympl and their dependencies); without it, notebooks whose
#                 packages are missing are reported as skipped.
#   --data DIR    the folder that holds MNIST/raw/ (default: $VAELIB_DATA, else <repo>/data).
#   --smoke       the same code on the CPU with tiny settings, in seconds (what CI runs).
#   PYTHON=...    the interpreter that has PyTorch (default: python3).
#
# Make the wheel folder on a machine with internet, for the GPU machine's Python and platform, e.g.
#   pip download -d wheels --only-binary=:all: --python-version 3.12 \
#       --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 nbval ipykernel ipywidgets ipympl
# Nothing is written into the checkout: vaelib is imported from it (no install), checkpoints go to a
# temporary folder that is removed at the end. Target: the whole run in <= 8 minutes on one GPU.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
py="${PYTHON:-python3}"
wheels=""
args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --wheels) wheels="${2:?--wheels needs a folder}"; shift 2 ;;
    --data)
      [[ -d "${2:?--data needs a folder}/MNIST/raw" ]] || { echo "gpu_check: $2/MNIST/raw not found: pass the folder that holds MNIST/raw/." >&2; exit 2; }
      export VAELIB_DATA="$(cd "$2" && pwd)"; shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done
if [[ -n "$wheels" ]]; then
  "$py" -m pip install --quiet --no-index --find-links "$wheels" nbval ipykernel ipywidgets ipympl \
    || echo "gpu_check: could not install the notebook packages from $wheels; notebooks may be skipped." >&2
fi
runs="$(mktemp -d)"
trap 'rm -rf "$runs"' EXIT
export VAELIB_RUNS="$runs" PYTHONUNBUFFERED=1
export PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}"
cd "$repo"
"$py" benchmarks/gpu_check.py ${args[@]+"${args[@]}"}
