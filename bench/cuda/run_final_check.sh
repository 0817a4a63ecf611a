#!/usr/bin/env bash
# One device call on the merged tree: build + ctest driver + check.py (run_device.sh check), then check.py's fp16
# cases through the fast forward (LIGER_CUDA_F16_FAST=1), check_decode.py (default dispatch, then the reference
# decode kernels), check_gdn.py and decode_memory.py on the same library. Run from the folder holding native/, cmake/,
# bench/cuda/. Logs go to $OUT.
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
root=$(pwd)
bash bench/cuda/run_device.sh check; rc=$?
cd bench/cuda
LIGER_CUDA_F16_FAST=1 python3 check.py "$root/build/libliger_dev.so" 2>&1 | tee "$OUT/check_f16fast.log" | tail -1
rcf=${PIPESTATUS[0]}
python3 check_decode.py "$root/build/libliger_dev.so" 2>&1 | tee "$OUT/decode_check.log" | tail -3; rcd=${PIPESTATUS[0]}
LIGER_CUDA_DECODE_REFERENCE=1 python3 check_decode.py "$root/build/libliger_dev.so" 2>&1 | tee -a "$OUT/decode_check.log" | tail -3
rcd=$(( rcd || ${PIPESTATUS[0]} ))
python3 check_gdn.py "$root/build/libliger_dev.so" 2>&1 | tee "$OUT/gdn_check.log" | tail -4; rc2=${PIPESTATUS[0]}
python3 decode_memory.py "$root/build/libliger_dev.so" "$OUT/decode_memory.json" 2>&1 | tee "$OUT/decode_memory.log"; rc3=${PIPESTATUS[0]}
echo "rc: check.py $rc, check.py (LIGER_CUDA_F16_FAST=1) $rcf, check_decode.py $rcd, check_gdn.py $rc2, decode_memory.py $rc3"
exit $(( rc || rcf || rcd || rc2 || rc3 ))
