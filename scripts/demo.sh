#!/usr/bin/env bash
# Sets up the environment (first run: a few minutes), then runs the proxy Wan demo workflow
# (workflows/semcache_proxy_wan_demo.json) on a headless ComfyUI, uncached and with SemCache, and
# writes a side-by-side preview, the Cache Stats plot and the speedup/PSNR summary to out/demo/.
# The older random tiny-Wan demo: .venv/bin/python bench/demo_tiny.py
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
exec .venv/bin/python bench/demo_proxy.py "$@"
