#!/usr/bin/env bash
# Backward run 25b, A/B in one device call: native/ (the candidate) and native_base/ (the tree it started
# from) built side by side; check.py and the ctest driver on the candidate; bwd_ab.py (per-kernel times at 8K,
# fwd+bwd at 2K / 8K / 32K, the two interleaved); then k_fswa_bwd, k_fdkv and k_fdq at T = 8K under Nsight
# Compute for both (per-reason stalls, occupancy, tensor-pipe use). Each step has its own time limit.
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
root=$(pwd)
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm --format=csv,noheader
t0=$(date +%s)
cudalib="-L$(dirname "$(readlink -f "$(command -v nvcc)")")/../lib64 -L/usr/local/cuda/lib64 -lcudart_static -ldl -lrt -lpthread"
build() {  # $1 source tree, $2 build dir, $3 extra targets
  cmake -S "$1" -B "$2" -G Ninja -DLIGER_CUDA=ON -DLIGER_CUDA_ARCHITECTURES=90a -DBUILD_TESTING=ON \
    -DCMAKE_BUILD_TYPE=Release >"$2.log" 2>&1 && cmake --build "$2" -j 16 --target liger $3 >>"$2.log" 2>&1 &&
    g++ -shared -o "$2/libliger_dev.so" -Wl,--whole-archive "$2/libliger.a" -Wl,--no-whole-archive $cudalib >>"$2.log" 2>&1
}
build native build liger_cuda_test & p1=$!
build native_base build_base "" & p2=$!
wait $p1 || { tail -30 build.log; cp build.log "$OUT/"; exit 1; }
wait $p2 || { tail -30 build_base.log; cp build_base.log "$OUT/"; }
echo "builds: $(( $(date +%s) - t0 )) s"
(cd build && timeout 30 ctest -R liger_cuda_test --output-on-failure >"$OUT/ctest.log" 2>&1; echo "ctest rc=$?")
cd bench/cuda
export PYTHONUNBUFFERED=1
t1=$(date +%s)
timeout 90 python3 check.py "$root/build/libliger_dev.so" >"$OUT/check.log" 2>&1; rc=$?
echo "check: $(( $(date +%s) - t1 )) s, rc=$rc"; grep -E "FAIL|SUMMARY" "$OUT/check.log" | head -20
libs="cand=$root/build/libliger_dev.so"
[[ -f $root/build_base/libliger_dev.so ]] && libs="base=$root/build_base/libliger_dev.so $libs"
timeout 60 python3 bwd_ab.py $libs >"$OUT/ab.log" 2>&1; echo "ab rc=$?"
grep -E "^\|" "$OUT/ab.log" | grep -E "k_fswa_bwd|k_fdkv|k_fdq|total|^\| T|^\| [0-9]"
for l in $libs; do
  name=${l%%=*}; lib=${l#*=}
  timeout 40 ncu --kernel-name regex:'k_fswa_bwd|k_fdkv|k_fdq' --launch-count 3 --section SpeedOfLight \
    --section LaunchStats --section Occupancy --section WarpStateStats --section ComputeWorkloadAnalysis \
    --metrics 'regex:smsp__average_warps_issue_stalled_.*_per_issue_active\.ratio,smsp__inst_executed.sum,sm__pipe_tensor_op_hmma_cycles_active.avg.pct_of_peak_sustained_active,sm__inst_executed_pipe_tensor_op_hmma.avg.pct_of_peak_sustained_active' \
    python3 ncu_bwd.py "$lib" >"$OUT/ncu_$name.log" 2>&1
  echo "== ncu $name rc=$?"
  grep -E "  k_f|Duration|Registers Per|Achieved Occupancy|Warp Cycles Per Issued|hmma|stalled_(no_instruction|long_scoreboard|wait|short_scoreboard|lg_throttle|mio_throttle|math_pipe|barrier|dispatch|not_selected|selected|membar|drain|branch|tex|sleeping|imc|misc)_per" \
    "$OUT/ncu_$name.log" | sed 's/  */ /g' | awk '{ if ($0 ~ /stalled/) { n=$1; sub(/smsp__average_warps_issue_stalled_/,"",n); sub(/_per_issue_active.ratio/,"",n); if ($NF+0 >= 0.3) printf "%s=%s ", n, $NF } else { print "" ; printf "%s", $0 } } END {print ""}'
  [[ $(( $(date +%s) - t0 )) -gt 215 ]] && break
done
echo "total: $(( $(date +%s) - t0 )) s"
exit $rc
