#!/usr/bin/env bash
# GPU check of urlsom: one CUDA GPU, no network, under 8 minutes (sized for an H200).
#
#   bash bench/gpu_check.sh                 # results in bench/gpu_out/ (or in $OUT when it is set)
#
# 1. the bench on the GPU: training throughput of the paper net (ResNet-20 16/48/256, 32x32, 30x30 map) and
#    the quick net, eager float32, eager bf16 autocast and torch.compile + bf16; augmentation (ours on the GPU
#    vs the per-sample torchvision DataLoader on the CPU); URL-SOM vs NT-Xent loss over N and n
# 2. the paper net compiled with mode "reduce-overhead" (CUDA graphs), to decide whether CUDA graphs pay
# 3. a 2-epoch CIFAR-10-shaped run (60,000 random 32x32x3 images, paper settings, --compile) through
#    `urlsom train`, end to end: data on the GPU, checkpoint, evaluation, metrics
# Each part has its own time limit and the script goes on when one fails; everything is logged to
# $OUT/gpu_check.log. Record the numbers in bench/GPU_NOTES.md with date, device and commit.
#
# Smoke test of the script itself without a GPU (tiny sizes, numbers meaningless):
#   DEVICE=cpu BENCH_EXTRA="--tiny --no-compile" N_IMAGES=600 TRAIN_EXTRA="--widths 8 --blocks 1 --batch-size 64" \
#     bash bench/gpu_check.sh
#
# Python: $PYTHON if set, else .venv/bin/python when it exists, else python3 (the package is used from this
# checkout through PYTHONPATH; it needs torch, torchvision, numpy, scipy, scikit-learn, pyyaml, tqdm).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
OUT=${OUT:-$ROOT/bench/gpu_out}
mkdir -p "$OUT"
WORK=${TMPDIR:-/tmp}/urlsom_gpu_check
rm -rf "$WORK" && mkdir -p "$WORK"
if [ -n "${PYTHON:-}" ]; then PY=$PYTHON; elif [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
export PYTHONPATH=$ROOT${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 TORCHINDUCTOR_CACHE_DIR=$WORK/inductor
DEVICE=${DEVICE:-cuda}
N_IMAGES=${N_IMAGES:-60000}
BENCH_EXTRA=${BENCH_EXTRA:-}
TRAIN_EXTRA=${TRAIN_EXTRA:---compile}
LOG=$OUT/gpu_check.log
: >"$LOG"
log() { echo "[$(date +%H:%M:%S)] $*" | tee -a "$LOG"; }
part() {  # part SECONDS NAME COMMAND...: run with a time limit, log everything, never stop the script
  local limit=$1 name=$2; shift 2
  log "== $name (limit ${limit}s): $*"
  local t0=$SECONDS
  timeout --kill-after=10 "$limit" "$@" 2>&1 | tee -a "$LOG"
  local rc=${PIPESTATUS[0]}
  log "== $name: exit $rc after $((SECONDS - t0)) s"
}

log "urlsom GPU check, commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo +dirty)"
{ nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv 2>&1 || true
  "$PY" -c "import torch, torchvision; print('torch', torch.__version__, 'torchvision', torchvision.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'NO CUDA')"
} 2>&1 | tee "$OUT/env.txt" | tee -a "$LOG"

# shellcheck disable=SC2086  # BENCH_EXTRA / TRAIN_EXTRA are lists of options
part 230 "bench: train, augment, loss" "$PY" -m urlsom_book.cli bench --device "$DEVICE" --sections train,augment,loss \
    --out "$OUT/bench_gpu.json" $BENCH_EXTRA
# shellcheck disable=SC2086
part 90 "bench: paper net, CUDA graphs (compile mode reduce-overhead)" "$PY" -m urlsom_book.cli bench --device "$DEVICE" \
    --sections train --nets paper --compile-mode reduce-overhead --out "$OUT/bench_gpu_cudagraphs.json" $BENCH_EXTRA

log "== writing a CIFAR-10-shaped random dataset"
"$PY" - "$WORK/random_cifar10.npz" "$N_IMAGES" <<'EOF' 2>&1 | tee -a "$LOG"
import sys
import numpy as np
n = int(sys.argv[2])
rng = np.random.default_rng(0)
np.savez(sys.argv[1], images=rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8), labels=rng.integers(0, 10, n))
print("wrote", sys.argv[1])
EOF
# shellcheck disable=SC2086
part 120 "2-epoch CIFAR-10-shaped run (paper settings, bf16, $TRAIN_EXTRA)" "$PY" -m urlsom_book.cli train \
    --dataset "npz:$WORK/random_cifar10.npz" --epochs 2 --device "$DEVICE" --quiet --out "$WORK/run" $TRAIN_EXTRA
for f in metrics.json history.jsonl manifest.json; do
  [ -f "$WORK/run/$f" ] && cp "$WORK/run/$f" "$OUT/run_$f"
done
[ -f "$OUT/run_history.jsonl" ] && log "epochs (seconds each):" && cat "$OUT/run_history.jsonl" | tee -a "$LOG"
log "done; results in $OUT"
