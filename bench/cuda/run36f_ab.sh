#!/usr/bin/env bash
# Forward run 36f (wgmma for k_fout's q h and A v products on sm_90a: the tree of results/run36f_wg_cand.diff, which
# holds LIGER_WG_SWAP; the committed tree has no wgmma), A/B in one device call: run30f_ab.sh with
# native_base/ (the tree before the change) as "base", the candidate (native/), and "swap", the candidate with the
# two byte offsets of the wgmma descriptor exchanged (-DLIGER_WG_SWAP: a check that the encoding is the one the
# hardware reads; exactly one of cand and swap can pass check.py). Then the SASS instruction counts of k_fout and
# Nsight Compute's warp-state and instruction statistics of k_fout (base, cand) at T = 8K.
# Usage (from the folder holding native/, native_base/, cmake/, bench/): bench/cuda/run36f_ab.sh
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
mkdir -p base && ln -sfn ../native_base base/native
VARIANTS="swap:-DLIGER_WG_SWAP" CHECK="swap" ONCE="swap" bash bench/cuda/run30f_ab.sh
for n in base cand; do
  cuobjdump -sass "build_$n/libliger_dev.so" 2>/dev/null | awk '/Function :/{f=($0 ~ /k_fout/)} f' >"/tmp/sass_$n.txt"
  echo "SASS k_fout $n: HGMMA $(grep -c HGMMA "/tmp/sass_$n.txt") HMMA $(grep -c HMMA "/tmp/sass_$n.txt")" \
    "LDSM $(grep -c LDSM "/tmp/sass_$n.txt") LDL $(grep -c LDL "/tmp/sass_$n.txt") WARPSYNC $(grep -c WARPSYNC "/tmp/sass_$n.txt")"
done
cd bench/cuda
for n in base cand; do
  timeout 90 ncu --kernel-name regex:'k_fout' --launch-count 1 --section SpeedOfLight --section WarpStateStats \
    --section SchedulerStats \
    --metrics 'regex:smsp__average_warps_issue_stalled_.*_per_issue_active\.ratio,smsp__inst_executed.sum,regex:sm__pipe_tensor_op_.*_cycles_active\.avg\.pct_of_peak_sustained_active' \
    python3 ncu_fwd.py "../../build_$n/libliger_dev.so" >"$OUT/ncu_$n.log" 2>&1
  echo "== ncu k_fout $n rc=$?"
  grep -E "Duration|Warp Cycles Per Issued|Issue Slots Busy|No Eligible|stalled_.*_per|inst_executed.sum|_op_" "$OUT/ncu_$n.log" \
    | sed 's/  */ /g; s/smsp__average_warps_issue_stalled_//; s/_per_issue_active.ratio//' | awk '$NF+0 >= 0.05 || !/ratio|stalled/' \
    | cut -c1-100 | head -40
done
