#!/usr/bin/env bash
# Decode host time (run 25d), one device call. Run from the folder holding native/, cmake/, bench/cuda/.
#   measure: build the library (run_device.sh's cmake lines), the C++ driver decode_host.cu, then the
#            driver, bench.py --decode and check_decode.py.
#   final:   the same build, then check.py and check_decode.py (default dispatch and reference
#            kernels) first, then the driver and bench.py --decode.
# Logs go to $OUT.
set -uo pipefail
mode=${1:-measure}
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
root=$(pwd)
export PYTHONUNBUFFERED=1
drv() {  # the driver's object, built beside the library (it needs only headers)
  nvcc -O3 -std=c++17 -arch=sm_90a --use_fast_math -DLIGER_WITH_CUDA=1 -Inative/include -Inative/src \
    -c bench/cuda/decode_host.cu -o /tmp/decode_host.o >"$OUT/driver_build.log" 2>&1
}
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,clocks.mem --format=csv,noheader
t0=$(date +%s)
drv & dpid=$!
cmake -S native -B build -G Ninja -DLIGER_CUDA=ON -DLIGER_CUDA_ARCHITECTURES=90a -DBUILD_TESTING=OFF \
  -DCMAKE_BUILD_TYPE=Release >"$OUT/build.log" 2>&1 \
  && cmake --build build -j 16 --target liger >>"$OUT/build.log" 2>&1 \
  || { tail -40 "$OUT/build.log"; exit 1; }
g++ -shared -o build/libliger_dev.so -Wl,--whole-archive build/libliger.a -Wl,--no-whole-archive \
  -L"$(dirname "$(readlink -f "$(command -v nvcc)")")/../lib64" -L/usr/local/cuda/lib64 -lcudart_static -ldl -lrt -lpthread \
  >>"$OUT/build.log" 2>&1 || { tail -20 "$OUT/build.log"; exit 1; }
wait $dpid || { cat "$OUT/driver_build.log"; exit 1; }
echo "build: $(( $(date +%s) - t0 )) s"
lib=$root/build/libliger_dev.so
rc=0
rcd=0
if [[ $mode == final ]]; then  # correctness first
  t1=$(date +%s)
  (cd bench/cuda && timeout 50 python3 check.py "$lib" 2>&1 | tee "$OUT/check.log" | tail -3)
  grep -Eq "^SUMMARY ([0-9]+)/\1 passed" "$OUT/check.log"; rc=$?
  echo "check: $(( $(date +%s) - t1 )) s, rc=$rc"
  for ref in 0 1; do
    (cd bench/cuda && LIGER_CUDA_DECODE_REFERENCE=$ref timeout 30 python3 check_decode.py "$lib" 2>&1 \
      | tee -a "$OUT/decode_check.log" | tail -1)
  done
  rcd=$(( $(grep -c "SUMMARY decode.*32/32 passed" "$OUT/decode_check.log") != 2 ))
fi
nvcc -arch=sm_90a /tmp/decode_host.o build/libliger.a -o build/decode_host >>"$OUT/driver_build.log" 2>&1 \
  || { cat "$OUT/driver_build.log"; exit 1; }
t1=$(date +%s)
timeout 60 ./build/decode_host 2>&1 | tee "$OUT/host.log"; rch=${PIPESTATUS[0]}
echo "driver: $(( $(date +%s) - t1 )) s, rc=$rch"
cd bench/cuda
t2=$(date +%s)
timeout 60 python3 bench.py "$lib" --decode 2>&1 | grep -v Warning | tee "$OUT/bench.log"; rcb=${PIPESTATUS[0]}
echo "bench: $(( $(date +%s) - t2 )) s, rc=$rcb"
if [[ $mode != final ]]; then
  timeout 40 python3 check_decode.py "$lib" 2>&1 | tee "$OUT/decode_check.log" | tail -2; rcd=${PIPESTATUS[0]}
fi
echo "rc: check.py $rc, driver $rch, bench $rcb, check_decode.py $rcd"
exit $(( rc || rch || rcb || rcd ))
