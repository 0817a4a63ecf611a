#!/usr/bin/env bash
# A forward change, A/B in one device call (run 51f): run30f_ab.sh with native_base/ (the tree before, e.g.
# `git archive HEAD native`) as "base" (ctest, check.py on cand, forward timings of base and cand in two rounds,
# VARIANTS as there), then check.py on cand in the fp16 fast mode and fwd_small.py on both (the short forwards per
# call, back to back, as graph replays and per kernel). Usage (repository root, native_base/ beside native/):
#   bash bench/cuda/run_fwd_ab.sh
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
root=$(pwd)
mkdir -p base && ln -sfn ../native_base base/native
bash bench/cuda/run30f_ab.sh; status=$?
cd bench/cuda
lib=$root/build_cand/libliger_dev.so
LIGER_CUDA_F16_FAST=1 timeout 90 python3 check.py "$lib" >"$OUT/check_cand_f16fast.log" 2>&1; rc=$?
[[ $rc == 0 ]] || status=$rc
echo "check cand f16fast rc=$rc"; grep -E "FAIL|SUMMARY" "$OUT/check_cand_f16fast.log" | tail -3
for n in base cand; do
  timeout 150 python3 fwd_small.py "$root/build_$n/libliger_dev.so" "$OUT/small_$n.json" 2>&1 | grep -v -i warn >"$OUT/small_$n.log"
  echo "== fwd_small $n"; grep -E '^\| [18] ' "$OUT/small_$n.log"
done
exit $status
