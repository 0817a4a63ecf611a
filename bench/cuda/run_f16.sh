#!/usr/bin/env bash
# One device call for fp16 inputs: builds the library (sm_90a), runs check.py with LIGER_CUDA_F16_FAST=1 (the fp16
# cases through the bf16 fast forward) and without it (every case), then bench.py's forward and forward + backward
# (2K, 8K, 32K; B=1, Hq=32, Hkv=8, D=128) in fp16 on the fp16 path, in fp16 through the fast forward and in bf16,
# and fla's chunk_gla forward in fp16. Run from the folder holding native/, bench/cuda/ (and fla_src/). Logs in $OUT.
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
root=$(pwd)
source bench/cuda/ab_trees.sh
TREES="cand:native" ab_build_trees
[[ -n $libs ]] || exit 1
lib=${libs#*=}; lib=${lib%% *}
cd bench/cuda
export PYTHONUNBUFFERED=1
LIGER_CUDA_F16_FAST=1 python3 check.py "$lib" >"$OUT/check_f16fast.log" 2>&1; rc1=$?
grep -E "FAIL|SUMMARY" "$OUT/check_f16fast.log"
python3 check.py "$lib" >"$OUT/check.log" 2>&1; rc2=$?
grep -E "FAIL|SUMMARY" "$OUT/check.log"
{
  echo "== fp16, fp16 path"; python3 bench.py "$lib" --ours-bwd --f16 --no-decode 2>&1 | grep '^{'
  echo "== fp16, LIGER_CUDA_F16_FAST=1"; LIGER_CUDA_F16_FAST=1 python3 bench.py "$lib" --ours-bwd --f16 --no-decode 2>&1 | grep '^{'
  echo "== bf16"; python3 bench.py "$lib" --ours-bwd --no-decode 2>&1 | grep '^{'
  echo "== fla fp16 forward (ours: LIGER_CUDA_F16_FAST=1)"
  LIGER_CUDA_F16_FAST=1 FLA_SRC=$root/fla_src python3 bench.py "$lib" --ours-fla --f16 --no-decode 2>&1 | grep -v Warning
} | tee "$OUT/bench_f16.log"
exit $(( rc1 || rc2 ))
