#!/usr/bin/env bash
# State passes, run 30s: A/B in one device call. TREES names source trees as name:folder (native/ trees;
# the first is the candidate, the last the baseline); VARIANTS adds compile-time variants of the candidate
# ("name:flags;..."). Builds all in parallel, runs the ctest driver and check.py on the candidate (with
# SMEM_CHECK=1 also at the A100 and sm_86 shared-memory limits; CHECK_ALSO: more names to check, while time
# is left), bwd_ab.py on every library (per-kernel times at 8K, fwd and fwd+bwd at 2K / 8K /
# 32K, interleaved), fwd_ab.py on the candidate and the baseline (the forward's kernels at 32K), then the
# state-pass kernels at T = 8K under Nsight Compute (per-reason stalls) for NCU names, while time is left.
# Run from the folder holding native/, cmake/, bench/ and the other trees. Logs go to $OUT.
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
root=$(pwd)
TREES=${TREES:-"cand:native base:base/native"}
VARIANTS=${VARIANTS:-}
NCU=${NCU:-"base cand"}
LIMIT=${LIMIT:-280}
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm --format=csv,noheader
t0=$(date +%s)
left() { echo $(( LIMIT - ($(date +%s) - t0) )); }
source "$(dirname "${BASH_SOURCE[0]}")/ab_trees.sh"
JOBS=${JOBS:-6} ab_build_trees
echo "builds: $(( $(date +%s) - t0 )) s"
(cd "build_$cand" && timeout 30 ctest -R liger_cuda_test --output-on-failure >"$OUT/ctest.log" 2>&1; echo "ctest $cand rc=$?")
cd bench/cuda
export PYTHONUNBUFFERED=1
rc=0
check() {  # check NAME LOG [ENV=VALUE...]: check.py on one library
  local n=$1 log=$2; shift 2
  [[ -f $root/build_$n/libliger_dev.so ]] || return 1
  local t1; t1=$(date +%s)
  env "$@" timeout 90 python3 check.py "$root/build_$n/libliger_dev.so" >"$OUT/$log" 2>&1; local r=$?
  echo "$log: $(( $(date +%s) - t1 )) s, rc=$r"; grep -E "FAIL|SUMMARY|Error|error" "$OUT/$log" | head -12
  return $r
}
check "$cand" "check_$cand.log"; rc=$?
timeout 100 python3 bwd_ab.py $libs >"$OUT/ab.log" 2>&1; echo "bwd_ab rc=$? at $(( $(date +%s) - t0 )) s"
grep -E "^\|" "$OUT/ab.log" | grep -E "k_fstate|k_fscan|k_fdstate|k_fout|total|^\| T|^\| [0-9]"
# the smaller GPUs' planning (A100 and sm_86 / sm_89 shared memory), as run_smem_check.sh
if [[ ${SMEM_CHECK:-0} == 1 ]]; then
  check "$cand" check_a100.log LIGER_CUDA_SMEM_LIMIT=166912 || rc=1
  check "$cand" check_sm86.log LIGER_CUDA_SMEM_LIMIT=101376 || rc=1
fi
for n in ${CHECK_ALSO:-}; do
  [[ $(left) -gt 70 ]] || break
  check "$n" "check_$n.log"
done
for n in $cand $base; do
  [[ $(left) -gt 60 ]] || break
  timeout 40 python3 fwd_ab.py "$n" "$root/build_$n/libliger_dev.so" 2>&1 | grep -v -i warn | tee -a "$OUT/fwd_ab.log"
done
for n in $NCU; do
  [[ $(left) -gt 45 ]] || break
  timeout 40 ncu --kernel-name regex:'k_fstate|k_fscan|k_fdstate' --launch-count 6 --section SpeedOfLight \
    --section LaunchStats --section Occupancy --section WarpStateStats \
    --metrics 'regex:smsp__average_warps_issue_stalled_.*_per_issue_active\.ratio,smsp__inst_executed.sum,dram__bytes.sum.per_second' \
    python3 ncu_bwd.py "$root/build_$n/libliger_dev.so" >"$OUT/ncu_$n.log" 2>&1
  echo "== ncu $n rc=$?"
  grep -E "^  [a-z].*k_f|Duration|Registers Per|Achieved Occupancy|Warp Cycles Per Issued|DRAM Throughput|stalled_(long_scoreboard|wait|short_scoreboard|barrier|math_pipe_throttle|mio_throttle|lg_throttle|no_instruction)_per|inst_executed.sum" \
    "$OUT/ncu_$n.log" | sed 's/  */ /g; s/smsp__average_warps_issue_stalled_//; s/_per_issue_active.ratio//' | cut -c1-100
done
echo "total: $(( $(date +%s) - t0 )) s"
exit $rc
