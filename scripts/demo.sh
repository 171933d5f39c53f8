#!/usr/bin/env bash
# Sets up the environment (first run: a few minutes) and runs the tiny-Wan demo on a headless
# ComfyUI: the same workflow uncached and with SemCache. Outputs go to out/demo/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
exec .venv/bin/python bench/demo_tiny.py "$@"
