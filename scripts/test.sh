#!/usr/bin/env bash
# Sets up the environment (first run: a few minutes) and runs the test suite; arguments go to
# pytest (e.g. `bash scripts/test.sh tests/test_server_e2e.py -q`). pytest's config is
# tests/pytest.ini: the repo root is a ComfyUI package and must not be pytest's rootdir.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
# pytest uses the ini's testpaths only when started from its rootdir (tests/); from here it would
# collect the whole repo. So name tests/ unless an argument already names a test path.
has_path=0
for arg in "$@"; do
  case "$arg" in
    -*) ;;
    *) if [ -e "${arg%%::*}" ]; then has_path=1; fi ;;
  esac
done
if [ "$has_path" = 0 ]; then set -- "$@" tests; fi
exec .venv/bin/python -m pytest -c tests/pytest.ini -q "$@"
