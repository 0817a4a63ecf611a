#!/usr/bin/env bash
# Forward runs 30f, A/B in one device call. One full build of native/ ("cand", with the ctest driver); every
# other library is cand's archive with attn.cu compiled again: with the defines of each VARIANTS entry
# ("name:flags"), and from base/native/src/cuda/attn.cu as "base" (the tree before the change; the other
# sources must be the same). Then the ctest driver, check.py on cand and on each library named in CHECK, and on cand
# again at each shared-memory limit in LIMITS (bytes), then the timings: fwd_ab.py on every library (round 1) and
# again on the libraries not named in ONCE (round 2), or with AB=bwd bwd_ab.py on all of them at once (per-kernel
# times of one forward + one backward at 8K, forward + backward at 2K / 8K / 32K, interleaved). Exits non-zero when
# a check failed.
# Usage (from the folder holding native/, cmake/, bench/, base/):
#   VARIANTS="q1:-DLIGER_FOUT_Q1;p1:-DLIGER_FOUT_PROBE=1" CHECK="q1" ONCE="p1" run30f_ab.sh
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
BLOG=/tmp/run30f_build; mkdir -p "$BLOG"  # build logs stay on the machine (tails printed on failure)
root=$(pwd)
VARIANTS=${VARIANTS:-}
CHECK=${CHECK:-}
ONCE=${ONCE:-}
AB=${AB:-fwd}
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,clocks.mem --format=csv,noheader
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
# attn.cu's compile command from cand's build, run again per variant with its defines
member=$(ar t build_cand/libliger.a | grep -x 'attn.cu.o')
variant() {  # name flags source: attn.cu compiled as in cand's build (its compile command), plus flags
  local name=$1 flags=$2 src=$3
  mkdir -p "build_$name/obj"
  local c
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
names=(base cand)
[[ -d base/native ]] && variant base "" "$root/base/native/src/cuda/attn.cu" &
IFS=';' read -ra vs <<<"$VARIANTS"
for v in "${vs[@]}"; do
  variant "${v%%:*}" "${v#*:}" "$root/native/src/cuda/attn.cu" &
  names+=("${v%%:*}")
done
wait
echo "builds: $(( $(date +%s) - t0 )) s"
(cd build_cand && timeout 60 ctest -R liger_cuda_test --output-on-failure >"$OUT/ctest.log" 2>&1; echo "ctest rc=$?")
cd bench/cuda
export PYTHONUNBUFFERED=1
ab() {  # round: 1 (every library) or 2 (not those in ONCE)
  for v in "${names[@]}"; do
    [[ $1 == 2 && " $ONCE " == *" $v "* ]] && continue
    [[ -f $root/build_$v/libliger_dev.so ]] && timeout 30 python3 fwd_ab.py "$v" "$root/build_$v/libliger_dev.so" 2>&1 \
      | grep -v -i warn | tee -a "$OUT/ab.log"
  done
}
status=0
for v in cand $CHECK; do
  t1=$(date +%s)
  timeout 60 python3 check.py "$root/build_$v/libliger_dev.so" >"$OUT/check_$v.log" 2>&1; rc=$?
  [[ $rc == 0 ]] || status=$rc
  echo "check $v rc=$rc $(( $(date +%s) - t1 )) s"; grep -v "^PASS" "$OUT/check_$v.log" | tail -4
done
for lim in ${LIMITS:-}; do
  t1=$(date +%s)
  LIGER_CUDA_SMEM_LIMIT=$lim timeout 60 python3 check.py "$root/build_cand/libliger_dev.so" >"$OUT/check_cand_$lim.log" 2>&1
  rc=$?; [[ $rc == 0 ]] || status=$rc
  echo "check cand at $lim rc=$rc $(( $(date +%s) - t1 )) s"; grep -E "FAIL|SUMMARY" "$OUT/check_cand_$lim.log" | tail -2
done
t1=$(date +%s)
if [[ $AB == bwd ]]; then
  libs=""
  for v in "${names[@]}"; do [[ -f $root/build_$v/libliger_dev.so ]] && libs="$libs $v=$root/build_$v/libliger_dev.so"; done
  timeout "${ABT:-150}" python3 bwd_ab.py $libs >"$OUT/ab.log" 2>&1; echo "bwd_ab rc=$? $(( $(date +%s) - t1 )) s"
  grep -E "^\|" "$OUT/ab.log" | grep -E "k_fswa_bwd|k_fdkv|k_fdq|k_fout|total|^\| T|^\| [0-9]"
else
  ab 1
  echo "round 1: $(( $(date +%s) - t1 )) s"
  ab 2
fi
echo "total: $(( $(date +%s) - t0 )) s"
exit $status
