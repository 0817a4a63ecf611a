#!/usr/bin/env bash
# The Java path on the GPU: LigerKernels called from a JVM on device memory, compared with the CPU kernels.
#
#   bench/cuda/run_java.sh prepare DIR   (here, needs JDK 17 and nvcc) builds the CUDA-enabled JNI library
#       (-Pgpu, sm_90a; libtorch is not needed by the check, so the CPU libtorch jar stands in for the GPU
#       one), compiles the driver (bench/cuda/java), and puts into DIR a jlink'd JRE, the project's jars,
#       javacpp and org.bytedeco:cuda (JNI only, no redist: the device's own libcudart.so.13 serves it),
#       and this script; then packs DIR as DIR.tar.xz (~24 MB against ~46 MB: the device tool carries at most
#       64 MiB with the tree).
#   DIR/run_java.sh device              (on the GPU machine, no Java or network there) runs the driver;
#       the log goes to $OUT/java.log when OUT is set. From the archive:
#       mkdir -p /tmp/j && tar -xJf DIR.tar.xz -C /tmp/j && bash /tmp/j/$(basename DIR)/run_java.sh device
set -euo pipefail
mode=${1:?usage: run_java.sh prepare DIR | device}

if [[ $mode == prepare ]]; then
  dest=$(mkdir -p "${2:?prepare needs a destination folder}" && cd "$2" && pwd)
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
  m2=${MAVEN_REPO:-$HOME/.m2/repository}/org/bytedeco
  jcv=1.5.13 cudav=13.1-9.19-1.5.13
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  # a clean copy of the committed tree, so that the CUDA build never mixes with the CPU build in target/
  git -C "$root" archive HEAD | tar -x -C "$work"
  (cd "$work" && ./mvnw -B -q -o -Pgpu -Dpytorch.classifier=linux-x86_64 -Dliger.cuda.architectures=90a \
      -DskipTests package)
  jni=$work/target/classes/dev/liger/kernels/linux-x86_64-gpu/libjniLigerKernels.so
  if readelf -d "$jni" | grep -q 'libcudart'; then echo "$jni needs libcudart.so: the runtime must be static" >&2; exit 1; fi
  cp=$work/target/classes:$m2/javacpp/$jcv/javacpp-$jcv.jar:$m2/cuda/$cudav/cuda-$cudav.jar
  mkdir -p "$work/driver"
  javac --release 17 -d "$work/driver" -cp "$cp" $(find "$root/bench/cuda/java" -name '*.java')
  rm -rf "$dest/jre" "$dest/lib"
  mkdir -p "$dest/lib"
  jar --create --file "$dest/lib/liger-cuda-check.jar" -C "$work/driver" .
  cp "$work"/target/liger.jar "$work"/target/lib/liger-linux-x86_64-gpu.jar "$dest/lib/"
  # the driver calls LigerKernels only: the embedded model and the demo texts stay behind
  (cd "$dest/lib" && zip -q -d liger.jar 'dev/liger/models/*' 'dev/liger/data/*')
  cp "$m2/javacpp/$jcv/javacpp-$jcv.jar" "$m2/javacpp/$jcv/javacpp-$jcv-linux-x86_64.jar" \
     "$m2/cuda/$cudav/cuda-$cudav.jar" "$dest/lib/"
  # of the CUDA presets' JNI libraries only the runtime's is used (the carried folder is size-limited)
  (cd "$work" && unzip -q "$m2/cuda/$cudav/cuda-$cudav-linux-x86_64.jar" 'org/bytedeco/cuda/linux-x86_64/libjnicudart.so' \
     && jar --create --file "$dest/lib/cuda-$cudav-linux-x86_64-cudart.jar" org/bytedeco/cuda/linux-x86_64/libjnicudart.so)
  jlink --add-modules java.base,jdk.unsupported --strip-debug --no-header-files --no-man-pages \
        --compress=2 --output "$dest/jre"
  strip --strip-unneeded "$dest/jre/lib/server/libjvm.so"
  cp "$root/bench/cuda/run_java.sh" "$dest/"
  tar -cJf "$dest.tar.xz" -C "$(dirname "$dest")" "$(basename "$dest")"
  du -sh "$dest" "$dest"/jre "$dest"/lib/* "$dest.tar.xz"
  exit 0
fi

[[ $mode == device ]] || { echo "unknown mode $mode" >&2; exit 2; }
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader || true
# the CUDA presets' JNI library needs a CUDA 13 runtime: the toolkit's, else the one beside PyTorch
cudart=$( (ls /usr/local/cuda/lib64/libcudart.so.13* /usr/local/cuda/lib/libcudart.so.13*;
           find /usr/local /opt /usr/lib -name 'libcudart.so.13*') 2>/dev/null | head -1 || true)
[[ -n $cudart ]] || { echo "no libcudart.so.13 on this machine" >&2; exit 1; }
echo "CUDA runtime for the presets: $cudart"
export LD_LIBRARY_PATH=$(dirname "$cudart")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
"$here/jre/bin/java" -Xss8m -Dorg.bytedeco.javacpp.cachedir=/tmp/javacpp-cache \
  -cp "$here/lib/*" dev.liger.bench.cuda.CudaJavaCheck "${@:2}" 2>&1 | tee "$OUT/java.log"
exit "${PIPESTATUS[0]}"
