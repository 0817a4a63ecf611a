#!/usr/bin/env bash
# A/B of a change that touches forward and backward kernels (run 69), in one device call: full builds of two trees
# side by side (ab_trees.sh; TREES default "cand:native base:native_base", native_base/ being e.g. `git archive HEAD
# native`), the ctest driver and check.py on the candidate (also in the fp16 fast mode), per kernel the SASS size and
# the count of the reconvergence / warp-sync instructions (BSSY, BSYNC, WARPSYNC) of both builds, then fwd_ab.py on
# each library (ROUNDS interleaved rounds, default 1) and bwd_ab.py on all (per-kernel times of one forward + one
# backward at 8K, forward + backward at 2K / 8K / 32K); with DECODE=1 also check_decode.py on the candidate and
# bench.py --decode on each; with MEM=1 train_memory.py on each. Exits non-zero when a check failed. Usage (repository
# root):
#   [VARIANTS="name:-Dflags;..."] [ROUNDS=2] [DECODE=1] [MEM=1] bash bench/cuda/run_ab_both.sh
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
root=$(pwd)
TREES=${TREES:-"cand:native base:native_base"}
KERNELS=${KERNELS:-"k_foutILi128ELi16ELb1E13 k_fstateILi128ELb1E13 k_fswa_bwdILi128ELb1E13 k_fdqILi128ELb1ELb1E13 k_fdkvILi128ELb1E k_fdstateILi128E"}
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader
t0=$(date +%s)
source "$(dirname "${BASH_SOURCE[0]}")/ab_trees.sh"
ab_build_trees
echo "builds: $(( $(date +%s) - t0 )) s"
(cd "build_$cand" && timeout 30 ctest -R liger_cuda_test --output-on-failure >"$OUT/checks.log" 2>&1; echo "ctest rc=$?")
if command -v cuobjdump >/dev/null; then
  for n in "${names[@]}"; do
    cuobjdump -sass "build_$n/libliger_dev.so" 2>/dev/null >"/tmp/sass_$n.txt"
    for k in $KERNELS; do
      awk -v k="$k" '$0 ~ ("Function : .*" k) {on=1; next} /Function :/{on=0} on' "/tmp/sass_$n.txt" >/tmp/k.sass
      printf '%-6s %-28s instructions %6d  BSSY %4d  BSYNC %4d  WARPSYNC %4d  HMMA %4d\n' "$n" "$k" \
        "$(grep -cE '^\s+/\*[0-9a-f]{4,}\*/' /tmp/k.sass)" "$(grep -c 'BSSY' /tmp/k.sass)" \
        "$(grep -c 'BSYNC' /tmp/k.sass)" "$(grep -c 'WARPSYNC' /tmp/k.sass)" "$(grep -c 'HMMA' /tmp/k.sass)"
    done
  done | tee "$OUT/sass_counts.txt"
fi
cd bench/cuda
export PYTHONUNBUFFERED=1
status=0
lc=$root/build_$cand/libliger_dev.so
for f16 in "" 1; do  # the default fp16 kernels, then the fast ones (check.py reads only "1" as set)
  t1=$(date +%s)
  { echo "=== check $cand LIGER_CUDA_F16_FAST=$f16"; LIGER_CUDA_F16_FAST=$f16 timeout 90 python3 check.py "$lc"; } \
    >>"$OUT/checks.log" 2>&1
  rc=$?; [[ $rc == 0 ]] || status=$rc
  echo "check $cand LIGER_CUDA_F16_FAST=$f16 rc=$rc $(( $(date +%s) - t1 )) s"; grep -E "FAIL|SUMMARY" "$OUT/checks.log" | tail -2
done
t1=$(date +%s)
for round in $(seq "${ROUNDS:-1}"); do
  for n in "${names[@]}"; do
    [[ -f $root/build_$n/libliger_dev.so ]] && timeout 40 python3 fwd_ab.py "$n" "$root/build_$n/libliger_dev.so" 2>&1 \
      | grep -v -i warn | tee -a "$OUT/fwd_ab.log"
  done
done
echo "fwd_ab: $(( $(date +%s) - t1 )) s"
t1=$(date +%s)
timeout "${ABT:-170}" python3 bwd_ab.py $libs >"$OUT/bwd_ab.log" 2>&1; echo "bwd_ab rc=$? $(( $(date +%s) - t1 )) s"
grep -E "^\|" "$OUT/bwd_ab.log" | head -30
if [[ -n ${MEM:-} ]]; then  # one training step's device memory per library (train_memory.py, a process per case)
  for n in "${names[@]}"; do timeout 120 python3 train_memory.py "$n" "$root/build_$n/libliger_dev.so" 8192 32768; done \
    | tee "$OUT/train_memory.log"
fi
if [[ -n ${DECODE:-} ]]; then  # decode: check_decode.py on the candidate, bench.py --decode on each library in turn
  t1=$(date +%s)
  { echo "=== check_decode $cand"; timeout 60 python3 check_decode.py "$lc"; } >>"$OUT/checks.log" 2>&1
  rc=$?; [[ $rc == 0 ]] || status=$rc
  echo "check_decode $cand rc=$rc"; grep -E "FAIL|SUMMARY" "$OUT/checks.log" | tail -2
  for round in 1 2; do
    for n in "${names[@]}"; do
      echo "== decode $n round $round"
      OUT=/tmp timeout 90 python3 bench.py "$root/build_$n/libliger_dev.so" --decode 2>&1 | grep -E "^\| (1|16|64) "
    done
  done | tee "$OUT/decode_ab.log"
  echo "decode: $(( $(date +%s) - t1 )) s"
fi
echo "total: $(( $(date +%s) - t0 )) s"
exit $status
