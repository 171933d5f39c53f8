#!/usr/bin/env bash
# The recipe experiments (experiments.md), one after another in ONE process at a time, 1 thread,
# each at the same compute budget (GFLOP, model.sample_gflop). Resumable: a finished run (eval.json
# present) is skipped, an interrupted one continues from its train_state.
#   nohup bash bench/proxy/v6/run_experiments.sh > bench/proxy/v6/experiments/driver.log 2>&1 &
set -u
cd "$(dirname "$0")/../../.."
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
PY=${PY:-.venv/bin/python}  # PY=/path/to/python and COMFYUI_DIR=... use another environment
OUT=bench/proxy/v6/experiments
BUDGET=${BUDGET:-2000}
# the base setting in full (train.py's defaults are the stage-1 recipe); a run's own switches come after and win
COMMON="--budget-gflop $BUDGET --curriculum 1:0.6,5:0.25,13:0.15 --batch 1:24,5:6,13:2 --lr 1.5e-3 --warmup 20
  --init adaln_zero --t-dist logit_normal --bank 1 --object-scale 1.4 --texture on --material on --material-grain 0
  --threads 1 --save-every 50"
run() {  # name, extra args
  local name=$1; shift
  if [ -f "$OUT/$name/eval.json" ]; then echo "skip $name"; return; fi
  local resume=""; [ -f "$OUT/$name/train_state.safetensors" ] && resume="--resume"
  echo "== $name $(date -u +%H:%M:%S) $*"
  $PY bench/proxy/v6/train.py $COMMON "$@" --out "$OUT/$name" $resume > "$OUT/$name.train.out" 2>&1 || { echo "train $name failed"; return; }
  $PY bench/proxy/v6/quick_eval.py "$OUT/$name" --prompts ${PROMPTS:-2} > "$OUT/$name.eval.out" 2>&1 || echo "eval $name failed"
  echo "== $name done $(date -u +%H:%M:%S)"
}
mkdir -p "$OUT"
run base                                    # curriculum 1:0.6,5:0.25,13:0.15, adaLN-Zero, logit-normal, scale 1.4, texture
run no_curriculum --curriculum 13:1
run wan_init      --init wan
run uniform_t     --t-dist uniform
run no_texture    --texture off
run small_objects --object-scale 1.0
echo "all done $(date -u +%H:%M:%S)"
