#!/usr/bin/env bash
# Forward runs 20f: run_device.sh (build, ctest, check.py, bench.py with the given args), then one
# Nsight Compute pass over k_fout at T = 8K with per-reason stall metrics and the per-line source
# counters (the report and its source page go to $OUT for reading offline).
# Usage: run20f.sh [bench args...]   (from the folder holding native/, cmake/, bench/)
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
root=$(pwd)
bash bench/cuda/run_device.sh all "$@"; rc=$?
lib=$root/build/libliger_dev.so
cd bench/cuda
if [[ ${NCU:-1} == 1 ]]; then
  timeout 150 ncu --kernel-name regex:'k_fout' --launch-count 1 --import-source yes \
    --section WarpStateStats --section SourceCounters --section SchedulerStats --section Occupancy \
    --metrics 'regex:smsp__average_warps_issue_stalled_.*_per_issue_active\.ratio' \
    -o "$OUT/fout" python3 ncu_fwd.py "$lib" >"$OUT/ncu_run.log" 2>&1
  ncu -i "$OUT/fout.ncu-rep" --page details --print-details all >"$OUT/ncu_details.txt" 2>&1
  grep -E "stalled_.*ratio" "$OUT/ncu_details.txt" | sort -k3 -g -r | head -25
  ncu -i "$OUT/fout.ncu-rep" --page source --csv --print-source cuda,sass >"$OUT/ncu_source.csv" 2>&1
  gzip -f "$OUT/ncu_source.csv"; ls -la "$OUT"
fi
exit $rc
