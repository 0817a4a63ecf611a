#!/usr/bin/env bash
# One device call for fp16 inputs: builds the library (sm_90a; and a baseline tree native_base/ beside it when
# there is one, ab_trees.sh), runs check.py with LIGER_CUDA_F16_FAST=1 (the fp16 cases through the fast forward and
# backward on bf16 tiles) and without it (every case), then bench.py: the forward and forward + backward (2K, 8K,
# 32K; B=1, Hq=32, Hkv=8, D=128) in fp16 on the fp16 path and in bf16 (each tree), and the whole benchmark in fp16
# with LIGER_CUDA_F16_FAST=1 (fla's chunk_gla and SDPA in fp16 beside it). Run from the folder holding native/,
# bench/cuda/ (and fla_src/). Logs in $OUT.
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
root=$(pwd)
source bench/cuda/ab_trees.sh
TREES="cand:native"
[[ -d native_base ]] && TREES="$TREES base:native_base"
ab_build_trees
echo "built:$libs"
lib=${libs#*=}; lib=${lib%% *}
[[ $libs == " cand="* ]] || exit 1
cd bench/cuda
export PYTHONUNBUFFERED=1
LIGER_CUDA_F16_FAST=1 python3 check.py "$lib" >"$OUT/check_f16fast.log" 2>&1; rc1=$?
grep -E "FAIL|SUMMARY" "$OUT/check_f16fast.log"
python3 check.py "$lib" >"$OUT/check.log" 2>&1; rc2=$?
grep -E "FAIL|SUMMARY" "$OUT/check.log"
{
  for round in 1 2; do
    for nl in $libs; do
      n=${nl%%=*}; l=${nl#*=}
      echo "== $n bf16 (round $round)"; python3 bench.py "$l" --ours-bwd --no-decode 2>&1 | grep '^{'
    done
  done
  echo "== cand fp16, fp16 path"; python3 bench.py "$lib" --ours-bwd --f16 --no-decode 2>&1 | grep '^{'
  echo "== cand fp16, LIGER_CUDA_F16_FAST=1, fla and SDPA in fp16"
  LIGER_CUDA_F16_FAST=1 FLA_SRC=$root/fla_src python3 bench.py "$lib" --f16 --no-decode 2>&1 | grep -v Warning
} | tee "$OUT/bench_f16.log"
exit $(( rc1 || rc2 ))
