#!/usr/bin/env bash
# The CUDA side of accelport on a real NVIDIA GPU, in one run of at most 8 minutes:
#   1. a Python with a CUDA build of torch: the machine's own if it has one (a venv that sees its
#      site-packages), else `pip install torch` from PyPI (its Linux x86-64 wheel is a CUDA build);
#   2. `accelport info` (CUDA must be detected);
#   3. the conformance suite for cuda, the CUDA class and the generic one (ACCELPORT_REQUIRE_CUDA=1, so
#      nothing can be skipped for want of a GPU), plus the selection tests;
#   4. the CUDA fused-Adam kernel built and run against torch.optim.AdamW(fused=True): correctness to
#      1e-6 over 20 steps, step-time ratio on ~100M parameters (bench/gpu_adam.py);
#   5. both examples ported by `accelport rewrite`, trained on the GPU in one process and under
#      `torchrun --nproc-per-node 1`;
#   6. the dispatch cost of the CUDA accelerators (bench/bench_dispatch.py);
# then one summary table (also written to $WORK/summary.md). Exit 0 only if every step passed.
#
#   bash bench/gpu_check.sh [--dry-run] [--work DIR]
#
# --dry-run: no GPU needed; checks the script's own plumbing (argument handling, the summary, the
# example port and the Adam script on the CPU) with the current Python, and says which steps it left out.
# Needs only the package registry (no other internet). Environment: PYTHON (the interpreter to try
# first), GPU_CHECK_BUDGET (seconds, default 480).
set -uo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DRY_RUN=0
WORK=""
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY_RUN=1 ;;
    --work) WORK="$2"; shift ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "gpu_check: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
WORK="${WORK:-$(mktemp -d /tmp/accelport_gpu_check.XXXXXX)}"
mkdir -p "$WORK"
BUDGET="${GPU_CHECK_BUDGET:-480}"
START=$SECONDS

STEPS=()
declare -A RESULT SECS DETAIL

# record NAME STATUS SECONDS DETAIL
record() {
  STEPS+=("$1")
  RESULT["$1"]="$2"
  SECS["$1"]="$3"
  DETAIL["$1"]="$4"
  printf '== %s: %s (%ss) %s\n' "$1" "$2" "$3" "$4" >&2
}

left() { echo $(( BUDGET - (SECONDS - START) )); }

# run NAME LIMIT COMMAND...: run with a time limit (never past the budget), log to $WORK/NAME.log.
run() {
  local name="$1" limit="$2"
  shift 2
  local remaining
  remaining="$(left)"
  if [ "$remaining" -lt 10 ]; then
    record "$name" "SKIPPED" 0 "out of time (budget ${BUDGET}s)"
    return 1
  fi
  [ "$limit" -gt "$remaining" ] && limit="$remaining"
  local began=$SECONDS
  timeout --kill-after=10 "$limit" "$@" >"$WORK/$name.log" 2>&1
  local rc=$?
  LAST_SECS=$(( SECONDS - began ))
  if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
    LAST_RC=$rc
    LAST_NOTE="timed out after ${limit}s"
  else
    LAST_RC=$rc
    LAST_NOTE=""
  fi
  return $rc
}

tail_of() { tail -n "${2:-3}" "$WORK/$1.log" 2>/dev/null | tr '\n' ' ' | cut -c1-220; }

# ---------------------------------------------------------------------------------------------
# 1. A Python with CUDA torch, and accelport installed in a venv.
has_cuda_torch() {
  "$1" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' >/dev/null 2>&1
}

setup() {
  local base=""
  for candidate in "${PYTHON:-}" python3 python; do
    [ -n "$candidate" ] || continue
    command -v "$candidate" >/dev/null 2>&1 || continue
    if [ "$DRY_RUN" = 1 ]; then
      "$candidate" -c 'import torch, accelport' >/dev/null 2>&1 && { base="$candidate"; break; }
    elif has_cuda_torch "$candidate"; then
      base="$candidate"; break
    fi
  done
  if [ "$DRY_RUN" = 1 ]; then
    [ -n "$base" ] || { SETUP_NOTE="dry run: no python here imports torch and accelport (set PYTHON)"; return 1; }
    PY="$(command -v "$base")"
    SETUP_NOTE="dry run: $PY as it is, nothing installed"
    return 0
  fi
  local venv="$WORK/venv"
  if [ -n "$base" ]; then
    # The machine's CUDA torch stays in use: the venv sees the system site-packages, and pip is told
    # not to touch torch (the extras' torch>=2.1 is already satisfied).
    "$base" -m venv --system-site-packages "$venv" || return 1
    SETUP_NOTE="torch from $base"
  else
    base="$(command -v python3)"
    "$base" -m venv "$venv" || return 1
    "$venv/bin/pip" install -q torch || return 1
    SETUP_NOTE="pip install torch (PyPI)"
  fi
  PY="$venv/bin/python"
  "$PY" -m pip install -q -e "$REPO" ninja psutil numpy pytest || return 1
  has_cuda_torch "$PY" || { SETUP_NOTE="$SETUP_NOTE, but torch.cuda.is_available() is False"; return 1; }
  local version
  version="$("$PY" -c 'import torch; print(torch.__version__, "CUDA", torch.version.cuda, torch.cuda.get_device_name(0))')"
  SETUP_NOTE="$SETUP_NOTE: torch $version"
}

began=$SECONDS
if setup >"$WORK/setup.log" 2>&1; then
  record setup PASS $(( SECONDS - began )) "$SETUP_NOTE"
else
  record setup FAIL $(( SECONDS - began )) "${SETUP_NOTE:-} $(tail_of setup)"
  PY=""
fi

# The CUDA toolkit for the kernel build: the machine's nvcc if any (CUDA_HOME, PATH, /usr/local/cuda).
if [ -z "${CUDA_HOME:-}" ]; then
  if command -v nvcc >/dev/null 2>&1; then
    CUDA_HOME="$(dirname "$(dirname "$(readlink -f "$(command -v nvcc)")")")"
  elif [ -x /usr/local/cuda/bin/nvcc ]; then
    CUDA_HOME=/usr/local/cuda
  fi
fi
[ -n "${CUDA_HOME:-}" ] && export CUDA_HOME

export ACCELPORT_BUILD_DIR="$WORK/torch_extensions"
unset ACCELPORT_ACCELERATOR DS_ACCELERATOR
cd "$WORK" || exit 2  # the examples write their checkpoints into the working directory

# ---------------------------------------------------------------------------------------------
if [ -n "$PY" ]; then
  # 2. detection
  if [ "$DRY_RUN" = 1 ]; then
    record info SKIPPED 0 "dry run (needs a GPU)"
  elif run info 60 "$PY" -m accelport info; then
    if grep -q '^accelerator: cuda (CudaAccelerator)' "$WORK/info.log"; then
      record info PASS "$LAST_SECS" "$(sed -n 2p "$WORK/info.log")"
    else
      record info FAIL "$LAST_SECS" "CUDA not detected: $(head -n 2 "$WORK/info.log" | tr '\n' ' ')"
    fi
  else
    record info FAIL "${LAST_SECS:-0}" "${LAST_NOTE:-} $(tail_of info)"
  fi

  # 3. conformance for cuda: the CUDA class and TorchAccelerator("cuda")
  if [ "$DRY_RUN" = 1 ]; then
    record conformance SKIPPED 0 "dry run (needs a GPU)"
  elif run conformance 150 env ACCELPORT_REQUIRE_CUDA=1 "$PY" -m pytest -q --rootdir "$REPO" \
        "$REPO/tests/runtime/test_conformance.py" "$REPO/tests/runtime/test_selection.py"; then
    record conformance PASS "$LAST_SECS" "$(tail -n 1 "$WORK/conformance.log")"
  else
    record conformance FAIL "${LAST_SECS:-0}" "${LAST_NOTE:-} $(tail_of conformance 2)"
  fi

  # 4. fused-Adam kernel against torch.optim.AdamW(fused=True)
  if [ "$DRY_RUN" = 1 ]; then
    adam_args=(--device cpu --params 300000 --reps 2)
  else
    adam_args=(--device cuda --params 100000000 --steps 20 --reps 10)
  fi
  if run fused_adam 240 "$PY" "$REPO/bench/gpu_adam.py" "${adam_args[@]}"; then
    record fused_adam PASS "$LAST_SECS" "$(tail -n 1 "$WORK/fused_adam.log")"
  else
    record fused_adam FAIL "${LAST_SECS:-0}" "${LAST_NOTE:-} $(tail_of fused_adam 2)"
  fi

  # 5. the ported examples on the GPU, single process and under torchrun
  PORTED="$WORK/ported"
  rm -rf "$PORTED" && mkdir -p "$PORTED" && cp "$REPO"/examples/*.py "$PORTED"/
  # exit 1 = rewritten with sites reported for a human (expected); 0 = nothing to do; more = failure
  run port 60 "$PY" -m accelport rewrite --no-cache "$PORTED"
  if [ "${LAST_RC:-2}" -le 1 ] && grep -q "get_accelerator" "$PORTED/train_cuda.py"; then
    record port PASS "$LAST_SECS" "$(tail_of port 1)"
  else
    record port FAIL "${LAST_SECS:-0}" "${LAST_NOTE:-} $(tail_of port)"
  fi

  # train NAME EXPECT SCRIPT ARGS...: passes when it exits 0, the last epoch's loss is below the first,
  # and the log holds EXPECT (where the script says which device it used), when EXPECT is not empty.
  train() {
    local name="$1" expect="$2"
    shift 2
    if run "$name" 120 "$@"; then
      local losses
      losses="$(grep -oE '^epoch [0-9]+ loss [0-9.]+' "$WORK/$name.log" | awk '{print $4}' | tr '\n' ' ')"
      if [ -n "$expect" ] && ! grep -q "$expect" "$WORK/$name.log"; then
        record "$name" FAIL "$LAST_SECS" "the log does not say '$expect': not on the GPU?"
      elif awk -v l="$losses" 'BEGIN { n = split(l, a, " "); exit !(n >= 2 && a[n] < a[1]) }'; then
        record "$name" PASS "$LAST_SECS" "loss $losses"
      else
        record "$name" FAIL "$LAST_SECS" "loss did not go down: $losses"
      fi
    else
      record "$name" FAIL "${LAST_SECS:-0}" "${LAST_NOTE:-} $(tail_of "$name")"
    fi
  }
  on="probe on cuda"
  if [ "$DRY_RUN" = 1 ]; then
    export ACCELPORT_ACCELERATOR=cpu  # the plumbing on the CPU; on a GPU detection must pick CUDA
    on="probe on cpu"
  fi
  train train_1proc "" "$PY" "$PORTED/train_cuda.py" --epochs 2
  train finetune_1proc "$on" "$PY" "$PORTED/finetune_cuda.py" --epochs 2 --resume-epochs 1
  train train_torchrun "" "$PY" -m torch.distributed.run --standalone --nproc-per-node 1 "$PORTED/train_cuda.py" --epochs 2
  train finetune_torchrun "$on" "$PY" -m torch.distributed.run --standalone --nproc-per-node 1 \
    "$PORTED/finetune_cuda.py" --epochs 2 --resume-epochs 1
  unset ACCELPORT_ACCELERATOR

  # 6. dispatch cost of the CUDA accelerators (no pass/fail: a measurement for docs/performance.md)
  if [ "$DRY_RUN" = 1 ]; then
    record dispatch SKIPPED 0 "dry run (needs a GPU)"
  elif run dispatch 60 "$PY" "$REPO/bench/bench_dispatch.py" -a cuda -a torch:cuda --number 5000 --repeat 5; then
    record dispatch DONE "$LAST_SECS" "table in $WORK/dispatch.log"
  else
    record dispatch FAIL "${LAST_SECS:-0}" "${LAST_NOTE:-} $(tail_of dispatch)"
  fi
fi

# ---------------------------------------------------------------------------------------------
SUMMARY="$WORK/summary.md"
{
  echo "accelport gpu_check $(date -u '+%Y-%m-%d %H:%M UTC') on $(hostname)$([ "$DRY_RUN" = 1 ] && echo ' (DRY RUN: no GPU used)')"
  command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | sed 's/^/GPU: /'
  echo
  echo "| step | result | s | detail |"
  echo "|---|---|---|---|"
  for step in "${STEPS[@]}"; do
    echo "| $step | ${RESULT[$step]} | ${SECS[$step]} | ${DETAIL[$step]//|//} |"
  done
  echo
  echo "total: $(( SECONDS - START ))s of a ${BUDGET}s budget; logs in $WORK"
  if [ -f "$WORK/dispatch.log" ]; then echo; cat "$WORK/dispatch.log"; fi
} >"$SUMMARY"
cat "$SUMMARY"

for step in "${STEPS[@]}"; do
  case "${RESULT[$step]}" in
    FAIL) exit 1 ;;
    SKIPPED) [ "$DRY_RUN" = 1 ] || exit 1 ;;
  esac
done
exit 0
