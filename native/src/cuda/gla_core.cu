// Chunked gated linear attention on fp32 workspaces (see gla_core.cuh). One chunk of C = 64
// tokens per block; every exponent is a difference G_later - G_earlier of the in-chunk cumulative
// log-gate, so it is <= 0. Intra-chunk scores use 16-row sub-chunks: a query row i against an
// earlier sub-chunk goes through the reference row r = start of i's sub-chunk,
//   q_i exp(G_i - G_j) k_j = (q_i exp(G_i - G_r)) (k_j exp(G_r - G_j)),   j < r <= i,
// which is a matrix product; the diagonal 16x16 blocks are computed element by element.
#include "gla_core.cuh"

namespace liger {
namespace cuda {
namespace {

constexpr int LA = kChunk + 1;  // row stride of the 64x64 score tiles (odd: no bank conflicts)

__device__ __forceinline__ void load_rows(float* dst, int ld, const float* src, int64_t rs, int D,
                                          int len, float mul = 1.f) {
  batched_copy(
      kChunk * D,
      [&](int idx) {
        const int r = idx / D, d = idx - r * D;
        return r < len ? mul * src[(int64_t)r * rs + d] : 0.f;
      },
      [&](int idx, float x) {
        const int r = idx / D, d = idx - r * D;
        dst[r * ld + d] = x;
      });
}

// In-chunk cumulative gates (already cumulated by the state pass); rows past len repeat the last.
__device__ __forceinline__ void load_gate(float* dst, int ld, const float* src, int64_t rs, int D,
                                          int len) {
  batched_copy(
      kChunk * D,
      [&](int idx) {
        const int r = idx / D, d = idx - r * D;
        return src[(int64_t)(r < len ? r : len - 1) * rs + d];
      },
      [&](int idx, float x) {
        const int r = idx / D, d = idx - r * D;
        dst[r * ld + d] = x;
      });
}

// A[i][j] = sum_d Q[i][d] K[j][d] exp(G[i][d] - G[j][d]) for j <= i < len, else 0.
// Leaves Qs[i][d] = Q[i][d] exp(G[i][d] - G[r(i)][d]) (r(i) = start of i's sub-chunk).
__device__ void gated_scores(float* A, const float* Q, float* Qs, const float* K, float* Ks,
                             const float* G, int len, int Dk, int LK, bool tc) {
  for (int p = threadIdx.x; p < kChunk * kChunk; p += blockDim.x) {
    const int i = p >> 6, j = p & 63;
    if ((j >> 4) > (i >> 4) || i >= len) A[i * LA + j] = 0.f;
  }
  for (int p = threadIdx.x; p < 4 * kSub * kSub; p += blockDim.x) {
    const int a = p >> 8, i = a * kSub + ((p >> 4) & 15), j = a * kSub + (p & 15);
    float s = 0.f;
    if (j <= i && i < len) {
      const float* qi = Q + i * LK;
      const float* kj = K + j * LK;
      const float* gi = G + i * LK;
      const float* gj = G + j * LK;
      for (int d = 0; d < Dk; ++d) s += qi[d] * kj[d] * __expf(gi[d] - gj[d]);
    }
    A[i * LA + j] = s;
  }
  for (int idx = threadIdx.x; idx < kChunk * Dk; idx += blockDim.x) {
    const int i = idx / Dk, d = idx - i * Dk;
    Qs[i * LK + d] = Q[i * LK + d] * __expf(G[i * LK + d] - G[(i & ~15) * LK + d]);
  }
  __syncthreads();
  for (int a = 1; a < 4 && a * kSub < len; ++a) {
    const int r = a * kSub;
    for (int idx = threadIdx.x; idx < r * Dk; idx += blockDim.x) {
      const int j = idx / Dk, d = idx - j * Dk;
      Ks[j * LK + d] = K[j * LK + d] * __expf(G[r * LK + d] - G[j * LK + d]);
    }
    __syncthreads();
    mm<1, 1, 2>(tc, kSub, r, Dk, Qs + r * LK, LK, 1, Ks, 1, LK, [&](int m, int n, float v) {
      A[(r + m) * LA + n] = (r + m < len) ? v : 0.f;
    });
    __syncthreads();
  }
}

// Phase A: per chunk and KV head, the in-chunk gate cumsum (written back) and the state increment
// sum_s diag(exp(G_last - G_s)) k_s^T v_s into h. CUDA cores: the tf32 version measured slower here
// (0.41 vs 0.25 ms per call at T = 8K; its fragment-ordered stores of the 128 x 128 increment are
// half-coalesced).
__global__ void __launch_bounds__(kThreads) k_chunk_state(Core c) {
  extern __shared__ float sm[];
  const Chunk ch = c.chunks[blockIdx.x];
  const int hh = blockIdx.y, Dk = (int)c.Dk, Dv = (int)c.Dv, LK = Dk + 1, LV = Dv + 1;
  float* K = sm;
  float* V = K + kChunk * LK;
  float* G = V + kChunk * LV;
  const int64_t rk = c.Hkv * Dk, rv = c.Hkv * Dv;
  float* gsrc = c.g + (int64_t)ch.start * rk + hh * Dk;
  for (int d = threadIdx.x; d < Dk; d += blockDim.x) {
    float run = 0.f;
    for (int t = 0; t < ch.len; ++t) {
      run += gsrc[(int64_t)t * rk + d];
      gsrc[(int64_t)t * rk + d] = run;
      G[t * LK + d] = run;
    }
    for (int t = ch.len; t < kChunk; ++t) G[t * LK + d] = run;
    c.gl[((int64_t)blockIdx.x * c.Hkv + hh) * Dk + d] = run;
  }
  load_rows(K, LK, c.k + (int64_t)ch.start * rk + hh * Dk, rk, Dk, ch.len);
  load_rows(V, LV, c.v + (int64_t)ch.start * rv + hh * Dv, rv, Dv, ch.len);
  __syncthreads();
  for (int idx = threadIdx.x; idx < kChunk * Dk; idx += blockDim.x) {
    const int t = idx / Dk, d = idx - t * Dk;
    K[t * LK + d] *= __expf(G[(kChunk - 1) * LK + d] - G[t * LK + d]);
  }
  __syncthreads();
  float* H = c.h + ((int64_t)blockIdx.x * c.Hkv + hh) * Dk * Dv;
  block_mm(Dk, Dv, kChunk, K, 1, LK, V, LV, 1, [&](int m, int n, float v) { H[m * Dv + n] = v; });
}

constexpr int kScanBatch = 16;

// Phase B: per sequence and KV head, turns the increments into each chunk's incoming state.
__global__ void k_state_scan(Core c) {
  const int n = blockIdx.x, hh = blockIdx.y;
  const int64_t DD = c.Dk * c.Dv;
  const int64_t e = (int64_t)blockIdx.z * blockDim.x + threadIdx.x;
  if (e >= DD) return;
  const int d = (int)(e / c.Dv);
  const SeqInfo s = c.seqs[n];
  float h = c.h0 ? c.h0[((int64_t)n * c.Hkv + hh) * DD + e] : 0.f;
  for (int i0 = 0; i0 < s.num_chunks; i0 += kScanBatch) {
    float inc[kScanBatch], dec[kScanBatch];
#pragma unroll
    for (int u = 0; u < kScanBatch; ++u) {
      if (i0 + u < s.num_chunks) {
        const int64_t ci = s.first_chunk + i0 + u;
        inc[u] = c.h[(ci * c.Hkv + hh) * DD + e];
        dec[u] = __expf(c.gl[(ci * c.Hkv + hh) * c.Dk + d]);
      }
    }
#pragma unroll
    for (int u = 0; u < kScanBatch; ++u) {
      if (i0 + u < s.num_chunks) {
        const int64_t ci = s.first_chunk + i0 + u;
        c.h[(ci * c.Hkv + hh) * DD + e] = h;
        h = h * dec[u] + inc[u];
      }
    }
  }
  if (c.ht) c.ht[((int64_t)n * c.Hkv + hh) * DD + e] = h;
}

// Phase C: per chunk and query head, o = (q exp(G)) h_chunk + tril(A) v.
__global__ void __launch_bounds__(kThreads) k_chunk_output(Core c) {
  extern __shared__ float sm[];
  const Chunk ch = c.chunks[blockIdx.x];
  const int h = blockIdx.y, hh = (int)(h / (c.Hq / c.Hkv));
  const int Dk = (int)c.Dk, Dv = (int)c.Dv, LK = tile_stride(Dk, c.tc), LV = tile_stride(Dv, c.tc), len = ch.len;
  float* Q = sm;
  float* Qs = Q + kChunk * LK;
  float* K = Qs + kChunk * LK;
  float* G = K + kChunk * LK;
  float* Ks = G + kChunk * LK;
  float* V = Ks + 3 * kSub * LK;
  float* A = V + kChunk * LV;
  const int64_t rq = c.Hq * Dk, rk = c.Hkv * Dk, rv = c.Hkv * Dv, ro = c.Hq * Dv;
  load_rows(Q, LK, c.q + (int64_t)ch.start * rq + (int64_t)h * Dk, rq, Dk, len);
  load_rows(K, LK, c.k + (int64_t)ch.start * rk + hh * Dk, rk, Dk, len);
  load_rows(V, LV, c.v + (int64_t)ch.start * rv + hh * Dv, rv, Dv, len);
  load_gate(G, LK, c.g + (int64_t)ch.start * rk + hh * Dk, rk, Dk, len);
  __syncthreads();
  gated_scores(A, Q, Qs, K, Ks, G, len, Dk, LK, c.tc);
  for (int idx = threadIdx.x; idx < kChunk * Dk; idx += blockDim.x) {
    const int i = idx / Dk, d = idx - i * Dk;
    Qs[i * LK + d] = i < len ? Q[i * LK + d] * __expf(G[i * LK + d]) : 0.f;
  }
  __syncthreads();
  const float* Hc = c.h + ((int64_t)blockIdx.x * c.Hkv + hh) * Dk * Dv;
  float* O = c.o + (int64_t)ch.start * ro + (int64_t)h * Dv;
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  if (c.tc) {
    // Both products into one accumulator: a single store of o, no read-modify-write.
    block_mm_tc2<4>(kChunk, Dv, MmOperands{Dk, Qs, LK, 1, Hc, Dv, 1}, MmOperands{kChunk, A, LA, 1, V, LV, 1},
                    [&](int m, int n, float v) {
                      if (m < len) O[(int64_t)m * ro + n] = v;
                    });
    return;
  }
#endif
  block_mm(kChunk, Dv, Dk, Qs, LK, 1, Hc, Dv, 1, [&](int m, int n, float v) {
    if (m < len) O[(int64_t)m * ro + n] = v;
  });
  __syncthreads();
  block_mm(kChunk, Dv, kChunk, A, LA, 1, V, LV, 1, [&](int m, int n, float v) {
    if (m < len) O[(int64_t)m * ro + n] += v;
  });
}

// Backward phase A': per chunk and KV head, sum over the group's heads of (q exp(G))^T do.
__global__ void __launch_bounds__(kThreads) k_chunk_dstate(Core c) {
  extern __shared__ float sm[];
  const Chunk ch = c.chunks[blockIdx.x];
  const int hh = blockIdx.y, grp = (int)(c.Hq / c.Hkv);
  const int Dk = (int)c.Dk, Dv = (int)c.Dv, LK = tile_stride(Dk, c.tc), LV = tile_stride(Dv, c.tc), len = ch.len;
  float* G = sm;
  float* Qx = G + kChunk * LK;
  float* dO = Qx + kChunk * LK;
  float* acc = dO + kChunk * LV;
  const int64_t rq = c.Hq * Dk, rk = c.Hkv * Dk, ro = c.Hq * Dv;
  load_gate(G, LK, c.g + (int64_t)ch.start * rk + hh * Dk, rk, Dk, len);
  for (int e = threadIdx.x; e < Dk * Dv; e += blockDim.x) acc[e] = 0.f;
  __syncthreads();
  for (int j = 0; j < grp; ++j) {
    const int h = hh * grp + j;
    const float* q = c.q + (int64_t)ch.start * rq + (int64_t)h * Dk;
    for (int idx = threadIdx.x; idx < kChunk * Dk; idx += blockDim.x) {
      const int i = idx / Dk, d = idx - i * Dk;
      Qx[i * LK + d] = i < len ? q[(int64_t)i * rq + d] * __expf(G[i * LK + d]) : 0.f;
    }
    load_rows(dO, LV, c.dO + (int64_t)ch.start * ro + (int64_t)h * Dv, ro, Dv, len);
    __syncthreads();
    mm(c.tc, Dk, Dv, kChunk, Qx, 1, LK, dO, LV, 1, [&](int m, int n, float v) { acc[m * Dv + n] += v; });
    __syncthreads();
  }
  float* DH = c.dh + ((int64_t)blockIdx.x * c.Hkv + hh) * Dk * Dv;
  for (int e = threadIdx.x; e < Dk * Dv; e += blockDim.x) DH[e] = acc[e];
}

// Backward phase B': reverse scan; dh[chunk] becomes the gradient w.r.t. the state after the chunk.
__global__ void k_dstate_scan(Core c) {
  const int n = blockIdx.x, hh = blockIdx.y;
  const int64_t DD = c.Dk * c.Dv;
  const int64_t e = (int64_t)blockIdx.z * blockDim.x + threadIdx.x;
  if (e >= DD) return;
  const int d = (int)(e / c.Dv);
  const SeqInfo s = c.seqs[n];
  float g = c.dht ? c.dht[((int64_t)n * c.Hkv + hh) * DD + e] : 0.f;
  for (int i0 = s.num_chunks - 1; i0 >= 0; i0 -= kScanBatch) {
    float inc[kScanBatch], dec[kScanBatch];
#pragma unroll
    for (int u = 0; u < kScanBatch; ++u) {
      if (i0 - u >= 0) {
        const int64_t ci = s.first_chunk + i0 - u;
        inc[u] = c.dh[(ci * c.Hkv + hh) * DD + e];
        dec[u] = __expf(c.gl[(ci * c.Hkv + hh) * c.Dk + d]);
      }
    }
#pragma unroll
    for (int u = 0; u < kScanBatch; ++u) {
      if (i0 - u >= 0) {
        const int64_t ci = s.first_chunk + i0 - u;
        c.dh[(ci * c.Hkv + hh) * DD + e] = g;
        g = g * dec[u] + inc[u];
      }
    }
  }
  if (c.dh0) c.dh0[((int64_t)n * c.Hkv + hh) * DD + e] = g;
}

// Backward: dq per chunk and query head.
//   dq_i = exp(G_i) (do_i h^T) + sum_{s <= i} (do_i . v_s) k_s exp(G_i - G_s)
__global__ void __launch_bounds__(kThreads) k_chunk_dq(Core c) {
  extern __shared__ float sm[];
  const Chunk ch = c.chunks[blockIdx.x];
  const int h = blockIdx.y, hh = (int)(h / (c.Hq / c.Hkv));
  const int Dk = (int)c.Dk, Dv = (int)c.Dv, LK = tile_stride(Dk, c.tc), LV = tile_stride(Dv, c.tc), len = ch.len;
  float* dO = sm;
  float* V = dO + kChunk * LV;
  float* K = V + kChunk * LV;
  float* G = K + kChunk * LK;
  float* Ks = G + kChunk * LK;
  float* Bm = Ks + 3 * kSub * LK;
  const int64_t rq = c.Hq * Dk, rk = c.Hkv * Dk, rv = c.Hkv * Dv, ro = c.Hq * Dv;
  load_rows(dO, LV, c.dO + (int64_t)ch.start * ro + (int64_t)h * Dv, ro, Dv, len);
  load_rows(V, LV, c.v + (int64_t)ch.start * rv + hh * Dv, rv, Dv, len);
  load_rows(K, LK, c.k + (int64_t)ch.start * rk + hh * Dk, rk, Dk, len);
  load_gate(G, LK, c.g + (int64_t)ch.start * rk + hh * Dk, rk, Dk, len);
  __syncthreads();
  mm<4, 4, 2>(c.tc, kChunk, kChunk, Dv, dO, LV, 1, V, 1, LV, [&](int m, int n, float v) {
    Bm[m * LA + n] = (n <= m && m < len) ? v : 0.f;
  });
  const float* Hc = c.h + ((int64_t)blockIdx.x * c.Hkv + hh) * Dk * Dv;
  float* DQ = c.dq + (int64_t)ch.start * rq + (int64_t)h * Dk;
  // (do h^T)^T = h do^T: the state is the A operand, read along its rows.
  mm(c.tc, Dk, kChunk, Dv, Hc, Dv, 1, dO, 1, LV, [&](int m, int n, float v) {
    if (n < len) DQ[(int64_t)n * rq + m] = v * __expf(G[n * LK + m]);
  });
  __syncthreads();
  for (int idx = threadIdx.x; idx < kChunk * Dk; idx += blockDim.x) {
    const int i = idx / Dk, d = idx - i * Dk;
    if (i >= len) continue;
    const float gi = G[i * LK + d];
    float acc = 0.f;
    for (int s = i & ~15; s <= i; ++s) acc += Bm[i * LA + s] * K[s * LK + d] * __expf(gi - G[s * LK + d]);
    DQ[(int64_t)i * rq + d] += acc;
  }
  __syncthreads();
  for (int a = 1; a < 4 && a * kSub < len; ++a) {
    const int r = a * kSub;
    for (int idx = threadIdx.x; idx < r * Dk; idx += blockDim.x) {
      const int j = idx / Dk, d = idx - j * Dk;
      Ks[j * LK + d] = K[j * LK + d] * __expf(G[r * LK + d] - G[j * LK + d]);
    }
    __syncthreads();
    mm<2, 2, 2>(c.tc, kSub, Dk, r, Bm + r * LA, LA, 1, Ks, LK, 1, [&](int m, int n, float v) {
      if (r + m < len) DQ[(int64_t)(r + m) * rq + n] += v * __expf(G[(r + m) * LK + n] - G[r * LK + n]);
    });
    __syncthreads();
  }
}

// Backward: dk and dv per chunk and KV head, summed over the group's query heads (accumulated
// into c.dk and c.dv, which the caller has zeroed or pre-filled).
__global__ void __launch_bounds__(kThreads) k_chunk_dkv(Core c) {
  extern __shared__ float sm[];
  const Chunk ch = c.chunks[blockIdx.x];
  const int hh = blockIdx.y, grp = (int)(c.Hq / c.Hkv);
  const int Dk = (int)c.Dk, Dv = (int)c.Dv, LK = tile_stride(Dk, c.tc), LV = tile_stride(Dv, c.tc), len = ch.len;
  float* Q = sm;
  float* Qs = Q + kChunk * LK;
  float* K = Qs + kChunk * LK;
  float* G = K + kChunk * LK;
  float* Ks = G + kChunk * LK;
  float* dO = Ks + 3 * kSub * LK;
  float* A = dO + kChunk * LV;
  float* Bm = A + kChunk * LA;
  const int64_t rq = c.Hq * Dk, rk = c.Hkv * Dk, rv = c.Hkv * Dv, ro = c.Hq * Dv;
  const float* Vg = c.v + (int64_t)ch.start * rv + hh * Dv;  // spare rows at the end: a full tile is readable
  float* DK = c.dk + (int64_t)ch.start * rk + hh * Dk;
  float* DV = c.dv + (int64_t)ch.start * rv + hh * Dv;
  load_rows(K, LK, c.k + (int64_t)ch.start * rk + hh * Dk, rk, Dk, len);
  load_gate(G, LK, c.g + (int64_t)ch.start * rk + hh * Dk, rk, Dk, len);
  for (int j = 0; j < grp; ++j) {
    const int h = hh * grp + j;
    __syncthreads();
    load_rows(Q, LK, c.q + (int64_t)ch.start * rq + (int64_t)h * Dk, rq, Dk, len);
    load_rows(dO, LV, c.dO + (int64_t)ch.start * ro + (int64_t)h * Dv, ro, Dv, len);
    __syncthreads();
    mm<4, 4, 2>(c.tc, kChunk, kChunk, Dv, Vg, (int)rv, 1, dO, 1, LV, [&](int m, int n, float v) {
      Bm[n * LA + m] = (m <= n && n < len) ? v : 0.f;  // m = key row s, n = query row i
    });
    gated_scores(A, Q, Qs, K, Ks, G, len, Dk, LK, c.tc);
    __syncthreads();
    mm(c.tc, kChunk, Dv, kChunk, A, 1, LA, dO, LV, 1, [&](int m, int n, float v) {
      if (m < len) DV[(int64_t)m * rv + n] += v;
    });
    __syncthreads();
    for (int idx = threadIdx.x; idx < kChunk * Dk; idx += blockDim.x) {
      const int s = idx / Dk, d = idx - s * Dk;
      if (s >= len) continue;
      const int e = min((s & ~15) + kSub, len);
      const float gs = G[s * LK + d];
      float acc = 0.f;
      for (int i = s; i < e; ++i) acc += Bm[i * LA + s] * Q[i * LK + d] * __expf(G[i * LK + d] - gs);
      DK[(int64_t)s * rk + d] += acc;
    }
    __syncthreads();
    for (int a = 1; a < 4 && a * kSub < len; ++a) {
      const int r = a * kSub;
      mm(c.tc, r, Dk, kSub, Bm + r * LA, 1, LA, Qs + r * LK, LK, 1, [&](int m, int n, float v) {
        DK[(int64_t)m * rk + n] += v * __expf(G[r * LK + n] - G[m * LK + n]);
      });
      __syncthreads();
    }
  }
  __syncthreads();
  for (int idx = threadIdx.x; idx < kChunk * Dk; idx += blockDim.x) {
    const int s = idx / Dk, d = idx - s * Dk;
    Qs[s * LK + d] = s < len ? K[s * LK + d] * __expf(G[(kChunk - 1) * LK + d] - G[s * LK + d]) : 0.f;
  }
  __syncthreads();
  const float* DHc = c.dh + ((int64_t)blockIdx.x * c.Hkv + hh) * Dk * Dv;
  mm(c.tc, kChunk, Dv, Dk, Qs, LK, 1, DHc, Dv, 1, [&](int m, int n, float v) {
    if (m < len) DV[(int64_t)m * rv + n] += v;
  });
  __syncthreads();
  // dk_s += exp(G_last - G_s) (v_s dh^T): computed as dh v^T with v staged in the free dO tile.
  load_rows(dO, LV, c.v + (int64_t)ch.start * rv + hh * Dv, rv, Dv, len);
  __syncthreads();
  mm(c.tc, Dk, kChunk, Dv, DHc, Dv, 1, dO, 1, LV, [&](int m, int n, float v) {
    if (n < len) DK[(int64_t)n * rk + m] += v * __expf(G[(kChunk - 1) * LK + m] - G[n * LK + m]);
  });
}

// dg: r_t = sum_h q_t dq_t - k_t dk_t, reverse-cumulated inside the chunk (R) with chunk totals (RT).
__global__ void k_chunk_dg(Core c) {
  const Chunk ch = c.chunks[blockIdx.x];
  const int hh = blockIdx.y, grp = (int)(c.Hq / c.Hkv), Dk = (int)c.Dk;
  const int64_t rq = c.Hq * Dk, rk = c.Hkv * Dk;
  for (int d = threadIdx.x; d < Dk; d += blockDim.x) {
    float run = 0.f;
    for (int t = ch.len - 1; t >= 0; --t) {
      const int64_t tok = ch.start + t;
      float r = -c.k[tok * rk + hh * Dk + d] * c.dk[tok * rk + hh * Dk + d];
      for (int j = 0; j < grp; ++j) {
        const int64_t o = tok * rq + (int64_t)(hh * grp + j) * Dk + d;
        r += c.q[o] * c.dq[o];
      }
      run += r;
      c.R[tok * rk + hh * Dk + d] = run;
    }
    c.RT[((int64_t)blockIdx.x * c.Hkv + hh) * Dk + d] = run;
  }
}

// Turns chunk totals into the suffix sums of the later chunks, plus sum_j ht dht (the final state's
// dependence on every gate of the sequence).
__global__ void k_dg_scan(Core c) {
  const int n = blockIdx.x, hh = blockIdx.y, Dk = (int)c.Dk;
  const SeqInfo s = c.seqs[n];
  for (int d = threadIdx.x; d < Dk; d += blockDim.x) {
    float acc = 0.f;
    if (c.dht && c.ht) {
      const int64_t b = (((int64_t)n * c.Hkv + hh) * Dk + d) * c.Dv;
      for (int j = 0; j < c.Dv; ++j) acc += c.ht[b + j] * c.dht[b + j];
    }
    for (int i0 = s.num_chunks - 1; i0 >= 0; i0 -= kScanBatch) {
      float tot[kScanBatch];
#pragma unroll
      for (int u = 0; u < kScanBatch; ++u)
        if (i0 - u >= 0) tot[u] = c.RT[((int64_t)(s.first_chunk + i0 - u) * c.Hkv + hh) * Dk + d];
#pragma unroll
      for (int u = 0; u < kScanBatch; ++u)
        if (i0 - u >= 0) {
          c.RT[((int64_t)(s.first_chunk + i0 - u) * c.Hkv + hh) * Dk + d] = acc;
          acc += tot[u];
        }
    }
  }
}

size_t rows_bytes(int rows, int ld) { return (size_t)rows * ld * sizeof(float); }

}  // namespace

liger_status core_forward(const Core& c, bool with_output) {
  const int LK = tile_stride((int)c.Dk, c.tc), LV = tile_stride((int)c.Dv, c.tc);
  if (c.nchunks > 0) {
    const size_t smA = rows_bytes(2 * kChunk, (int)c.Dk + 1) + rows_bytes(kChunk, (int)c.Dv + 1);
    LIGER_TRY(set_smem((const void*)k_chunk_state, smA, "chunk_state"));
    k_chunk_state<<<dim3(c.nchunks, (unsigned)c.Hkv), kThreads, smA, c.stream>>>(c);
    LIGER_CK_LAUNCH("chunk_state");
  }
  LIGER_TRY(core_scan(c));
  if (with_output && c.nchunks > 0) {
    const size_t smC = rows_bytes(4 * kChunk + 3 * kSub, LK) + rows_bytes(kChunk, LV) + rows_bytes(kChunk, LA);
    LIGER_TRY(set_smem((const void*)k_chunk_output, smC, "chunk_output"));
    k_chunk_output<<<dim3(c.nchunks, (unsigned)c.Hq), kThreads, smC, c.stream>>>(c);
    LIGER_CK_LAUNCH("chunk_output");
  }
  return LIGER_OK;
}

liger_status core_scan(const Core& c) {
  const int64_t DD = c.Dk * c.Dv;
  if (c.nseq > 0) {
    k_state_scan<<<dim3(c.nseq, (unsigned)c.Hkv, (unsigned)((DD + 255) / 256)), 256, 0, c.stream>>>(c);
    LIGER_CK_LAUNCH("state_scan");
  }
  return LIGER_OK;
}

liger_status core_backward(const Core& c) {
  const int LK = tile_stride((int)c.Dk, c.tc), LV = tile_stride((int)c.Dv, c.tc);
  const int64_t DD = c.Dk * c.Dv;
  if (c.nchunks > 0) {
    const size_t sm = rows_bytes(2 * kChunk, LK) + rows_bytes(kChunk, LV) + DD * sizeof(float);
    LIGER_TRY(set_smem((const void*)k_chunk_dstate, sm, "chunk_dstate"));
    k_chunk_dstate<<<dim3(c.nchunks, (unsigned)c.Hkv), kThreads, sm, c.stream>>>(c);
    LIGER_CK_LAUNCH("chunk_dstate");
  }
  if (c.nseq > 0) {
    k_dstate_scan<<<dim3(c.nseq, (unsigned)c.Hkv, (unsigned)((DD + 255) / 256)), 256, 0, c.stream>>>(c);
    LIGER_CK_LAUNCH("dstate_scan");
  }
  if (c.nchunks > 0) {
    const size_t smq = rows_bytes(2 * kChunk, LV) + rows_bytes(2 * kChunk + 3 * kSub, LK) + rows_bytes(kChunk, LA);
    LIGER_TRY(set_smem((const void*)k_chunk_dq, smq, "chunk_dq"));
    k_chunk_dq<<<dim3(c.nchunks, (unsigned)c.Hq), kThreads, smq, c.stream>>>(c);
    LIGER_CK_LAUNCH("chunk_dq");
    const size_t smk = rows_bytes(4 * kChunk + 3 * kSub, LK) + rows_bytes(kChunk, LV) + rows_bytes(2 * kChunk, LA);
    LIGER_TRY(set_smem((const void*)k_chunk_dkv, smk, "chunk_dkv"));
    k_chunk_dkv<<<dim3(c.nchunks, (unsigned)c.Hkv), kThreads, smk, c.stream>>>(c);
    LIGER_CK_LAUNCH("chunk_dkv");
    k_chunk_dg<<<dim3(c.nchunks, (unsigned)c.Hkv), 128, 0, c.stream>>>(c);
    LIGER_CK_LAUNCH("chunk_dg");
  }
  if (c.nseq > 0) {
    k_dg_scan<<<dim3(c.nseq, (unsigned)c.Hkv), 128, 0, c.stream>>>(c);
    LIGER_CK_LAUNCH("dg_scan");
  }
  return LIGER_OK;
}

}  // namespace cuda
}  // namespace liger
