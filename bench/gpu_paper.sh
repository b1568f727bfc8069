#!/usr/bin/env bash
# The paper on one GPU, from a bare machine with no network, within 12 minutes (sized for one H200).
#
#   mkdir -p data/cifar10-jpg && cp ../shared/data/cifar10-jpg/train.zip data/cifar10-jpg/   # here, once (data/ is ignored)
#   bash bench/gpu_paper.sh            # on the GPU box (device tool: carry ["data/cifar10-jpg"]); results in $OUT
#   bash bench/gpu_paper.sh --smoke    # any CPU, under 3 minutes: the same steps on tiny sizes (numbers meaningless)
#
# 1. Python: a venv in /tmp with the box's own packages (--system-site-packages) and the pinned
#    `pip install torch==2.14.1 torchvision==0.29.1`, which on the GPU box comes from the machine's local
#    package index (there is no internet there); when that install fails or takes over PIN_SECONDS (default
#    150), the box's own torch is used and the summary says so. The project runs from this checkout
#    (PYTHONPATH), not installed. PIN=0 skips the install; PYTHON=... names the interpreter outright.
# 2. `urlsom bench --sections train --nets paper`: training throughput of the paper net (ResNet-20 16/48/256,
#    32x32, 30x30 map; img/s counts both views), eager float32, eager bf16 autocast and torch.compile + bf16
#    (the eager modes also alone first, bench_eager.json, in case the compile outlasts its limit).
# 3. A paper-settings CIFAR-10 run (the paper profile's cifar10 run, urlsom_book/profiles/paper.yaml) on
#    data/cifar10-jpg/train.zip, the 50,000 training images (the test images do not fit the 64 MiB that travel
#    with the checkout; the paper trains on all 60,000), with `--max-minutes` = what is left of TOTAL_MINUTES
#    (default 11) after steps 1-2, less 2 minutes for loading and evaluation, at most 8.
# 4. $OUT/summary.md: environment, each step's exit code and seconds, the throughput table, the run's epochs,
#    seconds per epoch, NS and live neurons; with gpu_paper.log, bench.json, bench_eager.json, the run's config,
#    metrics, history and assignments (8 files, what the device tool brings back at most).
# Each step has its own time limit and the script goes on when one fails. Record what it measured in
# bench/GPU_NOTES.md (date, device, commit, the summary). Reuses the logging of bench/gpu_check.sh.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
SMOKE=0
[ "${1:-}" = --smoke ] && SMOKE=1
OUT=${OUT:-$ROOT/bench/gpu_out}
mkdir -p "$OUT"
WORK=${TMPDIR:-/tmp}/urlsom_gpu_paper.$$
rm -rf "$WORK" && mkdir -p "$WORK"
LOG=$OUT/gpu_paper.log
: >"$LOG"
T0=$SECONDS
log() { echo "[$(date +%H:%M:%S) +$((SECONDS - T0))s] $*" | tee -a "$LOG"; }
STEPS=()
part() {  # part SECONDS NAME COMMAND...: run with a time limit, log everything, never stop the script
  local limit=$1 name=$2; shift 2
  log "== $name (limit ${limit}s): $*"
  local t0=$SECONDS
  timeout --kill-after=10 "$limit" "$@" 2>&1 | tee -a "$LOG"
  local rc=${PIPESTATUS[0]}
  log "== $name: exit $rc after $((SECONDS - t0)) s"
  STEPS+=("| $name | $rc | $((SECONDS - t0)) |")
  return "$rc"
}
skip() { log "SKIPPED: $*"; STEPS+=("| $1 | skipped | 0 |"); }
export PYTHONUNBUFFERED=1 TORCHINDUCTOR_CACHE_DIR=$WORK/inductor URLSOM_CHECKPOINT_SECONDS=${URLSOM_CHECKPOINT_SECONDS:-120}

if [ "$SMOKE" = 1 ]; then
  DEVICE=${DEVICE:-cpu}
  TOTAL_MINUTES=${TOTAL_MINUTES:-2.5}
  export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
else
  DEVICE=${DEVICE:-cuda}
  TOTAL_MINUTES=${TOTAL_MINUTES:-11}
fi
log "urlsom gpu_paper ($([ "$SMOKE" = 1 ] && echo smoke || echo full)), device $DEVICE, commit" \
    "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo +dirty)"

# ------------------------------------------------------------------------------------------ 1. python
PINNED="torch==2.14.1 torchvision==0.29.1"
if [ -n "${PYTHON:-}" ]; then
  PY=$PYTHON
  skip "pinned torch install: PYTHON=$PY given"
elif [ "$SMOKE" = 1 ] || [ "${PIN:-1}" = 0 ]; then
  if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
  skip "pinned torch install ($([ "$SMOKE" = 1 ] && echo smoke mode || echo PIN=0)): using $PY"
else
  BASE=python3
  VENV=${TMPDIR:-/tmp}/urlsom_venv
  PY=$BASE
  if part 30 "venv" "$BASE" -m venv --system-site-packages "$VENV"; then
    # shellcheck disable=SC2086  # PINNED is a list of requirements
    if part "${PIN_SECONDS:-150}" "pip install $PINNED (local index)" "$VENV/bin/python" -m pip install -q $PINNED; then
      PY=$VENV/bin/python
    else
      PY=$VENV/bin/python  # the venv still sees the box's own torch
      log "the pinned torch could not be installed: the box's own torch is used (see env.txt)"
    fi
  fi
fi
{ nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv 2>/dev/null || echo "no nvidia-smi"
  "$PY" -c "import sys, torch, torchvision; print('python', sys.version.split()[0], 'torch', torch.__version__, 'torchvision', torchvision.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'NO CUDA')"
} 2>&1 | tee "$WORK/env.txt" | tee -a "$LOG"
export PYTHONPATH=$ROOT${PYTHONPATH:+:$PYTHONPATH}
if [ "$DEVICE" != cpu ] && ! "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  log "ERROR: DEVICE=$DEVICE but torch sees no CUDA device; use --smoke (CPU) or DEVICE=cpu"
  exit 2
fi

# ------------------------------------------------------------------------------------------- 2. bench
if [ "$SMOKE" = 1 ]; then
  skip "bench compiled (torch.compile): need CUDA, smoke mode runs eager on $DEVICE (float32, and bf16 where the CPU has it natively)"
  part 60 "bench: paper net (tiny sizes)" "$PY" -m urlsom_book.cli bench --device "$DEVICE" --sections train \
      --nets paper --tiny --no-compile --quiet --out "$OUT/bench.json"
else
  # eager first, on its own: a compile that outlasts its limit then loses only the compiled number
  part "${EAGER_SECONDS:-90}" "bench: paper net, eager fp32 / bf16" "$PY" -m urlsom_book.cli bench \
      --device "$DEVICE" --sections train --nets paper --no-compile --out "$OUT/bench_eager.json"
  part "${BENCH_SECONDS:-200}" "bench: paper net, eager fp32 / bf16 / compiled" "$PY" -m urlsom_book.cli bench \
      --device "$DEVICE" --sections train --nets paper --out "$OUT/bench.json"
fi

# ---------------------------------------------------------------------------- 3. paper-settings run
if [ "$SMOKE" = 1 ]; then
  DATASET="npz:$WORK/tiny_cifar10.npz"
  "$PY" - "$WORK/tiny_cifar10.npz" <<'EOF' 2>&1 | tee -a "$LOG"
import sys
import numpy as np
rng = np.random.default_rng(0)
labels = np.arange(256) % 10
images = rng.integers(0, 256, (256, 32, 32, 3), dtype=np.uint8)
images[..., labels % 3] //= 2  # a little class structure
np.savez(sys.argv[1], images=images, labels=labels)
print("wrote", sys.argv[1], "(256 random 32x32 RGB images, made for the smoke test)")
EOF
  RUN_SET='{"model.widths": [8], "model.blocks": 1, "model.grid": [6, 6], "train.batch_size": 32, "train.epochs": 2}'
else
  ZIP=${DATA_ZIP:-data/cifar10-jpg/train.zip}
  if [ ! -f "$ZIP" ]; then
    log "ERROR: $ZIP is missing: copy CIFAR-10's train.zip there (mkdir -p data/cifar10-jpg &&" \
        "cp ../shared/data/cifar10-jpg/train.zip data/cifar10-jpg/) and carry data/cifar10-jpg"
  fi
  DATASET="imagefolder:$ZIP"
  RUN_SET='{}'
fi
LEFT=$("$PY" -c "print(round(max(0.2, min(8.0, $TOTAL_MINUTES - ($SECONDS - $T0) / 60 - 2.0)), 2))")
"$PY" - "$WORK/run.yaml" "$DATASET" "$LEFT" "$RUN_SET" <<'EOF' 2>&1 | tee -a "$LOG"
import json, sys
import yaml
from urlsom_book.profiles import load_profile
out, dataset, minutes, extra = sys.argv[1], sys.argv[2], float(sys.argv[3]), json.loads(sys.argv[4])
cfg = load_profile("paper").runs["cifar10"].config(**{"data.dataset": dataset, "data.input_size": 32,
                                                     "train.max_minutes": minutes, **extra})
open(out, "w").write(yaml.safe_dump(cfg.to_dict(), sort_keys=True))
print(f"paper profile's cifar10 run on {dataset}, at most {minutes:.2f} minutes of training, config key {cfg.key()}")
EOF
cp "$WORK/run.yaml" "$OUT/run_config.yaml"
COMPILE_FLAG=()
[ "$SMOKE" = 0 ] && [ "${COMPILE:-1}" = 1 ] && COMPILE_FLAG=(--compile)
[ "$SMOKE" = 1 ] && skip "run with --compile: needs CUDA to pay, smoke mode trains eager on $DEVICE"
LIMIT=$("$PY" -c "print(int($LEFT * 60 + 150))")
part "$LIMIT" "paper-settings CIFAR-10 run (${LEFT} min)" "$PY" -m urlsom_book.cli train --config "$WORK/run.yaml" \
    --device "$DEVICE" --quiet --out "$WORK/run" "${COMPILE_FLAG[@]}"
for f in metrics.json history.jsonl assignments.npz; do
  if [ -f "$WORK/run/$f" ]; then cp "$WORK/run/$f" "$OUT/run_$f"; else log "missing: run/$f"; fi
done

# ----------------------------------------------------------------------------------------- 4. summary
printf '%s\n' "${STEPS[@]}" >"$WORK/steps.md"
"$PY" - "$OUT" "$WORK/steps.md" "$SMOKE" "$((SECONDS - T0))" "$WORK/env.txt" <<'EOF' 2>&1 | tee -a "$LOG"
import json, os, sys
out, steps, smoke, wall, env = sys.argv[1], sys.argv[2], sys.argv[3] == "1", int(sys.argv[4]), sys.argv[5]
def load(name):
    try:
        with open(os.path.join(out, name)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None
lines = [f"# gpu_paper {'(smoke: tiny sizes, numbers meaningless)' if smoke else ''}", "",
         "## Environment", "", "```", open(env).read().strip(), "```", "",
         "## Steps", "", "| step | exit | seconds |", "| --- | --- | --- |", open(steps).read().strip(),
         f"| total | | {wall} |", "", "## Training throughput of the paper net (img/s, both views)", ""]
bench = load("bench.json") or load("bench_eager.json")
if bench and bench.get("train"):
    lines += ["| net | mode | bf16 | batch | img/s | s/step | warm-up s | peak MB |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in bench["train"]:
        if "img_s" not in r:
            lines.append(f"| {r.get('net')} | {r.get('mode')} | {'yes' if r.get('amp') else 'no'} | | failed: {r.get('error', '?')} | | | |")
            continue
        lines.append(f"| {r['net']} | {r['mode']}{' ' + r['compile_mode'] if r.get('compile_mode') else ''} | "
                     f"{'yes' if r['amp'] else 'no'} | {r['batch_pairs']} | {r['img_s']:,.0f} | {r['seconds_per_step']:.4f} | "
                     f"{r['warmup_seconds']:.1f} | {r['peak_bytes'] / 2**20:,.0f} |")
else:
    lines.append("no bench results (see gpu_paper.log)")
lines += ["", "## Paper-settings CIFAR-10 run", ""]
m = load("run_metrics.json")
hist = []
try:
    hist = [json.loads(x) for x in open(os.path.join(out, "run_history.jsonl")) if x.strip()]
except OSError:
    pass
if m:
    full = [h["seconds"] for h in hist if not h.get("partial")]
    per = sum(full) / len(full) if full else float("nan")
    lines += [f"- epochs {m.get('epochs_trained')}, stopped by: {m.get('stop_reason')}, training {m.get('train_seconds', 0):.0f} s",
              f"- seconds per full epoch: {per:.1f} (first {full[0]:.1f})" if full else "- no full epoch",
              f"- NS {m.get('neural_selectivity', float('nan')):.4f} with {m.get('active_neurons')} of {m.get('n_neurons')} neurons live "
              f"(the paper, Fig. 4: 70.3% after 322 epochs on 60,000 images)",
              f"- final loss {hist[-1]['loss']:.4f}" if hist else "- no history"]
    if full:
        lines.append(f"- a 322-epoch run (Fig. 5) at this speed: {322 * per / 60:.0f} minutes on 50,000 images, "
                     f"{322 * per * 1.2 / 60:.0f} on the paper's 60,000")
else:
    lines.append("no metrics (see gpu_paper.log)")
open(os.path.join(out, "summary.md"), "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
EOF
rm -rf "$WORK"
log "done after $((SECONDS - T0)) s; results in $OUT"
