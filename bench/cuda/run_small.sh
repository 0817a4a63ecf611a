#!/usr/bin/env bash
# One device call: build the library (sm_90a, as run_device.sh), then fwd_small.py (the short forwards timed per
# call, back to back, as CUDA graph replays and per kernel, beside SDPA). Logs and JSON go to $OUT.
# Usage (from the repository root): bash bench/cuda/run_small.sh
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
root=$(pwd)
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,clocks.mem --format=csv,noheader
t0=$(date +%s)
cmake -S native -B build -G Ninja -DLIGER_CUDA=ON -DLIGER_CUDA_ARCHITECTURES=90a -DCMAKE_BUILD_TYPE=Release \
  >"$OUT/build.log" 2>&1 && cmake --build build -j 16 --target liger >>"$OUT/build.log" 2>&1 \
  && g++ -shared -o build/libliger_dev.so -Wl,--whole-archive build/libliger.a -Wl,--no-whole-archive \
    -L"$(dirname "$(readlink -f "$(command -v nvcc)")")/../lib64" -L/usr/local/cuda/lib64 -lcudart_static -ldl -lrt \
    -lpthread >>"$OUT/build.log" 2>&1 || { tail -30 "$OUT/build.log"; exit 1; }
echo "build: $(( $(date +%s) - t0 )) s"
cd bench/cuda
PYTHONUNBUFFERED=1 timeout 240 python3 fwd_small.py "$root/build/libliger_dev.so" "$OUT/small.json" 2>&1 \
  | grep -v -i warn | tee "$OUT/small.log" | grep -E '^\|'
echo "total: $(( $(date +%s) - t0 )) s"
