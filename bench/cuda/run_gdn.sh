#!/usr/bin/env bash
# One device call for the gated delta rule: build the library with CMake (sm_90a), link a shared
# library for ctypes, run the native ctest driver, check_gdn.py, then bench_gdn.py. Run from the folder
# holding native/, cmake/, bench/cuda/ (and fla_src/ for the fla baseline). Logs and JSON go to $OUT.
# Usage: run_gdn.sh [check|bench|all] [bench args...]
set -uo pipefail
what=${1:-all}; shift || true
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
root=$(pwd)
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,clocks.mem --format=csv,noheader
t0=$(date +%s)
cmake -S native -B build -G Ninja -DLIGER_CUDA=ON -DLIGER_CUDA_ARCHITECTURES=90a -DBUILD_TESTING=ON \
  -DCMAKE_BUILD_TYPE=Release >"$OUT/gdn_build.log" 2>&1 \
  && cmake --build build -j 16 --target liger liger_cuda_test >>"$OUT/gdn_build.log" 2>&1 \
  || { tail -40 "$OUT/gdn_build.log"; exit 1; }
# whole archive: the C ABI symbols are not referenced from anything else in the shared library
g++ -shared -o build/libliger_dev.so -Wl,--whole-archive build/libliger.a -Wl,--no-whole-archive \
  -L"$(dirname "$(readlink -f "$(command -v nvcc)")")/../lib64" -L/usr/local/cuda/lib64 -lcudart_static -ldl -lrt -lpthread \
  >>"$OUT/gdn_build.log" 2>&1 || { tail -20 "$OUT/gdn_build.log"; exit 1; }
echo "build: $(( $(date +%s) - t0 )) s"
cuobjdump -sass build/libliger_dev.so 2>/dev/null | awk '/Function :/ {f = ($0 ~ /gdn/)} f' > "$OUT/gdn_sass.txt"
echo "gdn SASS: HMMA $(grep -c HMMA "$OUT/gdn_sass.txt") HGMMA $(grep -c HGMMA "$OUT/gdn_sass.txt") FFMA $(grep -c FFMA "$OUT/gdn_sass.txt") LDL $(grep -c LDL "$OUT/gdn_sass.txt")"
gzip -f "$OUT/gdn_sass.txt"
(cd build && ctest -R liger_cuda_test --output-on-failure 2>&1 | tee "$OUT/gdn_ctest.log" | tail -5)
lib=$root/build/libliger_dev.so
cd bench/cuda
export PYTHONUNBUFFERED=1
rc=0
if [[ $what == check || $what == all ]]; then
  t1=$(date +%s)
  python3 check_gdn.py "$lib" 2>&1 | tee "$OUT/gdn_check.log"; rc=${PIPESTATUS[0]}
  echo "check: $(( $(date +%s) - t1 )) s, rc=$rc"
fi
if [[ $what == bench || $what == all ]]; then
  t2=$(date +%s)
  FLA_SRC=$root/fla_src timeout 420 python3 bench_gdn.py "$lib" "$@" 2>&1 | tee "$OUT/gdn_bench.log"
  echo "bench: $(( $(date +%s) - t2 )) s"
fi
exit $rc
