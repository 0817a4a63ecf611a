#!/usr/bin/env bash
# k_fswa_bwd A/B with Nsight Compute's source page, in one device call (run 37b). Builds: "cand", a full build of
# native/ (with the ctest driver); "base", cand's archive with attn.cu compiled from native_base/ (main's tree: only
# attn.cu and the headers beside it may differ); each VARIANTS entry ("name:flags;..."), cand's archive with
# native/'s attn.cu compiled again with those flags added. Then the ctest driver on cand, check.py on cand and on
# each library CHECK names, check.py on cand at each LIMITS shared-memory limit, bwd_ab.py on every library
# (per-kernel times at 8K, fwd+bwd at 2K / 8K / 32K, interleaved), and for each library in PROF (default
# "base cand") Nsight's full set of one k_fswa_bwd at T = 8K (ncu_bwd.py) with its source page, reduced per CUDA
# source line by ncu_lines.py (fswa_NAME_lines.txt) and the warp-state / instruction sections (fswa_NAME_details.log).
# At most 8 files come back from $OUT: check.log, ab.log and two per profiled library.
# Usage (from the folder holding native/, native_base/, cmake/, bench/):
#   VARIANTS="v1:-DX=1" CHECK="v1" PROF="base cand" bash bench/cuda/run_bwd_prof.sh
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
BLOG=/tmp/run_bwd_build; mkdir -p "$BLOG"
root=$(pwd)
VARIANTS=${VARIANTS:-}
CHECK=${CHECK:-}
KRE=${KRE:-'k_fswa_bwdILi128ELb1E'}  # k_fswa_bwd<128, true> in the disassembly's section names
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader
cudalib="$(dirname "$(readlink -f "$(command -v nvcc)")")/../lib64"
t0=$(date +%s)
cmake -S native -B build_cand -G Ninja -DLIGER_CUDA=ON -DLIGER_CUDA_ARCHITECTURES=90a -DBUILD_TESTING=ON \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_EXPORT_COMPILE_COMMANDS=ON >"$BLOG/build_cand.log" 2>&1 \
  && cmake --build build_cand -j 16 --target liger liger_cuda_test >>"$BLOG/build_cand.log" 2>&1 \
  || { echo "build cand failed"; tail -30 "$BLOG/build_cand.log"; exit 1; }
link() {  # archive -> libliger_dev.so beside it
  g++ -shared -o "$(dirname "$1")/libliger_dev.so" -Wl,--whole-archive "$1" -Wl,--no-whole-archive \
    -L"$cudalib" -L/usr/local/cuda/lib64 -lcudart_static -ldl -lrt -lpthread
}
link build_cand/libliger.a || exit 1
member=$(ar t build_cand/libliger.a | grep -x 'attn.cu.o')
variant() {  # name flags source: attn.cu compiled with cand's compile command, plus flags
  local name=$1 flags=$2 src=$3 c
  mkdir -p "build_$name/obj"
  c=$(python3 - "$src" "$root/build_$name/obj/$member" "$flags" <<'EOF'
import json, shlex, sys
src, obj, flags = sys.argv[1:4]
for e in json.load(open("build_cand/compile_commands.json")):
    if e["file"].endswith("src/cuda/attn.cu"):
        a = shlex.split(e["command"])
        a[a.index("-o") + 1] = obj
        a = [src if x.endswith("src/cuda/attn.cu") else x for x in a]
        print("cd " + shlex.quote(e["directory"]) + " && " + shlex.join(a + shlex.split(flags)))
EOF
)
  (eval "$c") >"$BLOG/build_$name.log" 2>&1 \
    && cp build_cand/libliger.a "build_$name/libliger.a" \
    && (cd "build_$name/obj" && ar r ../libliger.a "$member") \
    && link "build_$name/libliger.a" >>"$BLOG/build_$name.log" 2>&1 \
    || { echo "build $name failed"; tail -20 "$BLOG/build_$name.log"; rm -f "build_$name/libliger_dev.so"; }
}
names=(cand)
[[ -d native_base ]] && { variant base "" "$root/native_base/src/cuda/attn.cu" & names+=(base); }
IFS=';' read -ra vs <<<"$VARIANTS"
for v in "${vs[@]}"; do
  [[ -z $v ]] && continue
  variant "${v%%:*}" "${v#*:}" "$root/native/src/cuda/attn.cu" &
  names+=("${v%%:*}")
done
wait
echo "builds: $(( $(date +%s) - t0 )) s"
(cd build_cand && timeout 40 ctest -R liger_cuda_test --output-on-failure >"$OUT/check.log" 2>&1; echo "ctest rc=$?")
cd bench/cuda
export PYTHONUNBUFFERED=1
rc=0
for v in cand $CHECK; do
  t1=$(date +%s)
  { echo "=== check $v"; timeout 60 python3 check.py "$root/build_$v/libliger_dev.so"; } >>"$OUT/check.log" 2>&1; r=$?
  [[ $r == 0 ]] || rc=$r
  echo "check $v rc=$r $(( $(date +%s) - t1 )) s"; grep -E "FAIL|SUMMARY" "$OUT/check.log" | tail -2
done
for lim in ${LIMITS:-}; do
  t1=$(date +%s)
  { echo "=== check cand at LIGER_CUDA_SMEM_LIMIT=$lim"
    LIGER_CUDA_SMEM_LIMIT=$lim timeout 60 python3 check.py "$root/build_cand/libliger_dev.so"; } >>"$OUT/check.log" 2>&1; r=$?
  [[ $r == 0 ]] || rc=$r
  echo "check cand at $lim rc=$r $(( $(date +%s) - t1 )) s"; grep -E "FAIL|SUMMARY" "$OUT/check.log" | tail -2
done
libs=""
for v in "${names[@]}"; do [[ -f $root/build_$v/libliger_dev.so ]] && libs="$libs $v=$root/build_$v/libliger_dev.so"; done
t1=$(date +%s)
timeout ${ABT:-150} python3 bwd_ab.py $libs >"$OUT/ab.log" 2>&1; echo "ab rc=$? $(( $(date +%s) - t1 )) s"
grep -E "^\|" "$OUT/ab.log" | grep -E "k_fswa_bwd|total|^\| T|^\| [0-9]"
for n in ${PROF:-base cand}; do
  lib=$root/build_$n/libliger_dev.so
  [[ -f $lib ]] || continue
  t1=$(date +%s)
  timeout 90 ncu --kernel-name regex:'k_fswa_bwd' --launch-count 1 --set full --import-source no -f -o "/tmp/fswa_$n" \
    python3 ncu_bwd.py "$lib" >"/tmp/fswa_$n.out" 2>&1
  echo "== ncu full $n rc=$? $(( $(date +%s) - t1 )) s"
  { timeout 30 ncu -i "/tmp/fswa_$n.ncu-rep" --page details --section WarpStateStats --section InstructionStats \
      --section LaunchStats --section Occupancy --section SpeedOfLight --section ComputeWorkloadAnalysis \
      --section MemoryWorkloadAnalysis --section SchedulerStats --print-details all 2>&1
    echo "=== stalls"
    timeout 30 ncu -i "/tmp/fswa_$n.ncu-rep" --page raw --csv \
      --metrics 'regex:smsp__average_warps_issue_stalled_.*_per_issue_active\.ratio' 2>&1 | head -4
  } >"$OUT/fswa_${n}_details.log" 2>&1
  timeout 60 ncu -i "/tmp/fswa_$n.ncu-rep" --page source --csv --print-source sass >"/tmp/fswa_${n}_sass.csv" 2>/tmp/src_$n.err
  rm -rf "/tmp/elf_$n"; mkdir -p "/tmp/elf_$n"
  (cd "/tmp/elf_$n" && cuobjdump -xelf all "$lib" >/dev/null 2>&1; for f in *.cubin; do nvdisasm -g -c "$f"; done >all.dis 2>/dev/null)
  python3 ncu_lines.py "/tmp/fswa_${n}_sass.csv" "/tmp/elf_$n/all.dis" "$KRE" ${TOP:-90} >"$OUT/fswa_${n}_lines.txt" 2>&1
  head -3 "$OUT/fswa_${n}_lines.txt" | cut -c1-160
  grep -E "Warp Cycles Per Issued|Executed Instructions  |Registers Per|Duration" "$OUT/fswa_${n}_details.log" | sed 's/  */ /g' | sort -u | head -6
done
echo "total: $(( $(date +%s) - t0 )) s"
exit $rc
