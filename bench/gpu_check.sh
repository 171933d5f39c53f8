#!/usr/bin/env bash
# One prepared real-scale check for a CUDA machine (<= 8 minutes, nothing downloaded): Wan-1.3B-shaped
# blocks at 81 frames 480x832, bf16, cond+uncond batched -> bench/results/gpu_check.{md,csv}.
# Without CUDA it runs at reduced size on the CPU (the test suite checks it that way; GPU_CHECK_TIMEOUT=s
# raises the 480 s limit on a loaded machine).
#   bash bench/gpu_check.sh [--out DIR] [--cpu]
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
exec timeout "${GPU_CHECK_TIMEOUT:-480}" "$PY" bench/gpu_check.py "$@"
