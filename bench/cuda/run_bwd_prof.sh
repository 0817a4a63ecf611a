#!/usr/bin/env bash
# k_fswa_bwd A/B with Nsight's stall samples per CUDA source line (run 37b), in one device call: run30f_ab.sh with
# AB=bwd ("base": cand's archive with attn.cu compiled from native_base/, main's tree; "cand": native/; VARIANTS,
# CHECK and LIMITS as there; bwd_ab.py on every library), then run_prof.sh with ncu_bwd.py on the libraries in PROF
# (default "base cand") for KERNELS (default k_fswa_bwd<128, true>).
# Usage (from the folder holding native/, native_base/, cmake/, bench/):
#   VARIANTS="v1:-DX=1" CHECK="v1" PROF="base cand" bash bench/cuda/run_bwd_prof.sh
set -uo pipefail
mkdir -p base && ln -sfn ../native_base base/native
AB=bwd bash bench/cuda/run30f_ab.sh; rc=$?
cd bench/cuda
libs=""
for n in ${PROF:-base cand}; do
  [[ -f ../../build_$n/libliger_dev.so ]] && libs="$libs $n=../../build_$n/libliger_dev.so"
done
LIBS="$libs" KERNELS="${KERNELS:-fswa:k_fswa_bwdILi128ELb1E}" DRIVER=ncu_bwd.py bash run_prof.sh
exit $rc
