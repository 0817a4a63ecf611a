#!/usr/bin/env bash
# Backward run 25b, A/B in one device call. TREES names the source trees as name:folder (each folder a
# native/ tree beside this one), the first the candidate and the last the baseline, e.g.
#   TREES="cand:native fb:native_fb base:native_base" bash bench/cuda/run25b_ab.sh
# All are built side by side; check.py runs on each but the baseline (the ctest driver on the first);
# bwd_ab.py gives per-kernel times at 8K and fwd+bwd at 2K / 8K / 32K, the libraries interleaved; then the
# candidate's big backward kernels at T = 8K under Nsight Compute (per-reason stalls, occupancy, tensor
# pipe), and the baseline's too when NCU_BASE=1. Each step has its own time limit.
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
root=$(pwd)
TREES=${TREES:-"cand:native base:native_base"}
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm --format=csv,noheader
t0=$(date +%s)
cudalib="-L$(dirname "$(readlink -f "$(command -v nvcc)")")/../lib64 -L/usr/local/cuda/lib64 -lcudart_static -ldl -lrt -lpthread"
build() {  # $1 source tree, $2 build dir, $3 extra targets
  cmake -S "$1" -B "$2" -G Ninja -DLIGER_CUDA=ON -DLIGER_CUDA_ARCHITECTURES=90a -DBUILD_TESTING=ON \
    -DCMAKE_BUILD_TYPE=Release >"$2.log" 2>&1 && cmake --build "$2" -j 16 --target liger $3 >>"$2.log" 2>&1 &&
    g++ -shared -o "$2/libliger_dev.so" -Wl,--whole-archive "$2/libliger.a" -Wl,--no-whole-archive $cudalib >>"$2.log" 2>&1
}
names=(); pids=(); first=1
for t in $TREES; do
  n=${t%%:*}; d=${t#*:}; names+=("$n")
  if [[ $first == 1 ]]; then build "$d" "build_$n" liger_cuda_test & else build "$d" "build_$n" "" & fi
  pids+=($!); first=0
done
libs=""
for i in "${!names[@]}"; do
  n=${names[$i]}
  if wait "${pids[$i]}"; then libs="$libs $n=$root/build_$n/libliger_dev.so"; else echo "build $n failed"; tail -20 "build_$n.log"; fi
done
echo "builds: $(( $(date +%s) - t0 )) s"
cand=${names[0]}; base=${names[-1]}
(cd "build_$cand" && timeout 30 ctest -R liger_cuda_test --output-on-failure >"$OUT/ctest.log" 2>&1; echo "ctest $cand rc=$?")
cd bench/cuda
export PYTHONUNBUFFERED=1
rc=0
for l in $libs; do
  n=${l%%=*}; [[ $n == "$base" ]] && continue
  t1=$(date +%s)
  timeout 60 python3 check.py "${l#*=}" >"$OUT/check_$n.log" 2>&1; r=$?
  [[ $n == "$cand" ]] && rc=$r
  echo "check $n: $(( $(date +%s) - t1 )) s, rc=$r"; grep -E "FAIL|SUMMARY" "$OUT/check_$n.log" | head -12
done
timeout 75 python3 bwd_ab.py $libs >"$OUT/ab.log" 2>&1; echo "ab rc=$?"
grep -E "^\|" "$OUT/ab.log" | grep -E "k_fswa_bwd|k_fdkv|k_fdq|k_fdstate|total|^\| T|^\| [0-9]"
for l in $libs; do
  n=${l%%=*}
  [[ $n == "$cand" || ( $n == "$base" && ${NCU_BASE:-0} == 1 ) ]] || continue
  [[ $(( $(date +%s) - t0 )) -gt 190 ]] && break
  timeout 45 ncu --kernel-name regex:'k_fswa_bwd|k_fdkv|k_fdq|k_fdstate<' --launch-count 4 --section SpeedOfLight \
    --section LaunchStats --section Occupancy --section WarpStateStats --section ComputeWorkloadAnalysis \
    --metrics 'regex:smsp__average_warps_issue_stalled_.*_per_issue_active\.ratio,smsp__inst_executed.sum,sm__pipe_tensor_op_hmma_cycles_active.avg.pct_of_peak_sustained_active' \
    python3 ncu_bwd.py "${l#*=}" >"$OUT/ncu_$n.log" 2>&1
  echo "== ncu $n rc=$?"
  grep -E "^  [a-z].*k_f|Duration|Registers Per|Achieved Occupancy|Warp Cycles Per Issued|stalled_(long_scoreboard|wait|short_scoreboard|barrier)_per" \
    "$OUT/ncu_$n.log" | sed 's/  */ /g; s/smsp__average_warps_issue_stalled_//; s/_per_issue_active.ratio//' | cut -c1-90
done
echo "total: $(( $(date +%s) - t0 )) s"
exit $rc
