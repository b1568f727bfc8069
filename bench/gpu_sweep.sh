#!/usr/bin/env bash
# Hyper-parameter sweep on one GPU, many small `urlsom train` runs side by side (the digits and CIFAR-10 settings).
#
# CIFAR-10 jobs train on the 10,000 / 2,000 class-balanced subsets of bench/configs/cifar10_cpu.yaml, each
# for the number of epochs that its network affords in 20 minutes on 2 CPU cores (measured here, idle,
# OMP_NUM_THREADS=2, seconds per epoch: 16x16 input 16/32/64 x1 block 16 s, 24x24 24 s, 32x32 38 s,
# widths 32/64/128 25 s, 2 blocks 20 s, widths 64/128/256 54 s): the GPU finds a setting fast, the 20-minute
# CPU run then confirms it (book/results-log.md, "How the CIFAR-10 setting was found"). Digits jobs use --holdout 0.2 like bench/baselines.py.
# The GPU runs use bf16 autocast and share the GPU, so their wall times mean nothing and their NS differs
# from a CPU run's by run-to-run noise (cA, the old CPU setting: 0.264 here, 0.284 on the CPU).
#
#   bash bench/gpu_sweep.sh prepare                        # here: writes gpu_carry/c10_{train,test}.npz
#   bash bench/gpu_sweep.sh bench/gpu_sweep/round1.txt     # on the GPU box (device tool: carry gpu_carry)
#
# A jobs file has one run per line, `NAME ARGS...`; $C, $L (the two CIFAR configs) and $D (digits) expand.
# MAX_MINUTES (default 7) bounds each run; DEVICE=cpu for a smoke test; CHECK_PATHS=0 skips the compile and
# torchrun checks. Results: $OUT/summary.txt and $OUT/sweep.tgz (no checkpoints).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ "${1:-}" = prepare ]; then
  mkdir -p gpu_carry && cp bench/gpu_sweep/c10*.yaml gpu_carry/
  exec "$PY" - <<'P'
import numpy as np
from urlsom_core.config import DataConfig
from urlsom_core.data import load_dataset
for name, n in (("train", 10000), ("test", 2000)):
    d = load_dataset(f"imagefolder:../shared/data/cifar10-jpg/{name}.zip", DataConfig(input_size=32), subset=n, input_size=32)
    np.savez_compressed(f"gpu_carry/c10_{name}.npz", images=d.images.permute(0, 2, 3, 1).numpy(), labels=d.labels.numpy())
    print("wrote", f"gpu_carry/c10_{name}.npz", tuple(d.images.shape))
P
fi
JOBS=${1:?usage: bash bench/gpu_sweep.sh prepare | JOBS_FILE}
OUT=${OUT:-bench/gpu_out}; mkdir -p "$OUT"
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1 URLSOM_CHECKPOINT_SECONDS=100000
W=${TMPDIR:-/tmp}/urlsom_sweep; rm -rf "$W"; mkdir -p "$W"
M=${MAX_MINUTES:-7}
DEV=${DEVICE:-cuda}
C="--config gpu_carry/c10.yaml --device $DEV --quiet --max-minutes $M"
L="--config gpu_carry/c10_lr2.yaml --device $DEV --quiet --max-minutes $M"
D="--dataset digits --holdout 0.2 --device $DEV --quiet --max-minutes $M"
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  "$PY" -c "import torch, torchvision; print(torch.__version__, torchvision.__version__, torch.version.cuda, torch.cuda.get_device_name(0))"
  git rev-parse --short HEAD; } > "$OUT/env.txt" 2>&1
cat "$OUT/env.txt"
# sanity first: a broken CUDA path fails here in seconds, not in every job
timeout 120 "$PY" -m urlsom_book.cli train --dataset digits --holdout 0.2 --epochs 2 --device $DEV --quiet --out "$W/sanity" \
  > "$W/sanity.log" 2>&1 || { tail -20 "$W/sanity.log"; exit 3; }
if [ "${CHECK_PATHS:-1}" = 1 ]; then  # torch.compile and torchrun (NCCL) on CUDA, 3 digits epochs each
  ( "$PY" -m urlsom_book.cli train --dataset digits --holdout 0.2 --epochs 3 --device $DEV --quiet --compile --out "$W/compile" \
      > "$W/compile.log" 2>&1; echo "compile rc $?" ) &
  ( timeout 200 torchrun --nproc-per-node 1 -m urlsom_book.cli train --dataset digits --holdout 0.2 --epochs 3 --device $DEV \
      --quiet --out "$W/ddp" > "$W/ddp.log" 2>&1; echo "torchrun rc $?" ) &
fi
t0=$SECONDS
while read -r name args; do
  [ -n "$name" ] && echo "$name $(eval echo "$args")"
done < "$JOBS" | xargs -P 32 -L 1 bash -c 'n=$0; timeout '"$((${M%.*} * 60 + 120))"' '"$PY"' -m urlsom_book.cli train --out '"$W"'/$n "$@" > '"$W"'/$n.log 2>&1; echo "$n rc $?"'
wait
echo "all done after $((SECONDS - t0)) s"
"$PY" - "$W" <<'P' | tee "$OUT/summary.txt"
import glob, json, os, sys
for d in sorted(glob.glob(os.path.join(sys.argv[1], "*/"))):
    n = os.path.basename(d.rstrip("/"))
    try:
        m = json.load(open(os.path.join(d, "metrics.json")))
    except OSError as e:
        print(n, "no metrics:", e)
        continue
    print(f"{n:10s} NS {m['neural_selectivity']:.3f} held {m.get('heldout_neural_selectivity', float('nan')):.3f} "
          f"live {m['active_neurons']} TE {m.get('topographic_error', float('nan')):.3f} ep {m.get('epochs_trained')} "
          f"{m.get('train_seconds', 0):.0f}s stop {m.get('stop_reason', '')}")
P
tar czf "$OUT/sweep.tgz" -C "$W" --exclude='*.pt' .
