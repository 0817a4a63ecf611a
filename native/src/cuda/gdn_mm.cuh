// Block-wide matrix products on shared-memory (or L2-resident) fp32 tiles for the gated delta rule
// kernels: tf32 tensor cores (common.cuh's block_mm_tc2) for 16-bit inputs, exact fp32 FMAs on CUDA
// cores for fp32 inputs, over sums of two operand pairs.
#pragma once
#include <cuda_runtime.h>
#include <stdint.h>

#include "common.cuh"

namespace liger {
namespace cuda {
namespace gdnk {

// One operand pair: A(m, k) = A[m*am + k*ak], B(k, n) = B[k*bk + n*bn], k < K. The tensor-core
// product is common.cuh's block_mm_tc2.
using Op = MmOperands;

// ep(m, n, p1 + p2) on CUDA cores in fp32, 4 x 4 outputs per thread. M % 4 == 0, N % 4 == 0.
template <class Ep>
__device__ __forceinline__ void mm_f32(int M, int N, const Op& p1, const Op& p2, Ep ep) {
  constexpr int TM = 4, TN = 4;
  const int tn = N / TN, tm = M / TM;
  for (int t = threadIdx.x; t < tm * tn; t += blockDim.x) {
    const int mt = t / tn, nt = t - mt * tn;
    float acc[TM][TN];
#pragma unroll
    for (int i = 0; i < TM; ++i)
#pragma unroll
      for (int j = 0; j < TN; ++j) acc[i][j] = 0.f;
#pragma unroll 1
    for (int pi = 0; pi < 2; ++pi) {
      const Op& o = pi ? p2 : p1;
      const float* a0 = o.A + mt * o.am;
      const float* b0 = o.B + nt * o.bn;
      const int as = tm * o.am, bs = tn * o.bn;
#pragma unroll 4
      for (int k = 0; k < o.K; ++k) {
        float a[TM], b[TN];
#pragma unroll
        for (int i = 0; i < TM; ++i) a[i] = a0[i * as];
#pragma unroll
        for (int j = 0; j < TN; ++j) b[j] = b0[j * bs];
        a0 += o.ak;
        b0 += o.bk;
#pragma unroll
        for (int i = 0; i < TM; ++i)
#pragma unroll
          for (int j = 0; j < TN; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
      }
    }
#pragma unroll
    for (int i = 0; i < TM; ++i)
#pragma unroll
      for (int j = 0; j < TN; ++j) ep(mt + i * tm, nt + j * tn, acc[i][j]);
  }
}

// ep(m, n, sum of the products): tensor cores when tc and M % 16 == 0, else fp32 CUDA cores.
template <int NA = 4, class Ep>
__device__ __forceinline__ void mm2(bool tc, int M, int N, const Op& p1, const Op& p2, Ep ep) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  if (tc && (M & 15) == 0) {
    block_mm_tc2<NA>(M, N, p1, p2, ep);
    return;
  }
#endif
  mm_f32(M, N, p1, p2, ep);
}

template <int NA = 4, class Ep>
__device__ __forceinline__ void mm(bool tc, int M, int N, const Op& p, Ep ep) {
  mm2<NA>(tc, M, N, p, Op{0, p.A, 0, 0, p.B, 0, 0}, ep);
}

}  // namespace gdnk
}  // namespace cuda
}  // namespace liger
