#!/usr/bin/env bash
# The backward's A/B in one device call (runs 25b, 30b, 31b, 33b; the builds by ab_trees.sh). TREES names the source trees as name:folder
# (each a native/ tree beside this one), the first the candidate and the last the baseline; CHECK names the
# trees check.py runs on (default: all but the baseline). Steps, each with its own time limit:
#   builds side by side; the ctest driver on the candidate; check.py; bwd_ab.py (per-kernel times at 8K,
#   fwd+bwd at 2K / 8K / 32K, the libraries interleaved); Nsight Compute on the candidate's big backward
#   kernels (per-reason stalls, tensor pipe, issue slots) and, with DEEP=1, the full set of the kernels
#   DEEPK names (default k_fdq and k_fdkv; run 30b: k_fswa_bwd) with
#   its source page (SASS lines with executed instructions and stall samples) and the executed-instruction
#   mix; LIMITS: check.py on the candidate at those shared-memory limits; the SASS opcode histogram of the kernel whose mangled name starts with SASSK (default
#   k_fdqILi128ELb1ELb1, k_fdq<128, true, true>; run 30b: k_fswa_bwdILi128ELb1, k_fswa_bwd<128, true>).
# At most 8 files come back from $OUT: logs are grouped accordingly.
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
SASSK=${SASSK:-k_fdqILi128ELb1ELb1}
root=$(pwd)
TREES=${TREES:-"cand:native base:native_base"}
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm --format=csv,noheader
t0=$(date +%s)
source "$(dirname "${BASH_SOURCE[0]}")/ab_trees.sh"
ab_build_trees
echo "builds: $(( $(date +%s) - t0 )) s"
CHECK=${CHECK:-$(printf '%s\n' "${names[@]}" | grep -vx "$base" | tr '\n' ' ')}
(cd "build_$cand" && timeout 30 ctest -R liger_cuda_test --output-on-failure >"$OUT/ctest_check.log" 2>&1; echo "ctest $cand rc=$?")
if command -v cuobjdump >/dev/null; then
  cuobjdump -sass "build_$cand/libliger_dev.so" 2>/dev/null | awk -v k="$SASSK" '$0 ~ ("Function : .*" k) {on=1; next} /Function :/{on=0} on' >/tmp/sassk.sass
  { echo "== SASS opcode histogram, $SASSK of $cand ($(grep -cE '^\s+/\*[0-9a-f]{4}\*/' /tmp/sassk.sass) instructions)"
    grep -oE '^\s+/\*[0-9a-f]{4}\*/\s+(@!?U?P[0-7T] )?[A-Z0-9]+(\.[A-Z0-9_]+)*' /tmp/sassk.sass | awk '{print $NF}' |
      sort | uniq -c | sort -rn | head -60; } >"$OUT/sass_hist.txt"
  gzip -c /tmp/sassk.sass >"$OUT/sass.txt.gz"
fi
cd bench/cuda
export PYTHONUNBUFFERED=1
rc=0
for l in $libs; do
  n=${l%%=*}; [[ " $CHECK " == *" $n "* ]] || continue
  t1=$(date +%s)
  { echo "=== check $n"; timeout 60 python3 check.py "${l#*=}"; } >>"$OUT/ctest_check.log" 2>&1; r=$?
  [[ $n == "$cand" ]] && rc=$r
  echo "check $n: $(( $(date +%s) - t1 )) s, rc=$r"; grep -E "FAIL|SUMMARY|^=== " "$OUT/ctest_check.log" | tail -3
done
# LIMITS: shared-memory limits (bytes) at which check.py runs again on the candidate (run 33b: the A100's 166912
# and sm_86's 101376), for changes to the kernels' shared-memory sizes
for lim in ${LIMITS:-}; do
  l=$(echo $libs | tr ' ' '\n' | grep "^$cand=") || continue
  t1=$(date +%s)
  { echo "=== check $cand at LIGER_CUDA_SMEM_LIMIT=$lim"; LIGER_CUDA_SMEM_LIMIT=$lim timeout 60 python3 check.py "${l#*=}"; } \
    >>"$OUT/ctest_check.log" 2>&1; r=$?
  [[ $r == 0 ]] || rc=$r
  echo "check $cand at $lim: $(( $(date +%s) - t1 )) s, rc=$r"; grep -E "FAIL|SUMMARY" "$OUT/ctest_check.log" | tail -2
done
timeout 150 python3 bwd_ab.py $libs >"$OUT/ab.log" 2>&1; echo "ab rc=$?"
grep -E "^\|" "$OUT/ab.log" | grep -E "k_fswa_bwd|k_fdkv|k_fdq|k_fbwd_out|k_chunk_dg|total|^\| T|^\| [0-9]"
l=$(echo $libs | tr ' ' '\n' | grep "^$cand=")
if [[ $(( $(date +%s) - t0 )) -lt 200 ]]; then
  timeout 45 ncu --kernel-name regex:'k_fswa_bwd|k_fdkv|k_fdq' --launch-count 3 --section SpeedOfLight \
    --section LaunchStats --section Occupancy --section WarpStateStats --section ComputeWorkloadAnalysis \
    --section SchedulerStats \
    --metrics 'regex:smsp__average_warps_issue_stalled_.*_per_issue_active\.ratio,smsp__inst_executed.sum,sm__pipe_tensor_op_hmma_cycles_active.avg.pct_of_peak_sustained_active' \
    python3 ncu_bwd.py "${l#*=}" >"$OUT/ncu.log" 2>&1
  echo "== ncu $cand rc=$?"
  grep -E "^  [a-z].*k_f|Duration|Registers Per|Achieved Occupancy|Warp Cycles Per Issued|Issue Slots Busy|stalled_(long_scoreboard|wait|short_scoreboard|barrier|math_pipe_throttle|mio_throttle|lg_throttle)_per|inst_executed.sum|hmma" \
    "$OUT/ncu.log" | sed 's/  */ /g; s/smsp__average_warps_issue_stalled_//; s/_per_issue_active.ratio//' | cut -c1-90
fi
if [[ ${DEEP:-0} == 1 && $(( $(date +%s) - t0 )) -lt 230 ]]; then
  DEEPK=${DEEPK:-'k_fdq|k_fdkv'}
  timeout 60 ncu --kernel-name regex:"$DEEPK" --launch-count 2 --set full --import-source no \
    -o /tmp/deep python3 ncu_bwd.py "${l#*=}" >/tmp/deep_ncu.out 2>&1
  echo "== ncu full rc=$?"
  { timeout 20 ncu -i /tmp/deep.ncu-rep --page details --section InstructionStats --section WarpStateStats \
      --section SourceCounters --section MemoryWorkloadAnalysis_Tables --print-details all 2>&1
    echo "=== executed instructions per opcode"
    timeout 20 ncu -i /tmp/deep.ncu-rep --page raw --csv --metrics 'regex:sass__inst_executed_per_opcode' 2>&1 | head -8
  } >"$OUT/ncu_deep.log" 2>&1
  timeout 40 ncu -i /tmp/deep.ncu-rep --page source --csv --print-source sass 2>/tmp/src.err | gzip >"$OUT/deep_source.csv.gz"
  echo "source page: $(zcat "$OUT/deep_source.csv.gz" | wc -l) lines; $(head -c 300 /tmp/src.err)"
  grep -iE "stall|Top|inst" "$OUT/ncu_deep.log" | head -30 | cut -c1-120
fi
echo "total: $(( $(date +%s) - t0 )) s"
exit $rc
