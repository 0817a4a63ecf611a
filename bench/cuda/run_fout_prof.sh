#!/usr/bin/env bash
# k_fout A/B with Nsight Compute's full set, in one device call: run30f_ab.sh (base = native_base/'s attn.cu, cand =
# native/, VARIANTS / CHECK / ONCE as there), then for each library in PROF (default "base cand") one k_fout at T = 8K
# profiled with the full set and source import: per CUDA source line the stall samples and executed instructions
# (fout_NAME_lines.csv.gz), per opcode the executed instructions and the warp-state / instruction sections
# (fout_NAME_details.log).
# Usage (from the folder holding native/, native_base/, cmake/, bench/): bench/cuda/run_fout_prof.sh
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
mkdir -p base && ln -sfn ../native_base base/native
bash bench/cuda/run30f_ab.sh
cd bench/cuda
for n in ${PROF:-base cand}; do
  lib=../../build_$n/libliger_dev.so
  [[ -f $lib ]] || continue
  cuobjdump -sass "$lib" 2>/dev/null | awk '/Function :/{f=($0 ~ /k_fout/)} f' >"/tmp/sass_$n.txt"
  echo "SASS k_fout $n: HGMMA $(grep -c HGMMA "/tmp/sass_$n.txt") HMMA $(grep -c HMMA "/tmp/sass_$n.txt")" \
    "LDSM $(grep -c LDSM "/tmp/sass_$n.txt") LDL $(grep -c LDL "/tmp/sass_$n.txt") STL $(grep -c STL "/tmp/sass_$n.txt")"
  timeout 120 ncu --kernel-name regex:'k_fout' --launch-count 1 --set full --import-source no -f -o "/tmp/fout_$n" \
    python3 ncu_fwd.py "$lib" >"/tmp/fout_$n.out" 2>&1
  echo "== ncu full $n rc=$?"
  { timeout 30 ncu -i "/tmp/fout_$n.ncu-rep" --page details --section WarpStateStats --section InstructionStats \
      --section LaunchStats --section Occupancy --section SpeedOfLight --section ComputeWorkloadAnalysis \
      --section MemoryWorkloadAnalysis --print-details all 2>&1
    echo "=== stalls"
    timeout 30 ncu -i "/tmp/fout_$n.ncu-rep" --page raw --csv \
      --metrics 'regex:smsp__average_warps_issue_stalled_.*_per_issue_active\.ratio' 2>&1 | head -4
  } >"$OUT/fout_${n}_details.log" 2>&1
  timeout 60 ncu -i "/tmp/fout_$n.ncu-rep" --page source --csv --print-source sass >"/tmp/fout_${n}_sass.csv" 2>/tmp/src_$n.err
  rm -rf "/tmp/elf_$n"; mkdir -p "/tmp/elf_$n"
  abs=$(readlink -f "$lib"); (cd "/tmp/elf_$n" && cuobjdump -xelf all "$abs" >/dev/null 2>&1; for f in *.cubin; do nvdisasm -g -c "$f"; done >all.dis 2>/dev/null)
  grep -m3 -n '//## File' "/tmp/elf_$n/all.dis" | cut -c1-160
  python3 ncu_lines.py "/tmp/fout_${n}_sass.csv" "/tmp/elf_$n/all.dis" 'k_fout.*Li128ELi16ELb1E' 60 >"$OUT/fout_${n}_lines.txt" 2>&1
  head -4 "$OUT/fout_${n}_lines.txt"
  grep -E "Warp Cycles Per Issued|Executed Instructions  |Registers Per|Duration" "$OUT/fout_${n}_details.log" | sed 's/  */ /g' | sort -u | head -6
done
