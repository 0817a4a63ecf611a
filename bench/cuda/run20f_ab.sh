#!/usr/bin/env bash
# Forward runs 20f, A/B in one device call: native/ (the candidate) through run_device.sh (build, ctest,
# check.py, bench.py with the given args); then each further source tree named in VARIANTS (a folder
# beside native/ holding another native/ tree) built and benchmarked with --ours; then k_fout at T = 8K
# under Nsight Compute for every library (cycles at locked clocks, per-reason stalls).
# Usage: VARIANTS="native_a native_c" run20f_ab.sh [bench args...]
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
root=$(pwd)
OUT=$OUT/main bash bench/cuda/run_device.sh all "$@"; rc=$?
libs=("main:$root/build/libliger_dev.so")
for v in ${VARIANTS:-}; do
  mkdir -p "$OUT/$v"; t0=$(date +%s)
  cmake -S "$v" -B "build_$v" -G Ninja -DLIGER_CUDA=ON -DLIGER_CUDA_ARCHITECTURES=90a -DCMAKE_BUILD_TYPE=Release \
    >"$OUT/$v/build.log" 2>&1 && cmake --build "build_$v" -j 16 --target liger >>"$OUT/$v/build.log" 2>&1 \
    && g++ -shared -o "build_$v/libliger_dev.so" -Wl,--whole-archive "build_$v/libliger.a" -Wl,--no-whole-archive \
      -L"$(dirname "$(readlink -f "$(command -v nvcc)")")/../lib64" -L/usr/local/cuda/lib64 -lcudart_static -ldl -lrt \
      -lpthread >>"$OUT/$v/build.log" 2>&1 || { tail -20 "$OUT/$v/build.log"; continue; }
  echo "$v build: $(( $(date +%s) - t0 )) s"
  (cd bench/cuda && OUT=$OUT/$v python3 bench.py "$root/build_$v/libliger_dev.so" --ours 2>&1 | tee "$OUT/$v/bench.log" | grep "^| 1 |")
  libs+=("$v:$root/build_$v/libliger_dev.so")
done
cd bench/cuda
for l in "${libs[@]}"; do
  name=${l%%:*}; lib=${l#*:}
  echo "== ncu k_fout $name"
  timeout 60 ncu --kernel-name regex:'k_fout' --launch-count 1 --section SpeedOfLight --section LaunchStats \
    --metrics 'regex:smsp__average_warps_issue_stalled_.*_per_issue_active\.ratio,smsp__inst_executed.sum' \
    python3 ncu_fwd.py "$lib" >"$OUT/ncu_$name.log" 2>&1
  grep -E "k_fout|Elapsed Cycles|Duration|Registers Per|inst_executed|stalled_(no_instruction|long_scoreboard|wait|short_scoreboard|lg_throttle|mio|math)" \
    "$OUT/ncu_$name.log" | sed 's/  */ /g'
done
exit $rc
