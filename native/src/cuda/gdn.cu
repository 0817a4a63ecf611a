// Gated delta rule on CUDA: chunked forward/backward in the UT/WY form and the decode step.
//
// Per chunk of C = 64 tokens (G = in-chunk inclusive cumulative log-gate, b = exp(G), Gl = last G):
//   A = strict_tril(diag(beta) K K^T * Gamma), Gamma_ij = exp(G_i - G_j) (i >= j only: exponent <= 0)
//   T = (I + A)^-1 (forward substitution), W = T diag(beta) (K * b), U = T diag(beta) V
//   V' = U - W S,  o = scale ((Q * b) S + tril(Q K^T * Gamma) V'),  S <- exp(Gl) S + (K * exp(Gl - G))^T V'
// Kernels (forward): k_wy (chunk-parallel: G, T, W, U), k_state (sequential over chunks, one block per
// sequence x KV head x value tile: chunk states and V'), k_output (chunk-parallel, all query heads of a
// KV head). Backward recomputes those, then: k_bwd_local (dV' from the outputs, the state gradient's
// local term), k_dhu (reverse sequential: state gradients and the full dV'), k_bwd_dkw (dW, the decay
// path's dk and dg), k_bwd_dq (dq, the score path's dk and dg), k_wy_bwd (through T, W and U to dk, dv,
// dbeta, dg). Products run on fp32 shared-memory tiles: tf32 tensor cores for 16-bit inputs, fp32
// CUDA cores for fp32 inputs. dg w.r.t. the cumulative G is turned into dg per token by a reverse
// cumulative sum inside the chunk.
#include "common.cuh"
#include "gdn_mm.cuh"

namespace liger {
namespace cuda {
namespace {

using gdnk::Op;
using gdnk::mm;
using gdnk::mm2;

constexpr int C = 64;
constexpr int LDK = 132;  // row stride of C x D (D <= 128) tiles: 4 mod 8, conflict-free mma fragments
constexpr int LDC = 68;   // row stride of C x C tiles
constexpr int NT_ = 256;  // threads per block (the forward substitution assumes exactly 256)

struct Gp {
  View q, k, v, g, beta, o, dO, dq, dk, dv, dg, dbeta;
  int64_t T;
  int Hq, Hkv, Dk, Dv, grp;
  float scale;
  const Chunk* chunks;
  const SeqInfo* seqs;
  float *Gc, *W, *U, *Kb, *h, *Tm, *dvn, *dhn, *dW, *dkw, *dgw;
  const float* h0;
  float* ht;
  const float* dht;
  float* dh0;
};

// Offset of element (packed token tok, head h, feature 0) of a caller view.
__device__ __forceinline__ int64_t rowoff(const View& v, int64_t tok, int64_t T, int64_t h) {
  return (tok / T) * v.s0 + (tok % T) * v.s1 + h * v.s2;
}

// Block-wide copy with U loads in flight per thread.
template <int U = 8, class Ld, class St>
__device__ __forceinline__ void bcopy(int n, Ld ld, St st) {
  for (int base = threadIdx.x; base < n; base += U * blockDim.x) {
    float x[U];
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int i = base + u * blockDim.x;
      x[u] = i < n ? ld(i) : 0.f;
    }
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int i = base + u * blockDim.x;
      if (i < n) st(i, x[u]);
    }
  }
}

// s[r][d] = f(r, d) for r < len, 0 for len <= r < C; d < D.
template <class F>
__device__ __forceinline__ void fill(float* s, int ld, int len, int D, F f) {
  bcopy(C * D, [&](int i) { const int r = i / D, d = i - r * D; return r < len ? f(r, d) : 0.f; },
        [&](int i, float x) { const int r = i / D, d = i - r * D; s[r * ld + d] = x; });
}

// Caller tile rows (tok0 + r, head h) through precomputed row offsets ro.
__device__ __forceinline__ void fill_view(float* s, int len, int D, const View& v, const int64_t* ro) {
  fill(s, LDK, len, D, [&](int r, int d) { return load_as_float(v, ro[r] + d * v.s3); });
}

// Workspace tile [tok][h][0..D) rows.
__device__ __forceinline__ void fill_ws(float* s, int ld, int len, int D, const float* src, int64_t tok0, int H,
                                        int h, int ldsrc, int col0 = 0) {
  fill(s, ld, len, D, [&](int r, int d) { return src[((tok0 + r) * H + h) * (int64_t)ldsrc + col0 + d]; });
}

// sG[r] = in-chunk cumulative gate (rows past len repeat the last), ro[r] = row offsets of view v.
__device__ __forceinline__ void chunk_gates(const Gp& P, float* sG, int64_t* ro, const View& v, int64_t tok0,
                                            int len, int h) {
  const int t = threadIdx.x;
  if (t < C) {
    const int r = t < len ? t : len - 1;
    sG[t] = P.Gc[(tok0 + r) * P.Hkv + h];
    ro[t] = rowoff(v, tok0 + r, P.T, h);
  }
}

// ------------------------------------------------------------------ forward pieces
size_t smem_wy() { return sizeof(float) * (2 * C * LDK + 2 * C * LDC + 2 * C) + sizeof(int64_t) * 2 * C; }

// G (cumulative gates), T = (I + A)^-1 (stored when P.Tm), W and U of one chunk and KV head.
__global__ void __launch_bounds__(NT_) k_wy(Gp P, bool tc) {
  extern __shared__ float sm[];
  float *sK = sm, *sV = sK + C * LDK, *sA = sV + C * LDK, *sT = sA + C * LDC, *sG = sT + C * LDC, *sB = sG + C;
  int64_t* ro = reinterpret_cast<int64_t*>(sB + C);
  const Chunk ch = P.chunks[blockIdx.x];
  const int h = blockIdx.y, len = ch.len, tid = threadIdx.x, Dk = P.Dk, Dv = P.Dv;
  const int64_t tok0 = ch.start;
  if (tid < C) {
    const int64_t tok = tok0 + (tid < len ? tid : len - 1);
    ro[tid] = rowoff(P.k, tok, P.T, h);
    ro[C + tid] = rowoff(P.v, tok, P.T, h);
    sB[tid] = tid < len ? load_as_float(P.beta, rowoff(P.beta, tok, P.T, h)) : 0.f;
    sG[tid] = tid < len ? load_as_float(P.g, rowoff(P.g, tok, P.T, h)) : 0.f;
  }
  __syncthreads();
  if (tid < 32) {  // inclusive scan of the 64 gates by one warp, two per lane
    float a = sG[2 * tid], b = a + sG[2 * tid + 1];
    float s = b;
#pragma unroll
    for (int o = 1; o < 32; o <<= 1) {
      const float y = __shfl_up_sync(0xffffffffu, s, o);
      if (tid >= o) s += y;
    }
    const float ex = s - b;
    sG[2 * tid] = ex + a;
    sG[2 * tid + 1] = s;
  }
  fill_view(sK, len, Dk, P.k, ro);
  fill_view(sV, len, Dv, P.v, ro + C);
  __syncthreads();
  mm(tc, C, C, Op{Dk, sK, LDK, 1, sK, 1, LDK}, [&](int i, int j, float x) {
    sA[i * LDC + j] = i > j ? sB[i] * x * __expf(sG[i] - sG[j]) : 0.f;
  });
  __syncthreads();
  // Forward substitution T_i = e_i - sum_{j<i} A_ij T_j: four lanes per column, one row per step.
  {
    const int c = tid >> 2, part = tid & 3;
    for (int i = 0; i < C; ++i) {
      float s = 0.f;
      if (c < i)
        for (int j = c + part; j < i; j += 4) s = fmaf(sA[i * LDC + j], sT[j * LDC + c], s);
      s += __shfl_xor_sync(0xffffffffu, s, 1);
      s += __shfl_xor_sync(0xffffffffu, s, 2);
      if (part == 0) sT[i * LDC + c] = c < i ? -s : (c == i ? 1.f : 0.f);
      __syncthreads();
    }
  }
  for (int i = tid; i < C * Dk; i += NT_) {
    const int r = i / Dk, d = i - r * Dk;
    const float x = sK[r * LDK + d];
    if (r < len) P.Kb[((tok0 + r) * P.Hkv + h) * Dk + d] = x * __expf(sG[C - 1] - sG[r]);
    sK[r * LDK + d] = x * sB[r] * __expf(sG[r]);
  }
  for (int i = tid; i < C * Dv; i += NT_) {
    const int r = i / Dv, d = i - r * Dv;
    sV[r * LDK + d] *= sB[r];
  }
  if (tid < len) P.Gc[(tok0 + tid) * P.Hkv + h] = sG[tid];
  if (P.Tm)
    for (int i = tid; i < len * C; i += NT_) P.Tm[((tok0 + i / C) * P.Hkv + h) * C + (i % C)] = sT[i / C * LDC + i % C];
  __syncthreads();
  mm(tc, C, Dk, Op{C, sT, LDC, 1, sK, LDK, 1}, [&](int i, int n, float x) {
    if (i < len) P.W[((tok0 + i) * P.Hkv + h) * Dk + n] = x;
  });
  mm(tc, C, Dv, Op{C, sT, LDC, 1, sV, LDK, 1}, [&](int i, int n, float x) {
    if (i < len) P.U[((tok0 + i) * P.Hkv + h) * Dv + n] = x;
  });
}

// 16-byte asynchronous global -> shared copy (zero-filled when !ok), sm_80+; a plain copy before.
__device__ __forceinline__ void cp16(float* dst, const float* src, bool ok) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  cp_async16_zf(dst, src, ok);
#else
  for (int i = 0; i < 4; ++i) dst[i] = ok ? src[i] : 0.f;
#endif
}

// Asynchronous copy of rows [tok0, tok0 + C) of a [tok][H][ldsrc] fp32 workspace, columns col0 .. col0 + D
// (D % 4 == 0), into s (row stride ld); rows past len are zero.
__device__ __forceinline__ void stage_rows(float* s, int ld, const float* src, int64_t tok0, int len, int H, int h,
                                           int ldsrc, int col0, int D) {
  const int d4 = D >> 2;
  for (int i = threadIdx.x; i < C * d4; i += blockDim.x) {
    const int r = i / d4, c = (i - r * d4) * 4;
    const int rr = r < len ? r : len - 1;
    cp16(s + r * ld + c, src + ((tok0 + rr) * H + h) * (int64_t)ldsrc + col0 + c, r < len);
  }
}

// Asynchronous copy of a Dk x nv state tile (rows of Dv floats at src) into s (row stride ld).
__device__ __forceinline__ void stage_state(float* s, int ld, const float* src, int Dk, int Dv, int nv) {
  const int n4 = nv >> 2;
  for (int i = threadIdx.x; i < Dk * n4; i += blockDim.x) {
    const int r = i / n4, c = (i - r * n4) * 4;
    cp16(s + r * ld + c, src + (int64_t)r * Dv + c, true);
  }
}

template <int BV>
size_t smem_state() { return sizeof(float) * (128 * (BV + 4) + 2 * C * (BV + 4) + 4 * C * LDK); }

// Sequential chunk states of one sequence, KV head and value tile: h[c] = state entering chunk c,
// U overwritten by V' = U - W S; the final state to ht. The next chunk's W, Kbar and U tiles are copied
// asynchronously (double buffer) while this chunk computes: the loop is latency-bound, not bandwidth-bound.
template <int BV>
__global__ void __launch_bounds__(NT_) k_state(Gp P, bool tc) {
  constexpr int LDB = BV + 4, NA = BV >= 32 ? 4 : BV / 8;
  extern __shared__ __align__(16) float sm[];
  float* sS = sm;
  float* sU[2] = {sS + 128 * LDB, sS + 128 * LDB + C * LDB};
  float* sW[2] = {sU[1] + C * LDB, sU[1] + C * LDB + C * LDK};
  float* sKb[2] = {sW[1] + C * LDK, sW[1] + 2 * C * LDK};
  const int n = blockIdx.y / P.Hkv, h = blockIdx.y % P.Hkv, tid = threadIdx.x, Dk = P.Dk, Dv = P.Dv;
  const int v0 = blockIdx.x * BV, nv = min(BV, Dv - v0);
  const SeqInfo s = P.seqs[n];
  const int64_t sbase = ((int64_t)n * P.Hkv + h) * Dk * Dv + v0;
  auto stage = [&](int c, int b) {
    const Chunk ch = P.chunks[c];
    stage_rows(sW[b], LDK, P.W, ch.start, ch.len, P.Hkv, h, Dk, 0, Dk);
    stage_rows(sKb[b], LDK, P.Kb, ch.start, ch.len, P.Hkv, h, Dk, 0, Dk);
    stage_rows(sU[b], LDB, P.U, ch.start, ch.len, P.Hkv, h, Dv, v0, nv);
    cp_async_commit();
  };
  const int c0 = s.first_chunk, c1 = s.first_chunk + s.num_chunks;
  if (c0 < c1) stage(c0, 0);
  for (int i = tid; i < Dk * nv; i += NT_) {
    const int r = i / nv, j = i - r * nv;
    sS[r * LDB + j] = P.h0 ? P.h0[sbase + (int64_t)r * Dv + j] : 0.f;
  }
  for (int c = c0; c < c1; ++c) {
    const int b = (c - c0) & 1;
    const Chunk ch = P.chunks[c];
    const int len = ch.len;
    const int64_t tok0 = ch.start;
    const float eg = __expf(P.Gc[(tok0 + len - 1) * P.Hkv + h]);
    __syncthreads();  // sS complete; buffers b ^ 1 no longer read
    if (c + 1 < c1) stage(c + 1, b ^ 1);
    float* hc = P.h + ((int64_t)c * P.Hkv + h) * Dk * Dv + v0;
    for (int i = tid; i < Dk * nv; i += NT_) {
      const int r = i / nv, j = i - r * nv;
      hc[(int64_t)r * Dv + j] = sS[r * LDB + j];
    }
    if (c + 1 < c1) cp_async_wait<1>(); else cp_async_wait<0>();
    __syncthreads();
    float *W = sW[b], *U = sU[b], *Kb = sKb[b];
    mm<NA>(tc, C, nv, Op{Dk, W, LDK, 1, sS, LDB, 1}, [&](int i, int j, float x) {
      const float y = U[i * LDB + j] - x;
      U[i * LDB + j] = y;
      if (i < len) P.U[((tok0 + i) * P.Hkv + h) * Dv + v0 + j] = y;
    });
    __syncthreads();
    mm<NA>(tc, Dk, nv, Op{C, Kb, 1, LDK, U, LDB, 1}, [&](int i, int j, float x) {
      sS[i * LDB + j] = fmaf(eg, sS[i * LDB + j], x);
    });
  }
  __syncthreads();
  if (P.ht)
    for (int i = tid; i < Dk * nv; i += NT_) {
      const int r = i / nv, j = i - r * nv;
      P.ht[sbase + (int64_t)r * Dv + j] = sS[r * LDB + j];
    }
}

size_t smem_output() { return sizeof(float) * (3 * C * LDK + 128 * LDK + C * LDC + C) + sizeof(int64_t) * 3 * C; }

// o for all query heads of one chunk and KV head.
__global__ void __launch_bounds__(NT_) k_output(Gp P, bool tc) {
  extern __shared__ float sm[];
  float *sK = sm, *sVn = sK + C * LDK, *sQ = sVn + C * LDK, *sS = sQ + C * LDK, *sM = sS + 128 * LDK, *sG = sM + C * LDC;
  int64_t *rok = reinterpret_cast<int64_t*>(sG + C), *roq = rok + C, *roo = roq + C;
  const int c = blockIdx.x, h = blockIdx.y, tid = threadIdx.x, Dk = P.Dk, Dv = P.Dv;
  const Chunk ch = P.chunks[c];
  const int len = ch.len;
  const int64_t tok0 = ch.start;
  chunk_gates(P, sG, rok, P.k, tok0, len, h);
  __syncthreads();
  fill_view(sK, len, Dk, P.k, rok);
  fill_ws(sVn, LDK, len, Dv, P.U, tok0, P.Hkv, h, Dv);
  const float* hc = P.h + ((int64_t)c * P.Hkv + h) * Dk * Dv;
  bcopy(Dk * Dv, [&](int i) { return hc[i]; }, [&](int i, float x) { sS[(i / Dv) * LDK + i % Dv] = x; });
  for (int gi = 0; gi < P.grp; ++gi) {
    const int hq = h * P.grp + gi;
    if (tid < C) {
      const int64_t tok = tok0 + (tid < len ? tid : len - 1);
      roq[tid] = rowoff(P.q, tok, P.T, hq);
      roo[tid] = rowoff(P.o, tok, P.T, hq);
    }
    __syncthreads();
    fill_view(sQ, len, Dk, P.q, roq);
    __syncthreads();
    mm(tc, C, C, Op{Dk, sQ, LDK, 1, sK, 1, LDK}, [&](int i, int j, float x) {
      sM[i * LDC + j] = i >= j ? P.scale * x * __expf(sG[i] - sG[j]) : 0.f;
    });
    __syncthreads();
    for (int i = tid; i < C * Dk; i += NT_) {
      const int r = i / Dk, d = i - r * Dk;
      sQ[r * LDK + d] *= P.scale * __expf(sG[r]);
    }
    __syncthreads();
    mm2(tc, C, Dv, Op{Dk, sQ, LDK, 1, sS, LDK, 1}, Op{C, sM, LDC, 1, sVn, LDK, 1}, [&](int i, int n, float x) {
      if (i < len) store_from_float(P.o, roo[i] + n * P.o.s3, x);
    });
    __syncthreads();
  }
}

// ------------------------------------------------------------------ backward pieces
size_t smem_bwd_local() { return sizeof(float) * (4 * C * LDK + 128 * LDK + C * LDC + C) + sizeof(int64_t) * 3 * C; }

// dV' from the outputs (sum over the group of scale tril(Q K^T Gamma)^T dO) into dvn, and the state
// gradient's local term scale sum (Q * b)^T dO into dhn[c]. Both are summed over the group's query
// heads in shared memory and written once (a read-modify-write of global memory per head and element
// serialised the epilogues on load latency).
__global__ void __launch_bounds__(NT_) k_bwd_local(Gp P, bool tc) {
  extern __shared__ float sm[];
  float *sK = sm, *sQ = sK + C * LDK, *sdO = sQ + C * LDK, *aV = sdO + C * LDK, *aL = aV + C * LDK,
        *sM = aL + 128 * LDK, *sG = sM + C * LDC;
  int64_t *rok = reinterpret_cast<int64_t*>(sG + C), *roq = rok + C, *rod = roq + C;
  const int c = blockIdx.x, h = blockIdx.y, tid = threadIdx.x, Dk = P.Dk, Dv = P.Dv;
  const Chunk ch = P.chunks[c];
  const int len = ch.len;
  const int64_t tok0 = ch.start;
  chunk_gates(P, sG, rok, P.k, tok0, len, h);
  __syncthreads();
  fill_view(sK, len, Dk, P.k, rok);
  for (int gi = 0; gi < P.grp; ++gi) {
    const int hq = h * P.grp + gi;
    const bool first = gi == 0;
    if (tid < C) {
      const int64_t tok = tok0 + (tid < len ? tid : len - 1);
      roq[tid] = rowoff(P.q, tok, P.T, hq);
      rod[tid] = rowoff(P.dO, tok, P.T, hq);
    }
    __syncthreads();
    fill_view(sQ, len, Dk, P.q, roq);
    fill_view(sdO, len, Dv, P.dO, rod);
    __syncthreads();
    mm(tc, C, C, Op{Dk, sQ, LDK, 1, sK, 1, LDK}, [&](int i, int j, float x) {
      sM[i * LDC + j] = i >= j ? P.scale * x * __expf(sG[i] - sG[j]) : 0.f;
    });
    __syncthreads();
    mm(tc, C, Dv, Op{C, sM, 1, LDC, sdO, LDK, 1}, [&](int i, int n, float x) {
      float* e = aV + i * LDK + n;
      *e = first ? x : *e + x;
    });
    for (int i = tid; i < C * Dk; i += NT_) {
      const int r = i / Dk, d = i - r * Dk;
      sQ[r * LDK + d] *= P.scale * __expf(sG[r]);
    }
    __syncthreads();
    mm(tc, Dk, Dv, Op{C, sQ, 1, LDK, sdO, LDK, 1}, [&](int i, int n, float x) {
      float* e = aL + i * LDK + n;
      *e = first ? x : *e + x;
    });
    __syncthreads();
  }
  for (int i = tid; i < len * Dv; i += NT_) {
    const int r = i / Dv, d = i - r * Dv;
    P.dvn[((tok0 + r) * P.Hkv + h) * Dv + d] = aV[r * LDK + d];
  }
  float* loc = P.dhn + ((int64_t)c * P.Hkv + h) * Dk * Dv;
  for (int i = tid; i < Dk * Dv; i += NT_) loc[i] = aL[(i / Dv) * LDK + i % Dv];
}

template <int BV>
size_t smem_dhu() { return sizeof(float) * (3 * 128 * (BV + 4) + 2 * C * (BV + 4) + 4 * C * LDK); }

// Reverse over the chunks of one sequence, KV head and value tile: dhn[c] (gradient of the state
// leaving chunk c; the buffer held the local term), dvn completed to dV' = dvn + Kbar dH, dh0.
// Double-buffered asynchronous tile copies as in k_state.
template <int BV>
__global__ void __launch_bounds__(NT_) k_dhu(Gp P, bool tc) {
  constexpr int LDB = BV + 4, NA = BV >= 32 ? 4 : BV / 8;
  extern __shared__ __align__(16) float sm[];
  float* sH = sm;
  float* sL[2] = {sH + 128 * LDB, sH + 2 * 128 * LDB};
  float* sdV[2] = {sL[1] + 128 * LDB, sL[1] + 128 * LDB + C * LDB};
  float* sW[2] = {sdV[1] + C * LDB, sdV[1] + C * LDB + C * LDK};
  float* sKb[2] = {sW[1] + C * LDK, sW[1] + 2 * C * LDK};
  const int n = blockIdx.y / P.Hkv, h = blockIdx.y % P.Hkv, tid = threadIdx.x, Dk = P.Dk, Dv = P.Dv;
  const int v0 = blockIdx.x * BV, nv = min(BV, Dv - v0);
  const SeqInfo s = P.seqs[n];
  const int64_t sbase = ((int64_t)n * P.Hkv + h) * Dk * Dv + v0;
  auto stage = [&](int c, int b) {
    const Chunk ch = P.chunks[c];
    stage_rows(sW[b], LDK, P.W, ch.start, ch.len, P.Hkv, h, Dk, 0, Dk);
    stage_rows(sKb[b], LDK, P.Kb, ch.start, ch.len, P.Hkv, h, Dk, 0, Dk);
    stage_rows(sdV[b], LDB, P.dvn, ch.start, ch.len, P.Hkv, h, Dv, v0, nv);
    stage_state(sL[b], LDB, P.dhn + ((int64_t)c * P.Hkv + h) * Dk * Dv + v0, Dk, Dv, nv);
    cp_async_commit();
  };
  const int c0 = s.first_chunk, c1 = s.first_chunk + s.num_chunks;
  if (c0 < c1) stage(c1 - 1, 0);
  for (int i = tid; i < Dk * nv; i += NT_) {
    const int r = i / nv, j = i - r * nv;
    sH[r * LDB + j] = P.dht ? P.dht[sbase + (int64_t)r * Dv + j] : 0.f;
  }
  for (int c = c1 - 1; c >= c0; --c) {
    const int b = (c1 - 1 - c) & 1;
    const Chunk ch = P.chunks[c];
    const int len = ch.len;
    const int64_t tok0 = ch.start;
    const float eg = __expf(P.Gc[(tok0 + len - 1) * P.Hkv + h]);
    __syncthreads();
    if (c > c0) stage(c - 1, b ^ 1);
    if (c > c0) cp_async_wait<1>(); else cp_async_wait<0>();
    __syncthreads();  // the local term of chunk c is in sL[b]: its slot in dhn may be overwritten now
    float* hc = P.dhn + ((int64_t)c * P.Hkv + h) * Dk * Dv + v0;
    for (int i = tid; i < Dk * nv; i += NT_) {
      const int r = i / nv, j = i - r * nv;
      hc[(int64_t)r * Dv + j] = sH[r * LDB + j];
    }
    float *W = sW[b], *Kb = sKb[b], *dV = sdV[b], *L = sL[b];
    mm<NA>(tc, C, nv, Op{Dk, Kb, LDK, 1, sH, LDB, 1}, [&](int i, int j, float x) {
      const float y = dV[i * LDB + j] + x;
      dV[i * LDB + j] = y;
      if (i < len) P.dvn[((tok0 + i) * P.Hkv + h) * Dv + v0 + j] = y;
    });
    __syncthreads();
    mm<NA>(tc, Dk, nv, Op{C, W, 1, LDK, dV, LDB, 1}, [&](int i, int j, float x) {
      sH[i * LDB + j] = fmaf(eg, sH[i * LDB + j], L[i * LDB + j] - x);
    });
  }
  __syncthreads();
  if (P.dh0)
    for (int i = tid; i < Dk * nv; i += NT_) {
      const int r = i / nv, j = i - r * nv;
      P.dh0[sbase + (int64_t)r * Dv + j] = sH[r * LDB + j];
    }
}

size_t smem_bwd_dkw() { return sizeof(float) * (128 * LDK + 2 * C * LDK + 2 * C + 1) + sizeof(int64_t) * C + 16; }

// dW = -dV' S^T; the decay path S_next += Kbar^T V': dk = (V' dH^T) * exp(Gl - G) into dkw, its dg
// (and the chunk total's: exp(Gl) sum(S * dH)) into dgw.
__global__ void __launch_bounds__(NT_) k_bwd_dkw(Gp P, bool tc) {
  extern __shared__ float sm[];
  float *sX = sm, *sA = sX + 128 * LDK, *sK = sA + C * LDK, *sG = sK + C * LDK, *sRow = sG + C, *sSum = sRow + C;
  int64_t* ro = reinterpret_cast<int64_t*>(sSum + 4);
  const int c = blockIdx.x, h = blockIdx.y, tid = threadIdx.x, Dk = P.Dk, Dv = P.Dv;
  const Chunk ch = P.chunks[c];
  const int len = ch.len;
  const int64_t tok0 = ch.start;
  chunk_gates(P, sG, ro, P.k, tok0, len, h);
  if (tid < C) sRow[tid] = 0.f;
  if (tid == 0) sSum[0] = 0.f;
  __syncthreads();
  const int64_t sb = ((int64_t)c * P.Hkv + h) * Dk * Dv;
  bcopy(Dk * Dv, [&](int i) { return P.h[sb + i]; }, [&](int i, float x) { sX[(i / Dv) * LDK + i % Dv] = x; });
  fill_ws(sA, LDK, len, Dv, P.dvn, tok0, P.Hkv, h, Dv);
  fill_view(sK, len, Dk, P.k, ro);
  __syncthreads();
  mm(tc, C, Dk, Op{Dv, sA, LDK, 1, sX, 1, LDK}, [&](int i, int n, float x) {
    if (i < len) P.dW[((tok0 + i) * P.Hkv + h) * Dk + n] = -x;
  });
  __syncthreads();
  float part = 0.f;
  bcopy(Dk * Dv, [&](int i) { return P.dhn[sb + i]; }, [&](int i, float x) {
    float* e = sX + (i / Dv) * LDK + i % Dv;
    part = fmaf(*e, x, part);
    *e = x;
  });
  fill_ws(sA, LDK, len, Dv, P.U, tok0, P.Hkv, h, Dv);
  for (int o = 16; o; o >>= 1) part += __shfl_xor_sync(0xffffffffu, part, o);
  if ((tid & 31) == 0) atomicAdd(sSum, part);
  __syncthreads();
  const float gl = sG[C - 1];
  mm(tc, C, Dk, Op{Dv, sA, LDK, 1, sX, 1, LDK}, [&](int i, int n, float x) {
    if (i < len) {
      const float y = x * __expf(gl - sG[i]);
      P.dkw[((tok0 + i) * P.Hkv + h) * Dk + n] = y;
      atomicAdd(sRow + i, sK[i * LDK + n] * y);
    }
  });
  __syncthreads();
  if (tid < len) {
    float d = -sRow[tid];
    if (tid == len - 1) {
      float tot = __expf(gl) * sSum[0];
      for (int r = 0; r < len; ++r) tot += sRow[r];
      d += tot;
    }
    P.dgw[(tok0 + tid) * P.Hkv + h] = d;
  }
}

size_t smem_bwd_dq() { return sizeof(float) * (5 * C * LDK + C * LDC + 3 * C) + sizeof(int64_t) * 4 * C; }

// dq = scale (b dO) S^T + dS K with dS = tril(scale dO V'^T * Gamma); dk += dS^T Q (summed over the
// group in shared memory, added to dkw once); dg += q.dq - k.dk(score path) into dgw. The chunk state
// S is read from global memory (L1/L2) by the product: shared memory holds the dk accumulator instead.
__global__ void __launch_bounds__(NT_) k_bwd_dq(Gp P, bool tc) {
  extern __shared__ float sm[];
  float *sK = sm, *sVn = sK + C * LDK, *sQ = sVn + C * LDK, *sdO = sQ + C * LDK, *aK = sdO + C * LDK,
        *sD = aK + C * LDK, *sG = sD + C * LDC, *sRow = sG + C, *sRowK = sRow + C;
  int64_t *rok = reinterpret_cast<int64_t*>(sRowK + C), *roq = rok + C, *rod = roq + C, *rodq = rod + C;
  const int c = blockIdx.x, h = blockIdx.y, tid = threadIdx.x, Dk = P.Dk, Dv = P.Dv;
  const Chunk ch = P.chunks[c];
  const int len = ch.len;
  const int64_t tok0 = ch.start;
  chunk_gates(P, sG, rok, P.k, tok0, len, h);
  if (tid < C) sRow[tid] = sRowK[tid] = 0.f;
  __syncthreads();
  fill_view(sK, len, Dk, P.k, rok);
  fill_ws(sVn, LDK, len, Dv, P.U, tok0, P.Hkv, h, Dv);
  const float* hc = P.h + ((int64_t)c * P.Hkv + h) * Dk * Dv;
  for (int gi = 0; gi < P.grp; ++gi) {
    const int hq = h * P.grp + gi;
    const bool first = gi == 0;
    if (tid < C) {
      const int64_t tok = tok0 + (tid < len ? tid : len - 1);
      roq[tid] = rowoff(P.q, tok, P.T, hq);
      rod[tid] = rowoff(P.dO, tok, P.T, hq);
      rodq[tid] = rowoff(P.dq, tok, P.T, hq);
    }
    __syncthreads();
    fill_view(sQ, len, Dk, P.q, roq);
    fill_view(sdO, len, Dv, P.dO, rod);
    __syncthreads();
    mm(tc, C, C, Op{Dv, sdO, LDK, 1, sVn, 1, LDK}, [&](int i, int j, float x) {
      sD[i * LDC + j] = i >= j ? P.scale * x * __expf(sG[i] - sG[j]) : 0.f;
    });
    __syncthreads();
    for (int i = tid; i < C * Dv; i += NT_) {
      const int r = i / Dv, d = i - r * Dv;
      sdO[r * LDK + d] *= P.scale * __expf(sG[r]);
    }
    __syncthreads();
    mm2(tc, C, Dk, Op{Dv, sdO, LDK, 1, hc, 1, Dv}, Op{C, sD, LDC, 1, sK, LDK, 1}, [&](int i, int n, float x) {
      if (i < len) {
        store_from_float(P.dq, rodq[i] + n * P.dq.s3, x);
        atomicAdd(sRow + i, sQ[i * LDK + n] * x);
      }
    });
    mm(tc, C, Dk, Op{C, sD, 1, LDC, sQ, LDK, 1}, [&](int i, int n, float x) {
      float* e = aK + i * LDK + n;
      *e = first ? x : *e + x;
      if (i < len) atomicAdd(sRowK + i, sK[i * LDK + n] * x);
    });
    __syncthreads();
  }
  bcopy(len * Dk, [&](int i) { const int r = i / Dk, d = i - r * Dk; return P.dkw[((tok0 + r) * P.Hkv + h) * Dk + d]; },
        [&](int i, float x) {
          const int r = i / Dk, d = i - r * Dk;
          P.dkw[((tok0 + r) * P.Hkv + h) * Dk + d] = x + aK[r * LDK + d];
        });
  if (tid < len) P.dgw[(tok0 + tid) * P.Hkv + h] += sRow[tid] - sRowK[tid];
}

size_t smem_wy_bwd() { return sizeof(float) * (4 * C * LDK + 4 * C * LDC + 5 * C) + sizeof(int64_t) * 4 * C; }

// Through W = T diag(beta) (K * b), U = T diag(beta) V and T = (I + A)^-1 to dk, dv, dbeta and dg
// (with the partial dk, dg of the other kernels), written in the caller's dtypes.
__global__ void __launch_bounds__(NT_) k_wy_bwd(Gp P, bool tc) {
  extern __shared__ float sm[];
  float *sK = sm, *sV = sK + C * LDK, *sdW = sV + C * LDK, *sdU = sdW + C * LDK, *sT = sdU + C * LDK,
        *sdT = sT + C * LDC, *sKK = sdT + C * LDC, *sZ = sKK + C * LDC, *sG = sZ + C * LDC, *sB = sG + C,
        *sRowB = sB + C, *sRowX = sRowB + C, *sRowG = sRowX + C;
  int64_t *rok = reinterpret_cast<int64_t*>(sRowG + C), *rov = rok + C, *rodv = rov + C, *rodk = rodv + C;
  const int c = blockIdx.x, h = blockIdx.y, tid = threadIdx.x, Dk = P.Dk, Dv = P.Dv;
  const Chunk ch = P.chunks[c];
  const int len = ch.len;
  const int64_t tok0 = ch.start;
  chunk_gates(P, sG, rok, P.k, tok0, len, h);
  if (tid < C) {
    const int64_t tok = tok0 + (tid < len ? tid : len - 1);
    rov[tid] = rowoff(P.v, tok, P.T, h);
    rodv[tid] = rowoff(P.dv, tok, P.T, h);
    rodk[tid] = rowoff(P.dk, tok, P.T, h);
    sB[tid] = tid < len ? load_as_float(P.beta, rowoff(P.beta, tok, P.T, h)) : 0.f;
    sRowB[tid] = sRowX[tid] = sRowG[tid] = 0.f;
  }
  __syncthreads();
  fill_view(sK, len, Dk, P.k, rok);
  fill_view(sV, len, Dv, P.v, rov);
  fill_ws(sdW, LDK, len, Dk, P.dW, tok0, P.Hkv, h, Dk);
  fill_ws(sdU, LDK, len, Dv, P.dvn, tok0, P.Hkv, h, Dv);
  fill_ws(sT, LDC, len, C, P.Tm, tok0, P.Hkv, h, C);
  __syncthreads();
  // dT = dU Y^T + dW X^T with Y = diag(beta) V, X = diag(beta b) K (column scalings of the products)
  mm(tc, C, C, Op{Dv, sdU, LDK, 1, sV, 1, LDK}, [&](int i, int j, float x) { sdT[i * LDC + j] = x; });
  mm(tc, C, C, Op{Dk, sK, LDK, 1, sK, 1, LDK}, [&](int i, int j, float x) { sKK[i * LDC + j] = x; });
  __syncthreads();
  mm(tc, C, C, Op{Dk, sdW, LDK, 1, sK, 1, LDK}, [&](int i, int j, float x) {
    sdT[i * LDC + j] = sB[j] * fmaf(__expf(sG[j]), x, sdT[i * LDC + j]);
  });
  // dY = T^T dU: dv = beta dY, dbeta += dY . v
  mm(tc, C, Dv, Op{C, sT, 1, LDC, sdU, LDK, 1}, [&](int i, int n, float x) {
    if (i < len) {
      store_from_float(P.dv, rodv[i] + n * P.dv.s3, sB[i] * x);
      atomicAdd(sRowB + i, x * sV[i * LDK + n]);
    }
  });
  __syncthreads();
  // Z = dT T^T; dX = T^T dW: dk = dkw + beta b dX (accumulated in sdU from here on)
  mm(tc, C, C, Op{C, sdT, LDC, 1, sT, 1, LDC}, [&](int i, int j, float x) { sZ[i * LDC + j] = x; });
  mm(tc, C, Dk, Op{C, sT, 1, LDC, sdW, LDK, 1}, [&](int i, int n, float x) {
    if (i < len) {
      sdU[i * LDK + n] = sB[i] * __expf(sG[i]) * x;
      atomicAdd(sRowX + i, x * sK[i * LDK + n]);
    } else {
      sdU[i * LDK + n] = 0.f;
    }
  });
  __syncthreads();
  // dA = -T^T Z (strictly lower), D = dA * Gamma, E = diag(beta) D: dbeta += rowsum(D * KK),
  // dG_i += rowsum(E * KK) - colsum(E * KK)
  mm(tc, C, C, Op{C, sT, 1, LDC, sZ, LDC, 1}, [&](int i, int j, float x) {
    float e = 0.f;
    if (i > j && i < len) {
      const float d = -x * __expf(sG[i] - sG[j]), kk = sKK[i * LDC + j];
      atomicAdd(sRowB + i, d * kk);
      e = sB[i] * d;
      atomicAdd(sRowG + i, e * kk);
      atomicAdd(sRowG + j, -e * kk);
    }
    sdT[i * LDC + j] = e;
  });
  __syncthreads();
  // dk += E K + E^T K
  mm2(tc, C, Dk, Op{C, sdT, LDC, 1, sK, LDK, 1}, Op{C, sdT, 1, LDC, sK, LDK, 1},
      [&](int i, int n, float x) { sdU[i * LDK + n] += x; });
  __syncthreads();
  // dk = the other kernels' part (dkw, read here with many loads in flight) + this kernel's
  bcopy(len * Dk, [&](int i) { const int r = i / Dk, d = i - r * Dk; return P.dkw[((tok0 + r) * P.Hkv + h) * Dk + d]; },
        [&](int i, float x) {
          const int r = i / Dk, d = i - r * Dk;
          store_from_float(P.dk, rodk[r] + d * P.dk.s3, x + sdU[r * LDK + d]);
        });
  if (tid < len) {
    const float b = __expf(sG[tid]);
    const int64_t tok = tok0 + tid;
    store_from_float(P.dbeta, rowoff(P.dbeta, tok, P.T, h), sRowB[tid] + b * sRowX[tid]);
    sRowG[tid] += P.dgw[tok * P.Hkv + h] + sB[tid] * b * sRowX[tid];
  }
  __syncthreads();
  if (tid == 0) {
    float acc = 0.f;
    for (int r = len - 1; r >= 0; --r) {
      acc += sRowG[r];
      store_from_float(P.dg, rowoff(P.dg, tok0 + r, P.T, h), acc);
    }
  }
}

// ------------------------------------------------------------------ decode
// One token per sequence: S' = exp(g) S + beta k (v - exp(g) S^T k)^T, o = scale S'^T q. One block per
// (sequence, KV head, 32 value columns); 8 row groups of 32 threads, each thread 16 rows of one column.
__global__ void __launch_bounds__(NT_) k_decode(Gp P) {
  extern __shared__ float sm[];
  const int grp = P.grp, Dk = P.Dk, Dv = P.Dv;
  float *sk = sm, *sq = sk + 128, *red = sq + grp * Dk;  // red: [max(grp,1)][8][32]
  const int n = blockIdx.y / P.Hkv, h = blockIdx.y % P.Hkv, tid = threadIdx.x;
  const int cc = tid & 31, rg = tid >> 5, v = blockIdx.x * 32 + cc;
  const bool ok = v < Dv;
  for (int i = tid; i < Dk; i += NT_) sk[i] = load_as_float(P.k, rowoff(P.k, n, 1, h) + i * P.k.s3);
  for (int i = tid; i < grp * Dk; i += NT_) {
    const int gi = i / Dk, d = i - gi * Dk;
    sq[i] = load_as_float(P.q, rowoff(P.q, n, 1, h * grp + gi) + d * P.q.s3);
  }
  const float eg = __expf(load_as_float(P.g, rowoff(P.g, n, 1, h)));
  const float bt = load_as_float(P.beta, rowoff(P.beta, n, 1, h));
  const float vv = ok ? load_as_float(P.v, rowoff(P.v, n, 1, h) + v * P.v.s3) : 0.f;
  const int64_t sb = ((int64_t)n * P.Hkv + h) * Dk * Dv + v;
  float s[16];
#pragma unroll
  for (int i = 0; i < 16; ++i) {
    const int r = rg + 8 * i;
    s[i] = (ok && r < Dk) ? P.h0[sb + (int64_t)r * Dv] : 0.f;
  }
  __syncthreads();
  float u = 0.f;
#pragma unroll
  for (int i = 0; i < 16; ++i) {
    const int r = rg + 8 * i;
    if (r < Dk) u = fmaf(s[i], sk[r], u);
  }
  red[rg * 32 + cc] = u;
  __syncthreads();
  u = 0.f;
#pragma unroll
  for (int j = 0; j < 8; ++j) u += red[j * 32 + cc];
  const float vp = bt * (vv - eg * u);
#pragma unroll
  for (int i = 0; i < 16; ++i) {
    const int r = rg + 8 * i;
    s[i] = fmaf(eg, s[i], (r < Dk ? sk[r] : 0.f) * vp);
    if (ok && r < Dk) P.ht[sb + (int64_t)r * Dv] = s[i];
  }
  __syncthreads();  // red is reused
  for (int gi = 0; gi < grp; ++gi) {
    float o = 0.f;
#pragma unroll
    for (int i = 0; i < 16; ++i) {
      const int r = rg + 8 * i;
      if (r < Dk) o = fmaf(s[i], sq[gi * Dk + r], o);
    }
    red[(gi * 8 + rg) * 32 + cc] = o;
  }
  __syncthreads();
  for (int gi = rg; gi < grp; gi += 8) {
    float o = 0.f;
#pragma unroll
    for (int j = 0; j < 8; ++j) o += red[(gi * 8 + j) * 32 + cc];
    if (ok) store_from_float(P.o, rowoff(P.o, n, 1, h * grp + gi) + v * P.o.s3, P.scale * o);
  }
}

// ------------------------------------------------------------------ host side
enum class Mode { Forward, Backward, Decode };

liger_status check_cuda(const liger_gdn_params& p, Mode m) {
  if (p.Dk > 128 || p.Dv > 128 || p.Dk % 4 || p.Dv % 4)
    return fail(LIGER_ERR_UNSUPPORTED,
                "CUDA gated delta rule kernels need Dk, Dv multiples of 4 and at most 128 (got Dk=%lld, Dv=%lld)",
                (long long)p.Dk, (long long)p.Dv);
  if (p.Hkv <= 0 || p.Hq % p.Hkv)
    return fail(LIGER_ERR_INVALID_ARGUMENT, "Hq (%lld) must be a multiple of Hkv (%lld)", (long long)p.Hq,
                (long long)p.Hkv);
  const liger_tensor* ts[] = {&p.q, &p.k, &p.v, &p.g, &p.beta, &p.h0};
  const char* names[] = {"q", "k", "v", "g", "beta", "h0"};
  for (int i = 0; i < 6; ++i) LIGER_TRY(check_device_ptr(ts[i]->data, names[i]));
  if (m != Mode::Backward) {
    LIGER_TRY(check_device_ptr(p.o.data, "o"));
    LIGER_TRY(check_device_ptr(p.ht.data, "ht"));
  } else {
    const liger_tensor* bs[] = {&p.do_, &p.dht, &p.dq, &p.dk, &p.dv, &p.dg, &p.dbeta, &p.dh0};
    const char* bn[] = {"do_", "dht", "dq", "dk", "dv", "dg", "dbeta", "dh0"};
    for (int i = 0; i < 8; ++i) LIGER_TRY(check_device_ptr(bs[i]->data, bn[i]));
  }
  return LIGER_OK;
}

Gp base_params(const liger_gdn_params& p) {
  Gp P{};
  P.q = view_of(p.q), P.k = view_of(p.k), P.v = view_of(p.v), P.g = view_of(p.g), P.beta = view_of(p.beta);
  P.o = view_of(p.o), P.dO = view_of(p.do_), P.dq = view_of(p.dq), P.dk = view_of(p.dk), P.dv = view_of(p.dv);
  P.dg = view_of(p.dg), P.dbeta = view_of(p.dbeta);
  P.T = p.T;
  P.Hq = (int)p.Hq, P.Hkv = (int)p.Hkv, P.Dk = (int)p.Dk, P.Dv = (int)p.Dv, P.grp = (int)(p.Hq / p.Hkv);
  P.scale = p.scale;
  P.h0 = static_cast<const float*>(p.h0.data);
  return P;
}

template <class K>
liger_status launch(K kernel, dim3 grid, size_t smem, cudaStream_t st, const char* name, const Gp& P, bool tc) {
  if (grid.x == 0 || grid.y == 0) return LIGER_OK;
  LIGER_TRY(set_smem(reinterpret_cast<const void*>(kernel), smem, name));
  kernel<<<grid, NT_, smem, st>>>(P, tc);
  LIGER_CK_LAUNCH(name);
  return LIGER_OK;
}

// Value-tile width of the sequential kernels: the widest that still gives ~one block per SM.
int pick_bv(int64_t N, int64_t Hkv, int64_t Dv) {
  const int64_t rows = N * Hkv;
  for (int bv : {64, 32, 16})
    if (rows * ((Dv + bv - 1) / bv) >= 128) return bv;
  return 8;
}

liger_status run_state(bool dhu, int bv, int64_t rows, const Gp& P, bool tc, cudaStream_t st) {
  if (dhu && bv > 32) bv = 32;  // k_dhu's double-buffered tiles do not fit in shared memory at 64
  const dim3 grid((unsigned)((P.Dv + bv - 1) / bv), (unsigned)rows);
  switch (bv) {
    case 64: return launch(k_state<64>, grid, smem_state<64>(), st, "gdn k_state", P, tc);
    case 32: return dhu ? launch(k_dhu<32>, grid, smem_dhu<32>(), st, "gdn k_dhu", P, tc)
                        : launch(k_state<32>, grid, smem_state<32>(), st, "gdn k_state", P, tc);
    case 16: return dhu ? launch(k_dhu<16>, grid, smem_dhu<16>(), st, "gdn k_dhu", P, tc)
                        : launch(k_state<16>, grid, smem_state<16>(), st, "gdn k_state", P, tc);
    default: return dhu ? launch(k_dhu<8>, grid, smem_dhu<8>(), st, "gdn k_dhu", P, tc)
                        : launch(k_state<8>, grid, smem_state<8>(), st, "gdn k_state", P, tc);
  }
}

liger_status gdn_run(const liger_gdn_params& p, Mode mode) {
  LIGER_TRY(check_cuda(p, mode));
  cudaStream_t st = static_cast<cudaStream_t>(p.stream);
  Gp P = base_params(p);
  const bool tc = p.q.dtype != LIGER_F32;
  if (mode == Mode::Decode) {
    P.ht = static_cast<float*>(p.ht.data);
    const size_t smem = sizeof(float) * (128 + P.grp * P.Dk + (P.grp > 1 ? P.grp : 1) * 8 * 32);
    const auto kernel = k_decode;
    LIGER_TRY(set_smem(reinterpret_cast<const void*>(kernel), smem, "gdn k_decode"));
    k_decode<<<dim3((unsigned)((P.Dv + 31) / 32), (unsigned)(p.B * p.Hkv)), NT_, smem, st>>>(P);
    LIGER_CK_LAUNCH("gdn k_decode");
    return LIGER_OK;
  }
  Plan plan;
  LIGER_TRY(make_plan(p.cu_seqlens, p.B, p.T, st, plan));
  const int64_t NT = plan.total, nch = (int64_t)plan.chunks.size(), N = (int64_t)plan.seqs.size();
  const int64_t Hkv = p.Hkv, Dk = p.Dk, Dv = p.Dv;
  const bool bwd = mode == Mode::Backward;
  Workspace ws(st);
  const size_t oG = ws.reserve_bytes(sizeof(float) * NT * Hkv), oW = ws.reserve_bytes(sizeof(float) * NT * Hkv * Dk),
               oU = ws.reserve_bytes(sizeof(float) * NT * Hkv * Dv),
               oKb = ws.reserve_bytes(sizeof(float) * NT * Hkv * Dk),
               oH = ws.reserve_bytes(sizeof(float) * nch * Hkv * Dk * Dv),
               oC = ws.reserve_bytes(sizeof(Chunk) * (nch + 1)), oS = ws.reserve_bytes(sizeof(SeqInfo) * (N + 1));
  size_t oT = 0, odv = 0, odh = 0, odW = 0, odk = 0, odg = 0;
  if (bwd) {
    oT = ws.reserve_bytes(sizeof(float) * NT * Hkv * C);
    odv = ws.reserve_bytes(sizeof(float) * NT * Hkv * Dv);
    odh = ws.reserve_bytes(sizeof(float) * nch * Hkv * Dk * Dv);
    odW = ws.reserve_bytes(sizeof(float) * NT * Hkv * Dk);
    odk = ws.reserve_bytes(sizeof(float) * NT * Hkv * Dk);
    odg = ws.reserve_bytes(sizeof(float) * NT * Hkv);
  }
  LIGER_TRY(ws.allocate());
  if (nch) LIGER_CK(cudaMemcpyAsync(ws.at<Chunk>(oC), plan.chunks.data(), sizeof(Chunk) * nch, cudaMemcpyHostToDevice, st));
  if (N) LIGER_CK(cudaMemcpyAsync(ws.at<SeqInfo>(oS), plan.seqs.data(), sizeof(SeqInfo) * N, cudaMemcpyHostToDevice, st));
  P.chunks = ws.at<Chunk>(oC);
  P.seqs = ws.at<SeqInfo>(oS);
  P.Gc = ws.at<float>(oG), P.W = ws.at<float>(oW), P.U = ws.at<float>(oU), P.Kb = ws.at<float>(oKb), P.h = ws.at<float>(oH);
  P.ht = bwd ? nullptr : static_cast<float*>(p.ht.data);
  if (bwd) {
    P.Tm = ws.at<float>(oT), P.dvn = ws.at<float>(odv), P.dhn = ws.at<float>(odh), P.dW = ws.at<float>(odW);
    P.dkw = ws.at<float>(odk), P.dgw = ws.at<float>(odg);
    P.dht = static_cast<const float*>(p.dht.data);
    P.dh0 = static_cast<float*>(p.dh0.data);
  }
  const dim3 cg((unsigned)nch, (unsigned)Hkv);
  const int bv = pick_bv(N, Hkv, Dv);
  LIGER_TRY(launch(k_wy, cg, smem_wy(), st, "gdn k_wy", P, tc));
  LIGER_TRY(run_state(false, bv, N * Hkv, P, tc, st));
  if (!bwd) return launch(k_output, cg, smem_output(), st, "gdn k_output", P, tc);
  LIGER_TRY(launch(k_bwd_local, cg, smem_bwd_local(), st, "gdn k_bwd_local", P, tc));
  LIGER_TRY(run_state(true, bv, N * Hkv, P, tc, st));
  LIGER_TRY(launch(k_bwd_dkw, cg, smem_bwd_dkw(), st, "gdn k_bwd_dkw", P, tc));
  LIGER_TRY(launch(k_bwd_dq, cg, smem_bwd_dq(), st, "gdn k_bwd_dq", P, tc));
  return launch(k_wy_bwd, cg, smem_wy_bwd(), st, "gdn k_wy_bwd", P, tc);
}

}  // namespace

liger_status gdn_forward(const liger_gdn_params& p) { return gdn_run(p, Mode::Forward); }
liger_status gdn_backward(const liger_gdn_params& p) { return gdn_run(p, Mode::Backward); }
liger_status gdn_decode(const liger_gdn_params& p) { return gdn_run(p, Mode::Decode); }

}  // namespace cuda
}  // namespace liger
