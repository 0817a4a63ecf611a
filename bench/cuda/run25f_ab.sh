#!/usr/bin/env bash
# Forward runs 25f, A/B in one device call. Builds in parallel: native/ as "cand" (with the ctest driver),
# the same sources with the defines of each VARIANTS entry ("name:flags", compile-time variants), and the
# tree in base/native as "base" (the tree before the change); runs the ctest driver, then
# bench/cuda/fwd_ab.py on each library in turn (two rounds, alternating, so that clock drift within the
# call hits all alike), check.py on the candidate between the rounds (and on FALLBACK when it fails).
# Usage (from the folder holding native/, cmake/, bench/, base/):
#   VARIANTS="nopdl:-DLIGER_FWD_NO_PDL" FALLBACK=nopdl run25f_ab.sh
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
root=$(pwd)
VARIANTS=${VARIANTS:-"cand3:-DLIGER_FSTATE_PARTS=2 -DLIGER_FSTATE_BLOCKS=3"}
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,clocks.mem --format=csv,noheader
cudalib="$(dirname "$(readlink -f "$(command -v nvcc)")")/../lib64"
build() {  # name source-dir cuda-flags targets...
  local name=$1 src=$2 flags=$3; shift 3
  cmake -S "$src" -B "build_$name" -G Ninja -DLIGER_CUDA=ON -DLIGER_CUDA_ARCHITECTURES=90a -DBUILD_TESTING=ON \
    -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_FLAGS="$flags" >"$OUT/build_$name.log" 2>&1 \
    && cmake --build "build_$name" -j 5 --target "$@" >>"$OUT/build_$name.log" 2>&1 \
    && g++ -shared -o "build_$name/libliger_dev.so" -Wl,--whole-archive "build_$name/libliger.a" -Wl,--no-whole-archive \
      -L"$cudalib" -L/usr/local/cuda/lib64 -lcudart_static -ldl -lrt -lpthread >>"$OUT/build_$name.log" 2>&1 \
    || { echo "build $name failed"; tail -30 "$OUT/build_$name.log"; return 1; }
}
t0=$(date +%s)
names=(base cand)
build cand native "" liger liger_cuda_test &
IFS=';' read -ra vs <<<"$VARIANTS"
for v in "${vs[@]}"; do
  build "${v%%:*}" native "${v#*:}" liger &
  names+=("${v%%:*}")
done
[[ -d base/native ]] && build base base/native "" liger &
wait
echo "builds: $(( $(date +%s) - t0 )) s"
(cd build_cand && timeout 60 ctest -R liger_cuda_test --output-on-failure >"$OUT/ctest.log" 2>&1; echo "ctest rc=$?")
cd bench/cuda
export PYTHONUNBUFFERED=1
ab() {
  for v in "${names[@]}"; do
    [[ -f $root/build_$v/libliger_dev.so ]] && python3 fwd_ab.py "$v" "$root/build_$v/libliger_dev.so" 2>&1 \
      | grep -v -i warn | tee -a "$OUT/ab.log"
  done
}
ab
t1=$(date +%s)
timeout 60 python3 check.py "$root/build_cand/libliger_dev.so" >"$OUT/check.log" 2>&1; rc=$?
echo "check cand rc=$rc $(( $(date +%s) - t1 )) s"; grep -v "^PASS" "$OUT/check.log" | tail -6
if [[ $rc != 0 && -n ${FALLBACK:-} ]]; then
  timeout 60 python3 check.py "$root/build_$FALLBACK/libliger_dev.so" >"$OUT/check_$FALLBACK.log" 2>&1
  echo "check $FALLBACK rc=$?"; grep -v "^PASS" "$OUT/check_$FALLBACK.log" | tail -6
fi
ab
