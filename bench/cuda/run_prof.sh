#!/usr/bin/env bash
# Nsight Compute's full set for named kernels of built libraries, reduced to stall samples and executed instructions
# per CUDA source line (ncu_lines.py). Run from bench/cuda/ on the device. For each library "name=path" in LIBS and
# each kernel "short:regex" in KERNELS (regex: a part of the mangled name, e.g. k_fdqILi128ELb1ELb1E), one launch of
# the kernel in DRIVER (default ncu_fwd.py) is profiled; $OUT gets prof_<name>_<short>_lines.txt and _details.log.
# Usage: LIBS="base=/path/lib.so" KERNELS="k_fout:k_foutILi128ELi16ELb1E" [DRIVER=ncu_bwd.py] bash run_prof.sh
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
for l in $LIBS; do
  n=${l%%=*}; lib=$(readlink -f "${l#*=}")
  [[ -f $lib ]] || { echo "no library $lib"; continue; }
  rm -rf "/tmp/elf_$n"; mkdir -p "/tmp/elf_$n"
  (cd "/tmp/elf_$n" && cuobjdump -xelf all "$lib" >/dev/null 2>&1; for f in *.cubin; do nvdisasm -g -c "$f"; done >all.dis 2>/dev/null)
  for kv in $KERNELS; do
    k=${kv%%:*}; rx=${kv#*:}; rep=/tmp/prof_${n}_$k
    timeout 150 ncu --kernel-name-base mangled --kernel-name "regex:$rx" --launch-count 1 --set full --import-source no -f -o "$rep" \
      python3 "${DRIVER:-ncu_fwd.py}" "$lib" >"$rep.out" 2>&1
    echo "== ncu $n $k rc=$?"
    [[ -f $rep.ncu-rep ]] || { echo "no report:"; tail -5 "$rep.out"; continue; }
    { timeout 30 ncu -i "$rep.ncu-rep" --page details --section WarpStateStats --section InstructionStats \
        --section LaunchStats --section Occupancy --section SpeedOfLight --section ComputeWorkloadAnalysis \
        --section MemoryWorkloadAnalysis --print-details all 2>&1
      echo "=== stalls"
      timeout 30 ncu -i "$rep.ncu-rep" --page raw --csv \
        --metrics 'regex:smsp__average_warps_issue_stalled_.*_per_issue_active\.ratio' 2>&1 | head -4
    } >"$OUT/prof_${n}_${k}_details.log" 2>&1
    timeout 60 ncu -i "$rep.ncu-rep" --page source --csv --print-source sass >"$rep.csv" 2>/dev/null
    python3 ncu_lines.py "$rep.csv" "/tmp/elf_$n/all.dis" "$rx" 60 >"$OUT/prof_${n}_${k}_lines.txt" 2>&1
    head -4 "$OUT/prof_${n}_${k}_lines.txt"
    grep -E "Warp Cycles Per Issued|Executed Instructions  |Registers Per|Duration" "$OUT/prof_${n}_${k}_details.log" \
      | sed 's/  */ /g' | sort -u | head -5
  done
done
