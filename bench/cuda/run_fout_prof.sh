#!/usr/bin/env bash
# k_fout A/B with Nsight Compute's full set, in one device call: run30f_ab.sh (base = native_base/'s attn.cu, cand =
# native/, VARIANTS / CHECK / ONCE as there), then for each library in PROF (default "base cand") one k_fout at T = 8K
# profiled by run_prof.sh: stall samples and executed instructions per CUDA source line (prof_NAME_fout_lines.txt)
# and the warp-state / instruction sections (prof_NAME_fout_details.log).
# Usage (from the folder holding native/, native_base/, cmake/, bench/): bench/cuda/run_fout_prof.sh
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
mkdir -p base && ln -sfn ../native_base base/native
bash bench/cuda/run30f_ab.sh
cd bench/cuda
libs=""
for n in ${PROF:-base cand}; do
  [[ -f ../../build_$n/libliger_dev.so ]] || continue
  cuobjdump -sass "../../build_$n/libliger_dev.so" 2>/dev/null | awk '/Function :/{f=($0 ~ /k_fout/)} f' >"/tmp/sass_$n.txt"
  echo "SASS k_fout $n: HGMMA $(grep -c HGMMA "/tmp/sass_$n.txt") HMMA $(grep -c HMMA "/tmp/sass_$n.txt")" \
    "LDSM $(grep -c LDSM "/tmp/sass_$n.txt") LDL $(grep -c LDL "/tmp/sass_$n.txt") STL $(grep -c STL "/tmp/sass_$n.txt")"
  libs="$libs $n=../../build_$n/libliger_dev.so"
done
LIBS="$libs" KERNELS="fout:k_fout.*Li128ELi16ELb1E" bash run_prof.sh
