#!/usr/bin/env bash
# One device call: build the library (run_device.sh build: sm_90a, the ctest driver), then fwd_small.py (the short
# forwards timed per call, back to back, as CUDA graph replays and per kernel, beside SDPA). Logs and JSON go to $OUT.
# Usage (from the repository root): bash bench/cuda/run_small.sh
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
root=$(pwd)
t0=$(date +%s)
bash bench/cuda/run_device.sh build || exit 1
cd bench/cuda
PYTHONUNBUFFERED=1 timeout 240 python3 fwd_small.py "$root/build/libliger_dev.so" "$OUT/small.json" 2>&1 \
  | grep -v -i warn | tee "$OUT/small.log" | grep -E '^\|'
echo "total: $(( $(date +%s) - t0 )) s"
