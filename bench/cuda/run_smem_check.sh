#!/usr/bin/env bash
# The code paths of smaller GPUs, run on a Hopper part (one device call): the library built for sm_90a
# and checked with its kernels planned for an A100's shared memory (166912 bytes per block) and for an
# sm_86 / sm_89 part's (101376), then built as compute_80 PTX only (the sm_80 code, JIT-compiled by the
# driver) and checked at the device's own limit and at the A100's; check.py's fp16 cases with LIGER_CUDA_F16_FAST=1
# on those builds; the decode checks beside them, and the gated delta rule's refusal at the smaller limits.
# Run from the folder holding native/, cmake/, bench/cuda/. Logs go to $OUT.
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
root=$(pwd)
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
cudalib="$(dirname "$(readlink -f "$(command -v nvcc)")")/../lib64"
build() {  # build DIR ARCHITECTURES
  cmake -S native -B "$1" -G Ninja -DLIGER_CUDA=ON -DLIGER_CUDA_ARCHITECTURES="$2" -DBUILD_TESTING=OFF \
    -DCMAKE_BUILD_TYPE=Release >"$OUT/build_$2.log" 2>&1 \
    && cmake --build "$1" -j 16 --target liger >>"$OUT/build_$2.log" 2>&1 \
    && g++ -shared -o "$1/libliger_dev.so" -Wl,--whole-archive "$1/libliger.a" -Wl,--no-whole-archive \
         -L"$cudalib" -L/usr/local/cuda/lib64 -lcudart_static -ldl -lrt -lpthread >>"$OUT/build_$2.log" 2>&1 \
    || { tail -30 "$OUT/build_$2.log"; return 1; }
}
t0=$(date +%s)
build build90 90a || exit 1
build build80 80-virtual || exit 1
echo "builds: $(( $(date +%s) - t0 )) s"
cd bench/cuda
export PYTHONUNBUFFERED=1
rc=0
run() {  # run LOG LIB [ENV=VALUE...] SCRIPT
  local log=$1 lib=$2; shift 2
  local t1; t1=$(date +%s)
  env "$@" "$lib" > "$OUT/$log" 2>&1; local r=$?
  echo "$log: rc=$r, $(( $(date +%s) - t1 )) s: $(grep -E '^SUMMARY|passed|failed' "$OUT/$log" | tail -1)"
  grep -E '^(FAIL|SKIP)' "$OUT/$log" | head -20
  [[ $r == 0 ]] || rc=1
}
lib90=$root/build90/libliger_dev.so lib80=$root/build80/libliger_dev.so
run check_90a_a100.log "$lib90" LIGER_CUDA_SMEM_LIMIT=166912 python3 check.py
run check_90a_sm86.log "$lib90" LIGER_CUDA_SMEM_LIMIT=101376 python3 check.py
run check_80ptx.log "$lib80" python3 check.py
run check_80ptx_a100.log "$lib80" LIGER_CUDA_SMEM_LIMIT=166912 python3 check.py
# fp16 through the bf16 kernels (LIGER_CUDA_F16_FAST=1: check.py's fp16 cases at bf16's tolerances) as sm_80 code,
# at its own limit and at the A100's, and at sm_86's limit (where the fast kernels do not fit: the fp32 kernels)
run check_80ptx_f16fast.log "$lib80" LIGER_CUDA_F16_FAST=1 python3 check.py
run check_80ptx_a100_f16fast.log "$lib80" LIGER_CUDA_F16_FAST=1 LIGER_CUDA_SMEM_LIMIT=166912 python3 check.py
run check_90a_sm86_f16fast.log "$lib90" LIGER_CUDA_F16_FAST=1 LIGER_CUDA_SMEM_LIMIT=101376 python3 check.py
run decode_80ptx.log "$lib80" python3 check_decode.py
run decode_90a_sm86.log "$lib90" LIGER_CUDA_SMEM_LIMIT=101376 python3 check_decode.py
# the gated delta rule's tiles need up to 222 KB at any head size: at these limits its calls are refused
# (UNSUPPORTED, naming the kernel and both sizes), which is what these two runs check
refused() {  # refused LOG LIB ENV=VALUE SCRIPT
  local log=$1 lib=$2; shift 2
  env "$@" "$lib" > "$OUT/$log" 2>&1
  if grep -q 'UNSUPPORTED: CUDA kernel .* bytes of shared memory' "$OUT/$log"; then
    echo "$log: refused as expected: $(grep -o 'UNSUPPORTED: CUDA kernel .*' "$OUT/$log" | head -1)"
  else
    echo "$log: NOT refused for shared memory"; tail -3 "$OUT/$log"; rc=1
  fi
}
refused gdn_90a_a100.log "$lib90" LIGER_CUDA_SMEM_LIMIT=166912 python3 check_gdn.py
refused gdn_90a_sm86.log "$lib90" LIGER_CUDA_SMEM_LIMIT=101376 python3 check_gdn.py
exit $rc
