#!/usr/bin/env bash
# Where ptxas spills in k_fout<128, 16, true, bf16>: each tree's attn.cu compiled for sm_90a with line info, the
# kernel's SASS (nvdisasm -g) cut out, its local loads / stores (LDL / STL) counted per source line
# (spill_lines_NAME.txt), and its first instructions and each local store with the two before it (spill_ctx_NAME.txt).
# Usage (repository root): bash bench/cuda/spill_lines.sh name:tree ...   (tree: a native/ folder)
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
for t in "$@"; do
  n=${t%%:*}; d=${t#*:}
  ( nvcc -O3 -DNDEBUG -DLIGER_WITH_CUDA=1 -arch=sm_90a --use_fast_math -std=c++17 -lineinfo -I"$d/include" -I"$d/src" \
      -cubin "$d/src/cuda/attn.cu" -o "/tmp/$n.cubin" >"/tmp/$n.log" 2>&1 || tail -5 "/tmp/$n.log" ) &
done
wait
for t in "$@"; do
  n=${t%%:*}
  nvdisasm -g "/tmp/$n.cubin" 2>/dev/null |
    awk '/^\t\.section\t\.text\./ {on = ($0 ~ /k_foutILi128ELi16ELb1E13__nv_bfloat16/)} on' >"/tmp/$n.fout"
  echo "== $n: $(grep -cE '^\s+/\*[0-9a-f]{4}\*/' "/tmp/$n.fout") instructions, STL $(grep -c ' STL' "/tmp/$n.fout"), LDL $(grep -c ' LDL' "/tmp/$n.fout")"
  awk '/\/\/## File/ {f = $0; sub(/.*\//, "", f); sub(/", line /, ":", f); sub(/ .*/, "", f); loc = f}
       / (STL|LDL)/ {op = ($0 ~ / STL/) ? "STL" : "LDL"; c[loc " " op]++}
       END {for (k in c) print k, c[k]}' "/tmp/$n.fout" | sort -t: -k1,1 -k2n >"$OUT/spill_lines_$n.txt"
  { echo "== $n: head"; grep -E '^\s+/\*[0-9a-f]{4}\*/' "/tmp/$n.fout" | head -90
    echo "== $n: stores to local memory"; grep -B2 ' STL' "/tmp/$n.fout" | grep -vE '^\s*//' | head -150; } >"$OUT/spill_ctx_$n.txt"
  gzip -c "/tmp/$n.fout" >"$OUT/$n.fout.sass.gz"
done
