#!/usr/bin/env bash
# One device call: build the library with CMake (sm_90a), link a shared library for ctypes, run the
# correctness check, then the benchmark. Run from the folder holding native/, cmake/, bench/cuda/
# (and fla_src/ for the fla baseline). Logs and JSON go to $OUT.
# Usage: run_device.sh [check|bench|all|build] [bench args...]   (build: the build, SASS counts and ctest driver only)
set -uo pipefail
what=${1:-all}; shift || true
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
root=$(pwd)
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,clocks.mem --format=csv,noheader
t0=$(date +%s)
cmake -S native -B build -G Ninja -DLIGER_CUDA=ON -DLIGER_CUDA_ARCHITECTURES=90a -DBUILD_TESTING=ON \
  -DCMAKE_BUILD_TYPE=Release >"$OUT/build.log" 2>&1 \
  && cmake --build build -j 16 --target liger liger_cuda_test >>"$OUT/build.log" 2>&1 \
  || { tail -40 "$OUT/build.log"; exit 1; }
# whole archive: the C ABI symbols are not referenced from anything else in the shared library
g++ -shared -o build/libliger_dev.so -Wl,--whole-archive build/libliger.a -Wl,--no-whole-archive \
  -L"$(dirname "$(readlink -f "$(command -v nvcc)")")/../lib64" -L/usr/local/cuda/lib64 -lcudart_static -ldl -lrt -lpthread \
  >>"$OUT/build.log" 2>&1 || { tail -20 "$OUT/build.log"; exit 1; }
echo "build: $(( $(date +%s) - t0 )) s"
cuobjdump -sass build/libliger_dev.so > "$OUT/sass.txt" 2>/dev/null
echo "SASS: HMMA $(grep -c HMMA "$OUT/sass.txt") HGMMA $(grep -c HGMMA "$OUT/sass.txt") FFMA $(grep -c FFMA "$OUT/sass.txt") LDL $(grep -c LDL "$OUT/sass.txt")"
gzip -f "$OUT/sass.txt"
(cd build && ctest -R liger_cuda_test --output-on-failure 2>&1 | tee "$OUT/ctest.log" | tail -25)
lib=$root/build/libliger_dev.so
cd bench/cuda
export PYTHONUNBUFFERED=1
rc=0
if [[ $what == check || $what == all || $what == check+ncu ]]; then
  t1=$(date +%s)
  python3 check.py "$lib" 2>&1 | tee "$OUT/check.log"; rc=${PIPESTATUS[0]}
  echo "check: $(( $(date +%s) - t1 )) s, rc=$rc"
fi
if [[ $what == ncu || $what == check+ncu ]]; then
  ncu --kernel-name regex:'k_fout|k_fscan|k_fstate' --launch-count 3 --section SpeedOfLight \
    --section WarpStateStats --section Occupancy --section MemoryWorkloadAnalysis --section SchedulerStats \
    --section SourceCounters --section LaunchStats --section ComputeWorkloadAnalysis \
    python3 ncu_fwd.py "$lib" 2>&1 | tee "$OUT/ncu.log" | grep -E "k_fout|k_fscan|k_fstate|Throughput|Duration|Stall|Warp Cycles|Achieved Occupancy|Bank|Registers|Block Limit|L1/TEX Hit|L2 Hit" | head -120
fi
if [[ $what == bench || $what == all ]]; then
  t2=$(date +%s)
  FLA_SRC=$root/fla_src python3 bench.py "$lib" "$@" 2>&1 | tee "$OUT/bench.log"
  echo "bench: $(( $(date +%s) - t2 )) s"
fi
exit $rc
