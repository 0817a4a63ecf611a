// Block-wide matrix products on shared-memory (or L2-resident) fp32 tiles for the gated delta rule
// kernels: tf32 tensor cores (mma.sync m16n8k8, fp32 accumulators) for 16-bit inputs, exact fp32 FMAs
// on CUDA cores for fp32 inputs. Kept beside the GDN kernels so that they do not depend on the GLA
// kernels' helpers, which change independently.
#pragma once
#include <cuda_runtime.h>
#include <stdint.h>

namespace liger {
namespace cuda {
namespace gdnk {

// One operand pair: A(m, k) = A[m*am + k*ak], B(k, n) = B[k*bk + n*bn], k < K.
struct Op {
  int K;
  const float* A;
  int am, ak;
  const float* B;
  int bk, bn;
};

__device__ __forceinline__ uint32_t tf32(float x) {
  uint32_t r;
  asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(x));
  return r;
}

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
// acc (16 x 8NA warp tile at m0, n0) += A B over o.K; ragged N and K zero-filled.
template <int NA>
__device__ __forceinline__ void mma_acc(float (&acc)[NA][4], const Op& o, int m0, int n0, int N) {
  const int lane = threadIdx.x & 31, g = lane >> 2, tq = lane & 3;
  const float* alo = o.A + (m0 + g) * o.am;
  const float* ahi = alo + 8 * o.am;
  const float* bp[NA];
  bool nok[NA];
#pragma unroll
  for (int j = 0; j < NA; ++j) {
    const int n = n0 + j * 8 + g;
    nok[j] = n < N;
    bp[j] = o.B + (nok[j] ? n : 0) * o.bn;
  }
  auto step = [&](int k0, bool guard) {
    const int ka = k0 + tq, kb = ka + 4;
    const bool oka = !guard || ka < o.K, okb = !guard || kb < o.K;
    const uint32_t a0 = oka ? tf32(alo[ka * o.ak]) : 0u, a1 = oka ? tf32(ahi[ka * o.ak]) : 0u;
    const uint32_t a2 = okb ? tf32(alo[kb * o.ak]) : 0u, a3 = okb ? tf32(ahi[kb * o.ak]) : 0u;
#pragma unroll
    for (int j = 0; j < NA; ++j) {
      const uint32_t b0 = (nok[j] && oka) ? tf32(bp[j][ka * o.bk]) : 0u;
      const uint32_t b1 = (nok[j] && okb) ? tf32(bp[j][kb * o.bk]) : 0u;
      asm("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
          "{%0,%1,%2,%3};"
          : "+f"(acc[j][0]), "+f"(acc[j][1]), "+f"(acc[j][2]), "+f"(acc[j][3])
          : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
    }
  };
  const int kfull = o.K & ~7;
#pragma unroll 4
  for (int k0 = 0; k0 < kfull; k0 += 8) step(k0, false);
  if (kfull < o.K) step(kfull, true);
}
#endif

// ep(m, n, p1 + p2) for every output of the M x N sum of products, on tensor cores. M % 16 == 0.
template <int NA, class Ep>
__device__ __forceinline__ void mm_tc(int M, int N, const Op& p1, const Op& p2, Ep ep) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
  const int g = lane >> 2, tq = lane & 3;
  const int tm = M >> 4, tn = (N + 8 * NA - 1) / (8 * NA);
  for (int t = warp; t < tm * tn; t += nwarps) {
    const int m0 = (t / tn) * 16, n0 = (t % tn) * (8 * NA);
    float acc[NA][4];
#pragma unroll
    for (int j = 0; j < NA; ++j) acc[j][0] = acc[j][1] = acc[j][2] = acc[j][3] = 0.f;
    mma_acc<NA>(acc, p1, m0, n0, N);
    if (p2.K > 0) mma_acc<NA>(acc, p2, m0, n0, N);
#pragma unroll
    for (int j = 0; j < NA; ++j) {
      const int n = n0 + j * 8 + 2 * tq;
      if (n < N) {
        ep(m0 + g, n, acc[j][0]);
        ep(m0 + g + 8, n, acc[j][2]);
      }
      if (n + 1 < N) {
        ep(m0 + g, n + 1, acc[j][1]);
        ep(m0 + g + 8, n + 1, acc[j][3]);
      }
    }
  }
#endif
}

// The same on CUDA cores in fp32, 4 x 4 outputs per thread. M % 4 == 0, N % 4 == 0.
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
    mm_tc<NA>(M, N, p1, p2, ep);
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
