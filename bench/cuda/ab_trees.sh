# Sourced by the A/B scripts (run_bwd_ab.sh, run30s.sh), from the folder holding the trees: ab_build_trees builds
# the source trees TREES names ("name:folder ...", each a native/ tree; the first is the candidate, the last the
# baseline) and the compile-time VARIANTS of the candidate ("name:flags;..."), all side by side, as
# build_NAME/libliger_dev.so (sm_90a; the candidate's build also has the ctest driver), logs in build_NAME.log.
# Sets names (every build), libs ("name=path ..." of those that built), cand and base. JOBS: jobs per build.
ab_build_one() {  # name folder flags targets...
  local n=$1 d=$2 f=$3; shift 3
  local cudalib="-L$(dirname "$(readlink -f "$(command -v nvcc)")")/../lib64 -L/usr/local/cuda/lib64"
  cmake -S "$d" -B "build_$n" -G Ninja -DLIGER_CUDA=ON -DLIGER_CUDA_ARCHITECTURES=90a -DBUILD_TESTING=ON \
    -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_FLAGS="$f" >"build_$n.log" 2>&1 &&
    cmake --build "build_$n" -j "${JOBS:-16}" --target "$@" >>"build_$n.log" 2>&1 &&
    g++ -shared -o "build_$n/libliger_dev.so" -Wl,--whole-archive "build_$n/libliger.a" -Wl,--no-whole-archive \
      $cudalib -lcudart_static -ldl -lrt -lpthread >>"build_$n.log" 2>&1
}
ab_build_trees() {
  local t n d v i first=1 cdir="" pids=() vs=()
  names=(); libs=""
  for t in $TREES; do
    n=${t%%:*}; d=${t#*:}; names+=("$n")
    if [[ $first == 1 ]]; then cdir=$d; ab_build_one "$n" "$d" "" liger liger_cuda_test & else ab_build_one "$n" "$d" "" liger & fi
    pids+=($!); first=0
  done
  cand=${names[0]}; base=${names[-1]}
  IFS=';' read -ra vs <<<"${VARIANTS:-}"
  for v in "${vs[@]}"; do
    [[ -z $v ]] && continue
    ab_build_one "${v%%:*}" "$cdir" "${v#*:}" liger & pids+=($!); names+=("${v%%:*}")
  done
  for i in "${!names[@]}"; do
    n=${names[$i]}
    if wait "${pids[$i]}"; then libs="$libs $n=$(pwd)/build_$n/libliger_dev.so"; else echo "build $n failed"; tail -20 "build_$n.log"; fi
  done
}
