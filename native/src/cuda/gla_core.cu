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

// Phase A' for bf16 inputs (Dk = Dv = 64 or 128): the same sum on bf16 tiles with bf16 mma.sync and
// fp32 accumulators in registers across the group's heads (no shared accumulator, no read-modify-
// write per head). A warp owns 16 rows of dh (and half the columns when D = 64). Each head's q and dO
// rows come by cp.async into one of two stages, head j + 1's in flight while head j's tiles are built and
// its products run; a thread scales the q pieces it copied by exp(G) in place (exp(G) once per block,
// fp32 in shared memory). Run 25b's version held exp(G) and the next head's rows in registers: 244
// registers at D = 128, one block of 8 warps per SM; this one fits two. With c.dhb (k_fdstate_scan follows) the
// increments go out as bf16 (run 41b: its fp32 stores were 16% of the stall samples), else as fp32 for
// k_dstate_scan.
template <int D>
__global__ void __launch_bounds__(256, 2) k_fdstate(Core c) {
  constexpr int LDB = D + 8, RB = D / 16, SPLIT = 8 / RB, NTW = D / SPLIT / 8;
  constexpr int kPc = kChunk * D / 8 / 256;  // 16-byte pieces per thread and tile
  extern __shared__ __align__(16) unsigned char smraw[];
  __nv_bfloat16* Qx = reinterpret_cast<__nv_bfloat16*>(smraw);  // [2][64][LDB]: q, then q exp(G), rows t
  __nv_bfloat16* dOs = Qx + 2 * kChunk * LDB;                   // [2][64][LDB]
  float* Eg = reinterpret_cast<float*>(dOs + 2 * kChunk * LDB); // [64][D]: exp(G), zero past len
  const Chunk ch = c.chunks[blockIdx.x];
  const int hh = blockIdx.y, grp = (int)(c.Hq / c.Hkv), len = ch.len;
  const int warp = warp_id_uniform(), lane = threadIdx.x & 31, g = lane >> 2, tq = lane & 3;
  const int m0 = (warp % RB) * 16, nb = (warp / RB) * (D / SPLIT);
  const int64_t rq = c.Hq * D, rk = c.Hkv * D;
  const float* G = c.g + (int64_t)ch.start * rk + hh * D;
  float acc[NTW][4];
#pragma unroll
  for (int j = 0; j < NTW; ++j) acc[j][0] = acc[j][1] = acc[j][2] = acc[j][3] = 0.f;
  auto issue_head = [&](int j) {  // head j's rows into stage j & 1; zero rows past len
    const int64_t h = (int64_t)hh * grp + j;
    const __nv_bfloat16* q = c.qb + (int64_t)ch.start * rq + h * D;
    const __nv_bfloat16* dO = c.dOb + (int64_t)ch.start * rq + h * D;
    __nv_bfloat16* qs = Qx + (j & 1) * kChunk * LDB;
    __nv_bfloat16* os = dOs + (j & 1) * kChunk * LDB;
#pragma unroll
    for (int it = 0; it < kPc; ++it) {
      const int idx = 8 * (threadIdx.x + it * 256), t = idx / D, d = idx - t * D;
      if (t < len) {
        cp_async16(qs + t * LDB + d, q + (int64_t)t * rq + d);
        cp_async16(os + t * LDB + d, dO + (int64_t)t * rq + d);
      } else {
        *reinterpret_cast<uint4*>(qs + t * LDB + d) = make_uint4(0u, 0u, 0u, 0u);
        *reinterpret_cast<uint4*>(os + t * LDB + d) = make_uint4(0u, 0u, 0u, 0u);
      }
    }
    cp_async_commit();
  };
  issue_head(0);
  // exp(G) of the chunk's rows, once for every head of the group; each thread computes the entries of the
  // pieces it copies (it alone reads them)
#pragma unroll
  for (int it = 0; it < kPc; ++it) {
    const int idx = 8 * (threadIdx.x + it * 256), t = idx / D, d = idx - t * D;
    const bool ok = t < len;
    const float4 x0 = *reinterpret_cast<const float4*>(G + (int64_t)(ok ? t : 0) * rk + d);
    const float4 x1 = *reinterpret_cast<const float4*>(G + (int64_t)(ok ? t : 0) * rk + d + 4);
    *reinterpret_cast<float4*>(Eg + idx) =
        ok ? make_float4(__expf(x0.x), __expf(x0.y), __expf(x0.z), __expf(x0.w)) : make_float4(0.f, 0.f, 0.f, 0.f);
    *reinterpret_cast<float4*>(Eg + idx + 4) =
        ok ? make_float4(__expf(x1.x), __expf(x1.y), __expf(x1.z), __expf(x1.w)) : make_float4(0.f, 0.f, 0.f, 0.f);
  }
  for (int j = 0; j < grp; ++j) {
    __nv_bfloat16* qs = Qx + (j & 1) * kChunk * LDB;
    __nv_bfloat16* os = dOs + (j & 1) * kChunk * LDB;
    // head j + 1's copies go out before the wait for head j's, so two heads are in flight (run 30s-2: 2.5%
    // faster than issuing them after head j's tiles are built)
    __syncthreads();  // head j - 1's products are done with the other stage
    if (j + 1 < grp)
      issue_head(j + 1);
    else
      cp_async_commit();  // an empty group, so that the wait below counts alike
    cp_async_wait<1>();  // this thread's pieces of head j
#pragma unroll
    for (int it = 0; it < kPc; ++it) {
      const int idx = 8 * (threadIdx.x + it * 256), t = idx / D, d = idx - t * D;
      uint4 x = *reinterpret_cast<const uint4*>(qs + t * LDB + d);
      const float4 e0 = *reinterpret_cast<const float4*>(Eg + idx), e1 = *reinterpret_cast<const float4*>(Eg + idx + 4);
      const float2 a0 = unpack_bf16(x.x), a1 = unpack_bf16(x.y), a2 = unpack_bf16(x.z), a3 = unpack_bf16(x.w);
      x = make_uint4(pack_bf16(a0.x * e0.x, a0.y * e0.y), pack_bf16(a1.x * e0.z, a1.y * e0.w),
                     pack_bf16(a2.x * e1.x, a2.y * e1.y), pack_bf16(a3.x * e1.z, a3.y * e1.w));
      *reinterpret_cast<uint4*>(qs + t * LDB + d) = x;
    }
    __syncthreads();  // head j's tiles complete
#pragma unroll
    for (int k0 = 0; k0 < kChunk; k0 += 16) {
      uint32_t af[4];
      ld_a_km(af, qs, LDB, m0, k0);
#pragma unroll
      for (int np = 0; np < NTW / 2; ++np) {
        uint32_t bf[4];
        ld_b_kn(bf, os, LDB, nb + np * 16, k0);
        mma_bf16(acc[2 * np], af, bf[0], bf[1]);
        mma_bf16(acc[2 * np + 1], af, bf[2], bf[3]);
      }
    }
  }
  const int64_t o = ((int64_t)blockIdx.x * c.Hkv + hh) * D * D;
  if (c.dhb) {  // k_fdstate_scan follows: the increments as bf16 pairs in dh's first half (half the bytes and stores)
    __nv_bfloat16* DH = reinterpret_cast<__nv_bfloat16*>(c.dh) + o;
#pragma unroll
    for (int j = 0; j < NTW; ++j) {
      const int n = nb + j * 8 + 2 * tq;
      *reinterpret_cast<__nv_bfloat162*>(DH + (m0 + g) * D + n) = __floats2bfloat162_rn(acc[j][0], acc[j][1]);
      *reinterpret_cast<__nv_bfloat162*>(DH + (m0 + g + 8) * D + n) = __floats2bfloat162_rn(acc[j][2], acc[j][3]);
    }
  } else {  // k_dstate_scan follows: fp32
    float* DH = c.dh + o;
#pragma unroll
    for (int j = 0; j < NTW; ++j) {
      const int n = nb + j * 8 + 2 * tq;
      *reinterpret_cast<float2*>(DH + (m0 + g) * D + n) = make_float2(acc[j][0], acc[j][1]);
      *reinterpret_cast<float2*>(DH + (m0 + g + 8) * D + n) = make_float2(acc[j][2], acc[j][3]);
    }
  }
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

// The fast path's reverse scan: the gradient w.r.t. each chunk's entering state, from k_fdstate's bf16
// increments (one more rounding per chunk, as the forward's increments), summed in fp32 and written as bf16 into
// c.dhb (k_fdkv rounds it to bf16 tiles anyway: the same values from half the bytes), by scan_chunk_pairs
// from the last chunk back (4-byte loads and stores, kScanBatch chunks per batch with the next batch in flight).
// Grid (sequences, Hkv, D * D / 512).
template <int D>
__global__ void __launch_bounds__(256, 2) k_fdstate_scan(Core c) {
  constexpr int64_t DD = (int64_t)D * D;
  const int n = blockIdx.x, hh = blockIdx.y;
  const int e = 2 * (blockIdx.z * blockDim.x + threadIdx.x);
  if (e >= DD) return;
  const int64_t base = ((int64_t)n * c.Hkv + hh) * DD;
  const SeqInfo q = c.seqs[n];
  float s0 = c.dht ? c.dht[base + e] : 0.f, s1 = c.dht ? c.dht[base + e + 1] : 0.f;
  const int64_t cs = c.Hkv * DD, gs = c.Hkv * D;  // from one chunk's state (gate row) to the next's
  const int64_t last = (int64_t)q.first_chunk + q.num_chunks - 1;
  // k_fdstate's bf16 increments (dh's first half): chunk last - i at ip - i cs
  const __nv_bfloat16* ip = reinterpret_cast<const __nv_bfloat16*>(c.dh) + (last * c.Hkv + hh) * DD + e;
  __nv_bfloat16* op = c.dhb + (last * c.Hkv + hh) * DD + e;
  const float* gp = c.gl + (last * c.Hkv + hh) * D + e / D;
  scan_chunk_pairs<kScanBatch>(ip, gp, op, -cs, -gs, q.num_chunks, s0, s1);
  if (c.dh0) {
    c.dh0[base + e] = s0;
    c.dh0[base + e + 1] = s1;
  }
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

// A bf16 D x D state (entering state or state gradient) into a [D][D + 8] tile, by 256 threads, 16 bytes
// per load, every load issued before the first store.
template <int D>
__device__ __forceinline__ void stage_state(const __nv_bfloat16* src, __nv_bfloat16* dst) {
  constexpr int NH8 = D * D / 2048;
  uint4 hr[NH8];
#pragma unroll
  for (int it = 0; it < NH8; ++it) hr[it] = *reinterpret_cast<const uint4*>(src + 8 * threadIdx.x + 2048 * it);
#pragma unroll
  for (int it = 0; it < NH8; ++it) {
    const int idx = 8 * threadIdx.x + 2048 * it, m = idx / D, n = idx - m * D;
    *reinterpret_cast<uint4*>(dst + m * (D + 8) + n) = hr[it];
  }
}

// Staging of k_fdq and k_fdkv: the chunk's k and v rows as bf16 tiles Kf, Vs and its cumulative gates
// in log2 units as G2. Every thread's loads are issued before the first use (rows past len read row
// len - 1, then zeroed: no branch between the loads), 4 columns per load, NI rows per thread; v from its
// bf16 copy Vb when there is one, else (general build only) from the fp32 Vg.
template <int D, bool FAST>
__device__ __forceinline__ void stage_kvg(const float* Kg, const __nv_bfloat16* Vb, const float* Vg, const float* Gg,
                                          int64_t rk, int len, bool hasvb, __nv_bfloat16* Kf, __nv_bfloat16* Vs,
                                          float* G2) {
  constexpr int LDB = D + 8, LG = D + 4, NI = kChunk * D / 1024;
  constexpr float kL2e = 1.4426950408889634f;
  const float4 z = make_float4(0.f, 0.f, 0.f, 0.f);
  float4 k4[NI], g4[NI];
  uint2 vr[NI];
#pragma unroll
  for (int it = 0; it < NI; ++it) {
    const int idx = 4 * threadIdx.x + 1024 * it, t = idx / D, d = idx - t * D;
    const int64_t o = (int64_t)(t < len ? t : len - 1) * rk + d;
    k4[it] = *reinterpret_cast<const float4*>(Kg + o);
    vr[it] = hasvb ? *reinterpret_cast<const uint2*>(Vb + o) : make_uint2(0u, 0u);
    g4[it] = *reinterpret_cast<const float4*>(Gg + o);
  }
#pragma unroll
  for (int it = 0; it < NI; ++it) {
    const int idx = 4 * threadIdx.x + 1024 * it, t = idx / D, d = idx - t * D;
    const bool ok = t < len;
    if (!FAST && ok && !hasvb) {
      const float4 v4 = *reinterpret_cast<const float4*>(Vg + (int64_t)t * rk + d);
      vr[it] = make_uint2(pack_bf16(v4.x, v4.y), pack_bf16(v4.z, v4.w));
    }
    const float4 k = ok ? k4[it] : z;
    const float4 gg = g4[it];
    *reinterpret_cast<uint2*>(Kf + t * LDB + d) = make_uint2(pack_bf16(k.x, k.y), pack_bf16(k.z, k.w));
    *reinterpret_cast<uint2*>(Vs + t * LDB + d) = ok ? vr[it] : make_uint2(0u, 0u);
    *reinterpret_cast<float4*>(G2 + t * LG + d) = make_float4(gg.x * kL2e, gg.y * kL2e, gg.z * kL2e, gg.w * kL2e);
  }
}

template <int D>
size_t fdq_smem() {
  constexpr int LDB = D + 8, LG = D + 4;
  return sizeof(float) * ((size_t)kChunk * LG + 4 * D + 8 * 16 * 17) +
         sizeof(__nv_bfloat16) * (size_t)LDB * (kChunk + 96 + kChunk + D + 8 * 16 + kChunk);
}

// Offset of (token tok of the packed axis, head h) in a view (32-bit division: the plan keeps the
// packed length under 2^30).
__device__ __forceinline__ int64_t view_row(const View& v, int64_t tok, int64_t T, int64_t h) {
  const int b = (int)tok / (int)T;
  return (int64_t)b * v.s0 + (tok - (int64_t)b * T) * v.s1 + h * v.s2;
}

// dst[0..3] = src[0..3] exp2(a[k] - b[k]) (with the exponent capped at 126 when CAP) for 4 consecutive
// columns: the fp32 product of the element-by-element form, rounded to nearest bf16 once, from one 8-byte
// and two 16-byte shared loads and one 8-byte store instead of 4 of each.
template <bool CAP>
__device__ __forceinline__ void bf16x4_scale_exp2(__nv_bfloat16* dst, const __nv_bfloat16* src, const float* a,
                                                  const float* b) {
  const uint2 x = *reinterpret_cast<const uint2*>(src);
  const float4 u = *reinterpret_cast<const float4*>(a);
  const float4 w = *reinterpret_cast<const float4*>(b);
  float e[4] = {u.x - w.x, u.y - w.y, u.z - w.z, u.w - w.w};
  if (CAP) {
#pragma unroll
    for (int k = 0; k < 4; ++k) e[k] = fminf(e[k], 126.f);
  }
  const float2 lo = unpack_bf16(x.x), hi = unpack_bf16(x.y);
  *reinterpret_cast<uint2*>(dst) =
      make_uint2(pack_bf16(lo.x * exp2f(e[0]), lo.y * exp2f(e[1])), pack_bf16(hi.x * exp2f(e[2]), hi.y * exp2f(e[3])));
}

// dq for bf16 inputs (Dk = Dv = 64 or 128): one block per (chunk, KV head) serves every query head
// of the group; k, v, the gate and the state are staged once as bf16 tiles. A warp owns 16 query
// rows i of one head (sub-chunk start r):
//   dq_i = exp(G_i - G_r) o [exp(G_r) o (do_i h^T) + sum_{s < r} (do_i . v_s) k_s exp(G_r - G_s)]
//          + sum_{r <= s <= i} (do_i . v_s) k_s exp(G_i - G_s),
// the first line on tensor cores (every exponent <= 0), the diagonal block on tensor cores through Kd
// when the gates allow (see Kd), element by element otherwise.
// QC: the DqChain epilogue (the warp holds whole rows: the softmax backward reduces over the 4 lanes
// of a row, and RoPE pairs d, d + D/2 sit in the same lane); phi(q) o dq of the group's heads is
// summed into qc.rq (zeroed by the caller) with vector reductions in L2 (a shared-memory fp32 sum
// compiles to compare-and-swap loops: run 19b, 2x the kernel's time).
// FAST (fdq_fast_layout on the host; implies QC): bf16 v and entering states, a window gradient, q rows
// read as TI pairs, fp32 RoPE tables read as float2, dq stored as TI pairs; no code for the rest
// (instruction-fetch stalls, as k_fout's FAST). TI: the type of the caller's q and dq (bf16, or fp16).
template <int D, bool QC, bool FAST = false, typename TI = __nv_bfloat16>
__global__ void __launch_bounds__(256, 1) k_fdq(Core c) {
  static_assert(!FAST || QC, "the FAST instantiation is the DqChain one");
  using bf16 = __nv_bfloat16;
  constexpr int LDB = D + 8, LG = D + 4, NT = D / 8;
  extern __shared__ __align__(16) unsigned char smraw[];
  float* G2 = reinterpret_cast<float*>(smraw);  // [64][LG] in-chunk cumulative gate times log2(e)
  float* Er = G2 + kChunk * LG;                 // [4][D] exp(G_r), r = 0, 16, 32, 48
  float* Bw = Er + 4 * D;                       // per warp [16][17] diagonal scores
  bf16* Kf = reinterpret_cast<bf16*>(Bw + 8 * 16 * 17);  // [64][LDB]
  bf16* Ks = Kf + kChunk * LDB;                 // [96][LDB] as in k_fgrm: Ks_16, Ks_32, Ks_48
  bf16* Vs = Ks + 96 * LDB;                     // [64][LDB]
  bf16* Hs = Vs + kChunk * LDB;                 // [D][LDB] h[dk][dv]
  bf16* Ow = Hs + D * LDB;                      // per warp [16][LDB] do rows
  bf16* Kd = Ow + 8 * 16 * LDB;                 // [64][LDB] k_s exp(G_r(s) - G_s), r(s) = s's sub-chunk start
  // The diagonal 16 x 16 blocks go through tensor cores as B Kd (then the row factor exp(G_i - G_r))
  // when every column's gate falls by less than 2^-100 inside a sub-chunk (as k_fgrm); otherwise
  // element by element with exponents <= 0.
  __shared__ int diag_unsafe;
  if (threadIdx.x == 0) diag_unsafe = 0;
  const Chunk ch = c.chunks[blockIdx.x];
  const SeqInfo sq = c.seqs[ch.seq];
  const int hh = blockIdx.y, grp = (int)(c.Hq / c.Hkv), len = ch.len;
  const int warp = warp_id_uniform(), lane = threadIdx.x & 31, g = lane >> 2, tq = lane & 3;
  const int64_t rq = c.Hq * D, rk = c.Hkv * D;
  const float* Kg = c.k + (int64_t)ch.start * rk + hh * D;
  const bool hasvb = FAST || c.vb;
  const float* Vg = hasvb ? nullptr : c.v + (int64_t)ch.start * rk + hh * D;
  const __nv_bfloat16* Vb = hasvb ? c.vb + (int64_t)ch.start * rk + hh * D : nullptr;
  const float* Gg = c.g + (int64_t)ch.start * rk + hh * D;
  const float* Hg = c.h + ((int64_t)blockIdx.x * c.Hkv + hh) * D * D;
  stage_kvg<D, FAST>(Kg, Vb, Vg, Gg, rk, len, hasvb, Kf, Vs, G2);
  if (FAST || c.hb) {  // the scan's bf16 entering states: the same rounding from half the bytes
    stage_state<D>(c.hb + ((int64_t)blockIdx.x * c.Hkv + hh) * D * D, Hs);
  } else {
    for (int idx = 4 * threadIdx.x; idx < D * D; idx += 4 * 256) {
      const float4 h4 = *reinterpret_cast<const float4*>(Hg + idx);
      const int m = idx / D, n = idx - m * D;
      *reinterpret_cast<uint2*>(Hs + m * LDB + n) = make_uint2(pack_bf16(h4.x, h4.y), pack_bf16(h4.z, h4.w));
    }
  }
  __syncthreads();
  for (int idx = 4 * threadIdx.x; idx < 96 * D; idx += 4 * 256) {
    const int row = idx / D, d = idx - row * D;
    const int r = row < 16 ? 16 : (row < 48 ? 32 : 48), j = row < 16 ? row : (row < 48 ? row - 16 : row - 48);
    bf16x4_scale_exp2<false>(Ks + row * LDB + d, Kf + j * LDB + d, G2 + r * LG + d, G2 + j * LG + d);
  }
  for (int idx = threadIdx.x; idx < 4 * D; idx += 256) {
    const int b = idx / D, d = idx - b * D;
    Er[idx] = exp2f(G2[b * 16 * LG + d]);
    if (G2[b * 16 * LG + d] - G2[(b * 16 + 15) * LG + d] > 100.f) diag_unsafe = 1;
  }
  for (int idx = 4 * threadIdx.x; idx < kChunk * D; idx += 4 * 256) {
    const int j = idx / D, d = idx - j * D;  // exponent capped: finite even when unsafe (unused then)
    bf16x4_scale_exp2<true>(Kd + j * LDB + d, Kf + j * LDB + d, G2 + (j & ~15) * LG + d, G2 + j * LG + d);
  }
  __syncthreads();
  const bool diag_tc = !diag_unsafe;
  bf16* Ow_ = Ow + warp * 16 * LDB;
  float* Bd = Bw + warp * 16 * 17;
  // a unit of sub-chunk blk has blk + 1 score blocks and blk earlier sub-chunks: every second pass takes
  // the sub-chunks in reverse (unit ^ 3), so that warps w and w + 4 (one scheduler) share the work evenly
  for (int u = warp; u < grp * 4; u += 8) {
    const int unit = (u >> 3) & 1 ? u ^ 3 : u;
    const int blk = unit & 3, r = blk * 16;
    if (r >= len) continue;
    const int64_t h = (int64_t)hh * grp + (unit >> 2);
    const __nv_bfloat16* dO = c.dOb + (int64_t)(ch.start + r) * rq + h * D;
    {
      constexpr int NO = 16 * D / 128;
      uint2 orw[NO];  // every load issued before the first store (rows past len read row 0, then zeroed)
#pragma unroll
      for (int it = 0; it < NO; ++it) {
        const int idx = 4 * lane + 128 * it, t = idx / D, d = idx - t * D;
        orw[it] = *reinterpret_cast<const uint2*>(dO + (int64_t)(r + t < len ? t : 0) * rq + d);
      }
#pragma unroll
      for (int it = 0; it < NO; ++it) {
        const int idx = 4 * lane + 128 * it, t = idx / D, d = idx - t * D;
        *reinterpret_cast<uint2*>(Ow_ + t * LDB + d) = r + t < len ? orw[it] : make_uint2(0u, 0u);
      }
    }
    __syncwarp();
    // scores do_i . v_s for s in sub-chunks 0..blk, and do h^T
    float sacc[8][4], acc[NT][4];
#pragma unroll
    for (int j = 0; j < 8; ++j) sacc[j][0] = sacc[j][1] = sacc[j][2] = sacc[j][3] = 0.f;
#pragma unroll
    for (int j = 0; j < NT; ++j) acc[j][0] = acc[j][1] = acc[j][2] = acc[j][3] = 0.f;
#pragma unroll
    for (int k0 = 0; k0 < D; k0 += 16) {
      uint32_t af[4];
      ld_a(af, Ow_, LDB, 0, k0);
#pragma unroll
      for (int np = 0; np < 4; ++np) {
        if (np > blk) continue;
        uint32_t bf[4];
        ld_b_nk(bf, Vs, LDB, np * 16, k0);
        mma_bf16(sacc[2 * np], af, bf[0], bf[1]);
        mma_bf16(sacc[2 * np + 1], af, bf[2], bf[3]);
      }
#pragma unroll
      for (int np = 0; np < NT / 2; ++np) {
        uint32_t bf[4];
        ld_b_nk(bf, Hs, LDB, np * 16, k0);
        mma_bf16(acc[2 * np], af, bf[0], bf[1]);
        mma_bf16(acc[2 * np + 1], af, bf[2], bf[3]);
      }
    }
    const float* er = Er + blk * D;
#pragma unroll
    for (int j = 0; j < NT; ++j) {
      const float2 e = *reinterpret_cast<const float2*>(er + j * 8 + 2 * tq);
      acc[j][0] *= e.x; acc[j][1] *= e.y; acc[j][2] *= e.x; acc[j][3] *= e.y;
    }
    // earlier sub-chunks through the reference row r
    const bf16* K = Ks + (blk == 1 ? 0 : (blk == 2 ? 16 : 48)) * LDB;
#pragma unroll
    for (int ks = 0; ks < 3; ++ks) {
      if (ks >= blk) continue;
      uint32_t af[4];
      af[0] = pack_bf16(sacc[2 * ks][0], sacc[2 * ks][1]);
      af[1] = pack_bf16(sacc[2 * ks][2], sacc[2 * ks][3]);
      af[2] = pack_bf16(sacc[2 * ks + 1][0], sacc[2 * ks + 1][1]);
      af[3] = pack_bf16(sacc[2 * ks + 1][2], sacc[2 * ks + 1][3]);
#pragma unroll
      for (int np = 0; np < NT / 2; ++np) {
        uint32_t bf[4];
        ld_b_kn(bf, K, LDB, np * 16, ks * 16);
        mma_bf16(acc[2 * np], af, bf[0], bf[1]);
        mma_bf16(acc[2 * np + 1], af, bf[2], bf[3]);
      }
    }
    // diagonal scores (s <= i): on tensor cores against Kd, or to the warp's tile for the element-wise loop
    {
      float dsc[2][4];
#pragma unroll
      for (int x = 0; x < 2; ++x)
#pragma unroll
        for (int z = 0; z < 4; ++z) {
          const int i = g + (z >> 1) * 8, s = x * 8 + 2 * tq + (z & 1);
          float b = 0.f;
#pragma unroll
          for (int np = 0; np < 4; ++np)
            if (np == blk) b = sacc[2 * np + x][z];  // static register indices
          dsc[x][z] = s <= i ? b : 0.f;
          if (!diag_tc) Bd[i * 17 + s] = dsc[x][z];
        }
      if (diag_tc) {
        uint32_t af[4];
        pack_a_frag(af, dsc);
#pragma unroll
        for (int np = 0; np < NT / 2; ++np) {
          uint32_t bf[4];
          ld_b_kn(bf, Kd, LDB, np * 16, r);
          mma_bf16(acc[2 * np], af, bf[0], bf[1]);
          mma_bf16(acc[2 * np + 1], af, bf[2], bf[3]);
        }
      }
    }
    __syncwarp();
    // QC: the raw q of the warp's two rows, loaded here so that the loads overlap the diagonal block
    uint32_t qraw[2][NT];
    if (QC) {
      const View qv = c.qc.q;  // a copy: references into the parameter space go through local memory
#pragma unroll
      for (int hr = 0; hr < 2; ++hr) {
        const int i = r + g + 8 * hr;
        const bool iv = i < len;
        const TI* row = static_cast<const TI*>(qv.data) + view_row(qv, ch.start + (iv ? i : 0), c.qc.T, h);
        const bool pair = FAST || (qv.s3 == 1 && (reinterpret_cast<uintptr_t>(row) & 3) == 0);
#pragma unroll
        for (int j = 0; j < NT; ++j) {
          const int n = j * 8 + 2 * tq;
          qraw[hr][j] = !iv ? 0u
                        : pair ? *reinterpret_cast<const uint32_t*>(row + n)
                               : pack_pair(row[n * qv.s3], row[(n + 1) * qv.s3]);
        }
      }
    }
#pragma unroll
    for (int hr = 0; hr < 2; ++hr) {
      const int ii = g + 8 * hr, i = r + ii;
      const float* gi = G2 + i * LG;
      const float* gr = G2 + r * LG;
#pragma unroll
      for (int j = 0; j < NT; ++j) {
        const int n = j * 8 + 2 * tq;
        const float2 gv = *reinterpret_cast<const float2*>(gi + n);
        const float2 gv0 = *reinterpret_cast<const float2*>(gr + n);
        acc[j][2 * hr] *= exp2f(gv.x - gv0.x);
        acc[j][2 * hr + 1] *= exp2f(gv.y - gv0.y);
      }
      for (int s = 0; !diag_tc && s <= ii; ++s) {
        const float b = Bd[ii * 17 + s];
        const bf16* ks = Kf + (r + s) * LDB;
        const float* gs = G2 + (r + s) * LG;
#pragma unroll
        for (int j = 0; j < NT; ++j) {
          const int n = j * 8 + 2 * tq;
          const float2 kv = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(ks + n));
          const float2 gv = *reinterpret_cast<const float2*>(gi + n);
          const float2 gsv = *reinterpret_cast<const float2*>(gs + n);
          acc[j][2 * hr] += b * kv.x * exp2f(gv.x - gsv.x);
          acc[j][2 * hr + 1] += b * kv.y * exp2f(gv.y - gsv.y);
        }
      }
      if (!QC && i < len) {
        float* row = c.dq + (int64_t)(ch.start + i) * rq + h * D;
#pragma unroll
        for (int j = 0; j < NT; ++j)
          *reinterpret_cast<float2*>(row + j * 8 + 2 * tq) = make_float2(acc[j][2 * hr], acc[j][2 * hr + 1]);
      }
    }
    if (QC) {
      // softmax backward: every lane runs (the row reductions shuffle over the 4 lanes of a row);
      // rows past len compute on zeros and store nothing
      float ff[2][NT][2];
#pragma unroll
      for (int hr = 0; hr < 2; ++hr) {
        float m = -INFINITY;
#pragma unroll
        for (int j = 0; j < NT; ++j) {
          const float2 x = unpack2<TI>(qraw[hr][j]);
          ff[hr][j][0] = x.x;
          ff[hr][j][1] = x.y;
          m = fmaxf(m, fmaxf(x.x, x.y));
        }
        m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, 1));
        m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, 2));
        float sum = 0.f;
#pragma unroll
        for (int j = 0; j < NT; ++j) {
          ff[hr][j][0] = __expf(ff[hr][j][0] - m);
          ff[hr][j][1] = __expf(ff[hr][j][1] - m);
          sum += ff[hr][j][0] + ff[hr][j][1];
        }
        sum += __shfl_xor_sync(0xffffffffu, sum, 1);
        sum += __shfl_xor_sync(0xffffffffu, sum, 2);
        const float inv = 1.f / sum;
        float dot = 0.f;
#pragma unroll
        for (int j = 0; j < NT; ++j) {
          ff[hr][j][0] *= inv;
          ff[hr][j][1] *= inv;
          dot += ff[hr][j][0] * acc[j][2 * hr] + ff[hr][j][1] * acc[j][2 * hr + 1];
        }
        dot += __shfl_xor_sync(0xffffffffu, dot, 1);
        dot += __shfl_xor_sync(0xffffffffu, dot, 2);
        const int i = r + g + 8 * hr;
        float* rr = c.qc.rq + (int64_t)(ch.start + i) * rk + hh * D;
#pragma unroll
        for (int j = 0; j < NT; ++j) {
          const float p0 = ff[hr][j][0] * acc[j][2 * hr], p1 = ff[hr][j][1] * acc[j][2 * hr + 1];
          if (i < len) red_add_f2(rr + j * 8 + 2 * tq, p0, p1);  // dg's query term, summed over the group in L2
          acc[j][2 * hr] = ff[hr][j][0] * (acc[j][2 * hr] - dot);
          acc[j][2 * hr + 1] = ff[hr][j][1] * (acc[j][2 * hr + 1] - dot);
        }
      }
      if (FAST || c.qc.dqr) {
        // the window branch's gradient through the transposed rotation: lo' = lo c + hi s,
        // hi' = hi c - lo s (pair n, n + D/2); every load of both rows before the arithmetic
        const View cv = c.qc.cos, sv = c.qc.sin;
        const bool f32 = FAST || (cv.dtype == LIGER_F32 && sv.dtype == LIGER_F32);
        const bool f2 = FAST || (f32 && cv.s1 == 1 && sv.s1 == 1 && ((cv.s0 | sv.s0) & 1) == 0 &&
                        ((reinterpret_cast<uintptr_t>(cv.data) | reinterpret_cast<uintptr_t>(sv.data)) & 7) == 0);
#pragma unroll
        for (int hr = 0; hr < 2; ++hr) {
          const int i = r + g + 8 * hr;
          const int64_t tok = ch.start + (i < len ? i : 0), pos = sq.pos0 + (tok - sq.start);
          const __nv_bfloat16* gr = c.qc.dqr + tok * rq + h * D;
          float cs[NT / 2][4];
          if (f2) {  // column pairs as float2
            const float* cp = static_cast<const float*>(cv.data) + pos * cv.s0;
            const float* sp = static_cast<const float*>(sv.data) + pos * sv.s0;
#pragma unroll
            for (int j = 0; j < NT / 2; ++j) {
              const int n = j * 8 + 2 * tq;
              const float2 c2 = *reinterpret_cast<const float2*>(cp + n), s2 = *reinterpret_cast<const float2*>(sp + n);
              cs[j][0] = c2.x;
              cs[j][1] = c2.y;
              cs[j][2] = s2.x;
              cs[j][3] = s2.y;
            }
          } else if (f32) {
            const float* cp = static_cast<const float*>(cv.data) + pos * cv.s0;
            const float* sp = static_cast<const float*>(sv.data) + pos * sv.s0;
#pragma unroll
            for (int j = 0; j < NT / 2; ++j) {
              const int n = j * 8 + 2 * tq;
              cs[j][0] = cp[n * cv.s1];
              cs[j][1] = cp[(n + 1) * cv.s1];
              cs[j][2] = sp[n * sv.s1];
              cs[j][3] = sp[(n + 1) * sv.s1];
            }
          } else {
#pragma unroll
            for (int j = 0; j < NT / 2; ++j) {
              const int n = j * 8 + 2 * tq;
              cs[j][0] = load_as_float(cv, pos * cv.s0 + n * cv.s1);
              cs[j][1] = load_as_float(cv, pos * cv.s0 + (n + 1) * cv.s1);
              cs[j][2] = load_as_float(sv, pos * sv.s0 + n * sv.s1);
              cs[j][3] = load_as_float(sv, pos * sv.s0 + (n + 1) * sv.s1);
            }
          }
#pragma unroll
          for (int j = 0; j < NT / 2; ++j) {
            const int n = j * 8 + 2 * tq;
            const float2 lo = unpack_bf16(*reinterpret_cast<const uint32_t*>(gr + n));
            const float2 hi = unpack_bf16(*reinterpret_cast<const uint32_t*>(gr + n + D / 2));
            acc[j][2 * hr] += lo.x * cs[j][0] + hi.x * cs[j][2];
            acc[j][2 * hr + 1] += lo.y * cs[j][1] + hi.y * cs[j][3];
            acc[j + NT / 2][2 * hr] += hi.x * cs[j][0] - lo.x * cs[j][2];
            acc[j + NT / 2][2 * hr + 1] += hi.y * cs[j][1] - lo.y * cs[j][3];
          }
        }
      }
      const View ov = c.qc.dq;
#pragma unroll
      for (int hr = 0; hr < 2; ++hr) {
        const int i = r + g + 8 * hr;
        if (i >= len) continue;
        const int64_t oo = view_row(ov, ch.start + i, c.qc.T, h);
        TI* row = static_cast<TI*>(ov.data) + oo;
        if (FAST || (ov.dtype == dtype_of<TI>() && ov.s3 == 1 && (reinterpret_cast<uintptr_t>(row) & 3) == 0)) {
#pragma unroll
          for (int j = 0; j < NT; ++j)
            *reinterpret_cast<uint32_t*>(row + j * 8 + 2 * tq) = pack2<TI>(acc[j][2 * hr], acc[j][2 * hr + 1]);
        } else {
#pragma unroll
          for (int j = 0; j < NT; ++j) {
            const int n = j * 8 + 2 * tq;
            store_from_float(ov, oo + n * ov.s3, acc[j][2 * hr]);
            store_from_float(ov, oo + (n + 1) * ov.s3, acc[j][2 * hr + 1]);
          }
        }
      }
    }
    __syncwarp();
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

template <int D>
size_t fdkv_smem() {
  constexpr int LDB = D + 8, LG = D + 4;
  return sizeof(float) * ((size_t)kChunk * LG + 8 * 16 * 17 + 8 * 16 * 17) + sizeof(uint4) * 6 * 64 +
         sizeof(__nv_bfloat16) * (size_t)LDB * (4 * kChunk + D + kChunk + 96 + kChunk + (D >= 2 * kChunk ? 0 : 2 * kChunk));
}

// dk and dv for bf16 inputs (Dk = Dv = 64 or 128), per (chunk, KV head), summed over the group's
// heads in registers; dk stored into c.dk (each element has one writer: no zeroed buffer), dv added
// to c.dv (the window's dv is there; with DvChain also the next chunk's, and the sum goes to the caller's
// dv instead). A warp owns 16 key rows s (sub-chunk kb, last row e)
// and half of the columns. For a query i in a later sub-chunk the gate factor splits at e:
//   exp(G_i - G_s) = exp(G_i - G_e) exp(G_e - G_s)   (both <= 0),
// so A^T = Ke Qe^T with Ke = k exp(G_e - G_s), Qe = q exp(G_i - G_e), and the dk bracket
// sum_i (v_s . do_i) Qe_i takes the factor exp(G_e - G_s) once at the end. The diagonal 16 x 16
// block goes element by element (scores split over the two column halves), then the state terms
// k_s exp(G_L - G_s) dh and exp(G_L - G_s) o (v_s dh^T). FAST: bf16 v and state gradients (c.vb, c.dhb),
// no code for the fp32 ones. With the DqChain (c.qchain) an epilogue also forms the gate gradient's terms
// r_s = rq_s - k_s dk_s from its dk and writes their reverse sums over the chunk (R) and its total (RT), which
// k_chunk_dg computed from memory before (run 83b).
template <int D, bool FAST = false>
__global__ void __launch_bounds__(256, 1) k_fdkv(Core c) {
  using bf16 = __nv_bfloat16;
  constexpr int LDB = D + 8, LG = D + 4, NH = D / 16;  // NH: n8 tiles in a column half
  extern __shared__ __align__(16) unsigned char smraw[];
  float* G2 = reinterpret_cast<float*>(smraw);  // [64][LG] cumulative gate times log2(e)
  float* Bw = G2 + kChunk * LG;                 // per warp [16][17]: diagonal v_s . do_i
  float* Ad = Bw + 8 * 16 * 17;                 // per warp [16][17]: partial diagonal scores
  uint4* Sl = reinterpret_cast<uint4*>(Ad + 8 * 16 * 17);  // [2 halves][3 blocks][2][32]: handed-over scores
  bf16* Kf = reinterpret_cast<bf16*>(Sl + 6 * 64);  // [64][LDB] k
  bf16* Ke = Kf + kChunk * LDB;                 // [64][LDB] k exp(G_e - G_s)
  bf16* Vs = Ke + kChunk * LDB;                 // [64][LDB]
  bf16* Qf0 = Vs + kChunk * LDB;                // [64][LDB] q of the even heads of the group
  bf16* DHs = Qf0 + kChunk * LDB;               // [D][LDB] dh
  bf16* dO0 = DHs + D * LDB;                    // [64][LDB] dO of the even heads
  bf16* Qe = dO0 + kChunk * LDB;                // [96][LDB]: e = 15 (i 16..63), 31 (i 32..63), 47 (i 48..63)
  bf16* Qd = Qe + 96 * LDB;                     // [64][LDB] q_i exp(G_i - G_e(i)), e(i) = i's sub-chunk end
  // q and dO of the odd heads: in dh's rows (unused until the state terms) when they hold both tiles
  bf16* Qf1 = D >= 2 * kChunk ? DHs : Qd + kChunk * LDB;  // [64][LDB]
  bf16* dO1 = Qf1 + kChunk * LDB;                          // [64][LDB]
  // The diagonal 16 x 16 blocks go through tensor cores like the others (Ke Qd^T, then B^T Qd) when
  // every column's gate falls by less than 2^-100 inside a sub-chunk (Qd's exponents are >= 0 and
  // bounded then, as k_fgrm's Kd); otherwise element by element with exponents <= 0.
  __shared__ int diag_unsafe;
  if (threadIdx.x == 0) diag_unsafe = 0;
  const Chunk ch = c.chunks[blockIdx.x];
  const int hh = blockIdx.y, grp = (int)(c.Hq / c.Hkv), len = ch.len;
  const int warp = warp_id_uniform(), lane = threadIdx.x & 31, g = lane >> 2, tq = lane & 3;
  // key block kb has 4 - kb query blocks (ib = kb .. 3): the second half's warps take the key blocks in
  // reverse, so that warps w and w + 4 (one scheduler) hold 5 blocks between them, not 8 or 2; and inside a
  // half the score products of blocks (0, 2), (0, 3), (1, 3) are computed by the warps of key blocks 2, 3, 3
  // and handed over through shared memory (Sl), so that no warp runs more than 4 of the 16 x 16 x D score
  // products and 4 of the 16 x 16 x D/2 gradient products per head (key block 0 ran 8 and 4 alone)
  const int half = warp >> 2, kb = half ? 3 - (warp & 3) : warp & 3, s0 = kb * 16, e = s0 + 15, nb = half * (D / 2);
  const int64_t rq = c.Hq * D, rk = c.Hkv * D;
  const float* Kg = c.k + (int64_t)ch.start * rk + hh * D;
  const bool hasvb = FAST || c.vb;
  const float* Vg = hasvb ? nullptr : c.v + (int64_t)ch.start * rk + hh * D;
  const __nv_bfloat16* Vb = hasvb ? c.vb + (int64_t)ch.start * rk + hh * D : nullptr;
  const float* Gg = c.g + (int64_t)ch.start * rk + hh * D;
  const float4 z4 = make_float4(0.f, 0.f, 0.f, 0.f);
  stage_kvg<D, FAST>(Kg, Vb, Vg, Gg, rk, len, hasvb, Kf, Vs, G2);
  __syncthreads();
  for (int idx = 4 * threadIdx.x; idx < kChunk * D; idx += 4 * 256) {
    const int s = idx / D, d = idx - s * D;
    bf16x4_scale_exp2<false>(Ke + s * LDB + d, Kf + s * LDB + d, G2 + (s | 15) * LG + d, G2 + s * LG + d);
  }
  for (int idx = threadIdx.x; idx < 4 * D; idx += 256) {
    const int b = idx / D, d = idx - b * D;
    if (G2[b * 16 * LG + d] - G2[(b * 16 + 15) * LG + d] > 100.f) diag_unsafe = 1;
  }
  float dv[NH][4], dkx[NH][4], dkd[NH][4];
#pragma unroll
  for (int j = 0; j < NH; ++j)
#pragma unroll
    for (int z = 0; z < 4; ++z) dv[j][z] = dkx[j][z] = dkd[j][z] = 0.f;
  bf16* QeK = Qe + (kb == 0 ? 0 : (kb == 1 ? 48 : 80)) * LDB;  // this warp's Qe rows: i = e + 1 ..
  float* Bd = Bw + warp * 16 * 17;
  // q and dO tiles of head hj into buffer hj & 1 by cp.async, one head ahead of their use, so that the
  // copies run under the previous head's products (rows past len zeroed by plain stores)
  auto stage_head = [&](int hj) {
    const int64_t h = (int64_t)hh * grp + hj;
    const bf16* Qg = c.qb + (int64_t)ch.start * rq + h * D;
    const bf16* Og = c.dOb + (int64_t)ch.start * rq + h * D;
    bf16* const Qt = (hj & 1) ? Qf1 : Qf0;
    bf16* const Ot = (hj & 1) ? dO1 : dO0;
    constexpr int CPR = D / 8;  // 16-byte pieces per row
#pragma unroll
    for (int it = 0; it < kChunk * CPR / 256; ++it) {
      const int idx = threadIdx.x + 256 * it, t = idx / CPR, d = (idx - t * CPR) * 8;
      if (t < len) {
        cp_async16(Qt + t * LDB + d, Qg + (int64_t)t * rq + d);
        cp_async16(Ot + t * LDB + d, Og + (int64_t)t * rq + d);
      } else {
        *reinterpret_cast<uint4*>(Qt + t * LDB + d) = make_uint4(0u, 0u, 0u, 0u);
        *reinterpret_cast<uint4*>(Ot + t * LDB + d) = make_uint4(0u, 0u, 0u, 0u);
      }
    }
  };
  stage_head(0);
  cp_async_commit();
  for (int hj = 0; hj < grp; ++hj) {
    bf16* const Qf = (hj & 1) ? Qf1 : Qf0;
    bf16* const dOs = (hj & 1) ? dO1 : dO0;
    __syncthreads();  // the previous head's tiles (the other buffer) are consumed
    if (hj + 1 < grp) stage_head(hj + 1);
    cp_async_commit();  // one group per head, empty for the last, so that the wait below counts alike
    cp_async_wait<1>();  // this thread's copies of head hj have landed
    __syncthreads();        // and every thread's
    const bool diag_tc = !diag_unsafe;
    // Qe and Qd, 4 columns per thread
    for (int idx = 4 * threadIdx.x; idx < 96 * D; idx += 4 * 256) {
      const int row = idx / D, d = idx - row * D;
      const int ee = row < 48 ? 15 : (row < 80 ? 31 : 47), i = row < 48 ? row + 16 : (row < 80 ? row - 16 : row - 32);
      bf16x4_scale_exp2<false>(Qe + row * LDB + d, Qf + i * LDB + d, G2 + i * LG + d, G2 + ee * LG + d);
    }
    if (diag_tc)
      for (int idx = 4 * threadIdx.x; idx < kChunk * D; idx += 4 * 256) {
        const int i = idx / D, d = idx - i * D;
        bf16x4_scale_exp2<true>(Qd + i * LDB + d, Qf + i * LDB + d, G2 + i * LG + d, G2 + (i | 15) * LG + d);
      }
    // partial diagonal scores over this warp's column half: rows s0 + g (+8), columns s0 + kj
    if (!diag_tc) {
      const int kj[4] = {2 * tq, 2 * tq + 1, 2 * tq + 8, 2 * tq + 9};
      float p[2][4];
#pragma unroll
      for (int x = 0; x < 2; ++x)
#pragma unroll
        for (int y = 0; y < 4; ++y) p[x][y] = 0.f;
      const bf16* k0 = Kf + (s0 + g) * LDB;
      const bf16* k1 = k0 + 8 * LDB;
      const float* g0 = G2 + (s0 + g) * LG;
      const float* g1 = g0 + 8 * LG;
#pragma unroll 2
      for (int d = nb; d < nb + D / 2; d += 2) {
        const float2 ka = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(k0 + d));
        const float2 kc = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(k1 + d));
        const float2 ga = *reinterpret_cast<const float2*>(g0 + d);
        const float2 gc = *reinterpret_cast<const float2*>(g1 + d);
#pragma unroll
        for (int y = 0; y < 4; ++y) {
          const int i = s0 + kj[y];
          const float2 qv = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(Qf + i * LDB + d));
          const float2 gi = *reinterpret_cast<const float2*>(G2 + i * LG + d);
          p[0][y] += qv.x * ka.x * exp2f(fminf(gi.x - ga.x, 0.f)) + qv.y * ka.y * exp2f(fminf(gi.y - ga.y, 0.f));
          p[1][y] += qv.x * kc.x * exp2f(fminf(gi.x - gc.x, 0.f)) + qv.y * kc.y * exp2f(fminf(gi.y - gc.y, 0.f));
        }
      }
      float* A = Ad + warp * 16 * 17;
#pragma unroll
      for (int x = 0; x < 2; ++x)
#pragma unroll
        for (int y = 0; y < 4; ++y) A[(g + 8 * x) * 17 + kj[y]] = p[x][y];
    }
    __syncthreads();
    // the score blocks this warp computes for key blocks 0 and 1 of its half (key block 2: (0, 2) to slot
    // 0; key block 3: (0, 3), (1, 3) to slots 1, 2), first, so that their owners do not wait
    const int nprod = kb == 3 ? 2 : (kb == 2 ? 1 : 0);
    for (int f = 0; f < nprod; ++f) {
      const int pk = kb == 3 ? f : 0, pi = kb == 3 ? 3 : 2, slot = kb == 3 ? 1 + f : 0;
      const bf16* QP = Qe + ((pk == 0 ? 0 : 48) + (pi - pk - 1) * 16) * LDB;  // pk's Qe rows of block pi
      float at[2][4], bt[2][4];
#pragma unroll
      for (int x = 0; x < 2; ++x)
#pragma unroll
        for (int z = 0; z < 4; ++z) at[x][z] = bt[x][z] = 0.f;
#pragma unroll
      for (int k0 = 0; k0 < D; k0 += 16) {
        uint32_t av[4], bf[4], ak[4], bq[4];
        ld_a(av, Vs, LDB, pk * 16, k0);
        ld_b_nk(bf, dOs, LDB, pi * 16, k0);
        mma_bf16(bt[0], av, bf[0], bf[1]);
        mma_bf16(bt[1], av, bf[2], bf[3]);
        ld_a(ak, Ke, LDB, pk * 16, k0);
        ld_b_nk(bq, QP, LDB, 0, k0);
        mma_bf16(at[0], ak, bq[0], bq[1]);
        mma_bf16(at[1], ak, bq[2], bq[3]);
      }
      uint32_t pa[4], pb[4];
      pack_a_frag(pa, at);
      pack_a_frag(pb, bt);
      uint4* sl = Sl + (3 * half + slot) * 64;
      sl[lane] = make_uint4(pa[0], pa[1], pa[2], pa[3]);
      sl[32 + lane] = make_uint4(pb[0], pb[1], pb[2], pb[3]);
    }
    // barrier 1 + 2 half: key block 0's warp waits for those of key blocks 2 and 3; 2 + 2 half: key
    // block 1's for key block 3's
    if (kb == 3) {
      named_arrive(1 + 2 * half, 96);
      named_arrive(2 + 2 * half, 64);
    } else if (kb == 2) {
      named_arrive(1 + 2 * half, 96);
    }
    const int iend = kb == 0 ? 2 : (kb == 1 ? 3 : 4);
    for (int ib = kb; ib < iend; ++ib) {
      // A^T (keys x queries) and B^T = v_s . do_i for the 16 x 16 block (kb, ib)
      float at[2][4], bt[2][4];
#pragma unroll
      for (int x = 0; x < 2; ++x)
#pragma unroll
        for (int z = 0; z < 4; ++z) at[x][z] = bt[x][z] = 0.f;
      const bool diag = ib == kb;
      const bool elem = diag && !diag_tc;  // element-wise diagonal block
      const bf16* QB = diag ? Qd : QeK;    // query rows qrow.. of the block, in the Ke space
      const int qrow = diag ? s0 : (ib - kb - 1) * 16;
      // the next k step's fragments loaded before this step's mma, so that the mma does not wait for ldmatrix at
      // every step (run 38b: k_fdkv -3.5% at 8K)
      uint32_t va[2][4], vo[2][4], ka[2][4], qb[2][4];
      ld_a(va[0], Vs, LDB, s0, 0);
      ld_b_nk(vo[0], dOs, LDB, ib * 16, 0);
      if (!elem) {
        ld_a(ka[0], Ke, LDB, s0, 0);
        ld_b_nk(qb[0], QB, LDB, qrow, 0);
      }
#pragma unroll
      for (int st = 0; st < D / 16; ++st) {
        const int cur = st & 1, nxt = cur ^ 1;
        if (st + 1 < D / 16) {
          ld_a(va[nxt], Vs, LDB, s0, 16 * (st + 1));
          ld_b_nk(vo[nxt], dOs, LDB, ib * 16, 16 * (st + 1));
          if (!elem) {
            ld_a(ka[nxt], Ke, LDB, s0, 16 * (st + 1));
            ld_b_nk(qb[nxt], QB, LDB, qrow, 16 * (st + 1));
          }
        }
        mma_bf16(bt[0], va[cur], vo[cur][0], vo[cur][1]);
        mma_bf16(bt[1], va[cur], vo[cur][2], vo[cur][3]);
        if (!elem) {
          mma_bf16(at[0], ka[cur], qb[cur][0], qb[cur][1]);
          mma_bf16(at[1], ka[cur], qb[cur][2], qb[cur][3]);
        }
      }
      if (diag && !elem) {
        // causal mask of the diagonal block: query il >= key sl
#pragma unroll
        for (int x = 0; x < 2; ++x)
#pragma unroll
          for (int z = 0; z < 4; ++z) {
            const int sl = g + (z >> 1) * 8, il = x * 8 + 2 * tq + (z & 1);
            if (il < sl) at[x][z] = bt[x][z] = 0.f;
          }
      }
      if (elem) {
        const float* A0 = Ad + (kb * 16 * 17);           // warp kb (half 0)
        const float* A1 = Ad + ((7 - kb) * 16 * 17);     // warp 7 - kb (half 1)
#pragma unroll
        for (int x = 0; x < 2; ++x)
#pragma unroll
          for (int z = 0; z < 4; ++z) {
            const int sl = g + (z >> 1) * 8, il = x * 8 + 2 * tq + (z & 1);
            at[x][z] = il >= sl ? A0[sl * 17 + il] + A1[sl * 17 + il] : 0.f;
            Bd[sl * 17 + il] = il >= sl ? bt[x][z] : 0.f;
          }
      }
      uint32_t pa[4], pb[4];
      pack_a_frag(pa, at);
      pack_a_frag(pb, bt);
#pragma unroll
      for (int np = 0; np < NH / 2; ++np) {
        uint32_t bf[4];
        ld_b_kn(bf, dOs, LDB, nb + np * 16, ib * 16);
        mma_bf16(dv[2 * np], pa, bf[0], bf[1]);
        mma_bf16(dv[2 * np + 1], pa, bf[2], bf[3]);
        if (!elem) {
          uint32_t bq[4];
          ld_b_kn(bq, QB, LDB, nb + np * 16, qrow);
          mma_bf16(dkx[2 * np], pb, bq[0], bq[1]);
          mma_bf16(dkx[2 * np + 1], pb, bq[2], bq[3]);
        }
      }
      if (elem) {
        __syncwarp();
        // dk_s += sum_{s <= i < 16} (v_s . do_i) q_i exp(G_i - G_s), element by element
#pragma unroll
        for (int x = 0; x < 2; ++x) {
          const int sl = g + 8 * x, s = s0 + sl;
          const float* gs = G2 + s * LG;
          for (int il = sl; il < 16; ++il) {
            const float b = Bd[sl * 17 + il];
            const bf16* qi = Qf + (s0 + il) * LDB;
            const float* gi = G2 + (s0 + il) * LG;
#pragma unroll
            for (int j = 0; j < NH; ++j) {
              const int n = nb + j * 8 + 2 * tq;
              const float2 qv = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(qi + n));
              const float2 ga = *reinterpret_cast<const float2*>(gi + n);
              const float2 gb = *reinterpret_cast<const float2*>(gs + n);
              dkd[j][2 * x] += b * qv.x * exp2f(ga.x - gb.x);
              dkd[j][2 * x + 1] += b * qv.y * exp2f(ga.y - gb.y);
            }
          }
        }
        __syncwarp();
      }
    }
    // the handed-over blocks: key block 0's (0, 2), (0, 3) from slots 0, 1; key block 1's (1, 3) from slot 2
    if (kb < 2) {
      named_sync(1 + kb + 2 * half, kb == 0 ? 96 : 64);
      for (int f = 0; f < 2 - kb; ++f) {
        const int ib = kb == 0 ? 2 + f : 3, slot = kb == 0 ? f : 2, qrow = (ib - kb - 1) * 16;
        const uint4* sl = Sl + (3 * half + slot) * 64;
        const uint4 xa = sl[lane], xb = sl[32 + lane];
        const uint32_t pa[4] = {xa.x, xa.y, xa.z, xa.w}, pb[4] = {xb.x, xb.y, xb.z, xb.w};
#pragma unroll
        for (int np = 0; np < NH / 2; ++np) {
          uint32_t bf[4], bq[4];
          ld_b_kn(bf, dOs, LDB, nb + np * 16, ib * 16);
          mma_bf16(dv[2 * np], pa, bf[0], bf[1]);
          mma_bf16(dv[2 * np + 1], pa, bf[2], bf[3]);
          ld_b_kn(bq, QeK, LDB, nb + np * 16, qrow);
          mma_bf16(dkx[2 * np], pb, bq[0], bq[1]);
          mma_bf16(dkx[2 * np + 1], pb, bq[2], bq[3]);
        }
      }
    }
  }
  __syncthreads();
  // the window's dv (k_fswa_bwd) that this block adds to, loaded now so that the loads overlap the state
  // terms (a load after a store to c.dv would wait for the store before it)
  float2 dvw[2][NH];
#pragma unroll
  for (int x = 0; x < 2; ++x) {
    const int s = s0 + g + 8 * x;
    const float* DV = c.dv + (int64_t)(ch.start + s) * rk + hh * D;
#pragma unroll
    for (int j = 0; j < NH; ++j)
      dvw[x][j] = s < len ? *reinterpret_cast<const float2*>(DV + nb + j * 8 + 2 * tq) : make_float2(0.f, 0.f);
  }
  // DvChain: the next chunk's window dv too (its queries see this chunk's keys), where it exists
  const SeqInfo sq = c.seqs[ch.seq];
  if (c.dvchain && (int)blockIdx.x + 1 < sq.first_chunk + sq.num_chunks) {
#pragma unroll
    for (int x = 0; x < 2; ++x) {
      const int s = s0 + g + 8 * x;
      const float* DP = c.dvc.dvp + (int64_t)(ch.start + s) * rk + hh * D;
#pragma unroll
      for (int j = 0; j < NH; ++j) {
        const float2 t = s < len ? *reinterpret_cast<const float2*>(DP + nb + j * 8 + 2 * tq) : make_float2(0.f, 0.f);
        dvw[x][j].x += t.x;
        dvw[x][j].y += t.y;
      }
    }
  }
  // state terms: Kl = k exp(G_L - G_s) in the Qe space, dh as bf16
  bf16* Kl = Qe;
  const float* gL = G2 + (kChunk - 1) * LG;
  for (int idx = 4 * threadIdx.x; idx < kChunk * D; idx += 4 * 256) {
    const int s = idx / D, d = idx - s * D;
    bf16x4_scale_exp2<false>(Kl + s * LDB + d, Kf + s * LDB + d, gL + d, G2 + s * LG + d);
  }
  if (FAST || c.dhb) {  // the scan's bf16 copy: the same rounding from half the bytes
    stage_state<D>(c.dhb + ((int64_t)blockIdx.x * c.Hkv + hh) * D * D, DHs);
  } else {
    const float* DHg = c.dh + ((int64_t)blockIdx.x * c.Hkv + hh) * D * D;
    for (int idx = 4 * threadIdx.x; idx < D * D; idx += 4 * 256) {
      const float4 h4 = *reinterpret_cast<const float4*>(DHg + idx);
      const int m = idx / D, n = idx - m * D;
      *reinterpret_cast<uint2*>(DHs + m * LDB + n) = make_uint2(pack_bf16(h4.x, h4.y), pack_bf16(h4.z, h4.w));
    }
  }
  __syncthreads();
  // dk = exp(G_e - G_s) o bracket + element-wise part; the bracket registers then hold v_s dh^T
#pragma unroll
  for (int x = 0; x < 2; ++x) {
    const float* gs = G2 + (s0 + g + 8 * x) * LG;
    const float* ge = G2 + e * LG;
#pragma unroll
    for (int j = 0; j < NH; ++j) {
      const int n = nb + j * 8 + 2 * tq;
      dkd[j][2 * x] += dkx[j][2 * x] * exp2f(ge[n] - gs[n]);
      dkd[j][2 * x + 1] += dkx[j][2 * x + 1] * exp2f(ge[n + 1] - gs[n + 1]);
      dkx[j][2 * x] = dkx[j][2 * x + 1] = 0.f;
    }
  }
#pragma unroll
  for (int k0 = 0; k0 < D; k0 += 16) {
    uint32_t ak[4], av[4];
    ld_a(ak, Kl, LDB, s0, k0);
    ld_a(av, Vs, LDB, s0, k0);
#pragma unroll
    for (int np = 0; np < NH / 2; ++np) {
      uint32_t b1[4], b2[4];
      ld_b_kn(b1, DHs, LDB, nb + np * 16, k0);
      mma_bf16(dv[2 * np], ak, b1[0], b1[1]);
      mma_bf16(dv[2 * np + 1], ak, b1[2], b1[3]);
      ld_b_nk(b2, DHs, LDB, nb + np * 16, k0);
      mma_bf16(dkx[2 * np], av, b2[0], b2[1]);
      mma_bf16(dkx[2 * np + 1], av, b2[2], b2[3]);
    }
  }
  // DqChain: this warp's dk values, kept for the gate gradient's terms r_s = rq_s - k_s dk_s below (what k_chunk_dg
  // computed from dk's, k's and rq's rows in memory)
  float2 rg[2][NH];
#pragma unroll
  for (int x = 0; x < 2; ++x)
#pragma unroll
    for (int j = 0; j < NH; ++j) rg[x][j] = make_float2(0.f, 0.f);
#pragma unroll
  for (int x = 0; x < 2; ++x) {
    const int s = s0 + g + 8 * x;
    if (s >= len) continue;
    const float* gs = G2 + s * LG;
    float* DK = c.dk + (int64_t)(ch.start + s) * rk + hh * D;
    float* DV = c.dv + (int64_t)(ch.start + s) * rk + hh * D;
#pragma unroll
    for (int j = 0; j < NH; ++j) {
      const int n = nb + j * 8 + 2 * tq;
      const float2 k2 = make_float2(dkd[j][2 * x] + dkx[j][2 * x] * exp2f(gL[n] - gs[n]),
                                    dkd[j][2 * x + 1] + dkx[j][2 * x + 1] * exp2f(gL[n + 1] - gs[n + 1]));
      const float2 v2 = make_float2(dvw[x][j].x + dv[j][2 * x], dvw[x][j].y + dv[j][2 * x + 1]);
      rg[x][j] = k2;
      *reinterpret_cast<float2*>(DK + n) = k2;
      if (!c.dvchain) *reinterpret_cast<float2*>(DV + n) = v2;
      dv[j][2 * x] = v2.x;
      dv[j][2 * x + 1] = v2.y;
    }
    if (c.dvchain) {  // the caller's dv: bf16 or fp16 pairs where the view allows them, else element by element
      const View ov = c.dvc.dv;
      const int64_t oo = view_row(ov, ch.start + s, c.dvc.T, hh);
      __nv_bfloat16* row = static_cast<__nv_bfloat16*>(ov.data) + oo;
      if (ov.dtype == LIGER_BF16 && ov.s3 == 1 && (reinterpret_cast<uintptr_t>(row) & 3) == 0) {
#pragma unroll
        for (int j = 0; j < NH; ++j)
          *reinterpret_cast<__nv_bfloat162*>(row + nb + j * 8 + 2 * tq) = __floats2bfloat162_rn(dv[j][2 * x], dv[j][2 * x + 1]);
      } else if (ov.dtype == LIGER_F16 && ov.s3 == 1 && (reinterpret_cast<uintptr_t>(row) & 3) == 0) {
#pragma unroll
        for (int j = 0; j < NH; ++j)
          *reinterpret_cast<uint32_t*>(row + nb + j * 8 + 2 * tq) = pack2<__half>(dv[j][2 * x], dv[j][2 * x + 1]);
      } else {
#pragma unroll
        for (int j = 0; j < NH; ++j) {
          const int n = nb + j * 8 + 2 * tq;
          store_from_float(ov, oo + n * ov.s3, dv[j][2 * x]);
          store_from_float(ov, oo + (n + 1) * ov.s3, dv[j][2 * x + 1]);
        }
      }
    }
  }
  if (c.qchain) {  // the chunk's r_s and their reverse sums over its rows (R), its total (RT), through G2's rows
    constexpr int SEG = 256 / D, RS = kChunk / SEG;  // row segments per column, rows per segment
    __syncthreads();  // every warp is done with G2 and Bw
    float* DKs = G2;  // [64][LG] dk, rows past len zero
    float* Tot = Bw;  // [SEG][D] segment totals
#pragma unroll
    for (int x = 0; x < 2; ++x)
#pragma unroll
      for (int j = 0; j < NH; ++j)
        *reinterpret_cast<float2*>(DKs + (s0 + g + 8 * x) * LG + nb + j * 8 + 2 * tq) = rg[x][j];
    __syncthreads();
    // a thread per (column d, segment sg): every load of its rows issued first (rq from k_fdq, k in fp32 as
    // k_chunk_dg read it), then the segment's suffix sums in registers, then the totals of the later segments
    const int d = threadIdx.x % D, sg = threadIdx.x / D, t0 = sg * RS;
    const int64_t o0 = (int64_t)(ch.start + t0) * rk + hh * D + d;
    float r[RS], kq[RS];
#pragma unroll
    for (int i = 0; i < RS; ++i) {
      const bool ok = t0 + i < len;
      r[i] = ok ? c.qc.rq[o0 + (int64_t)i * rk] : 0.f;
      kq[i] = ok ? c.k[o0 + (int64_t)i * rk] : 0.f;
    }
#pragma unroll
    for (int i = 0; i < RS; ++i) r[i] -= kq[i] * DKs[(t0 + i) * LG + d];
#pragma unroll
    for (int i = RS - 2; i >= 0; --i) r[i] += r[i + 1];
    Tot[sg * D + d] = r[0];
    __syncthreads();
    float add = 0.f;
#pragma unroll
    for (int k = SEG - 1; k > 0; --k)
      if (k > sg) add += Tot[k * D + d];
#pragma unroll
    for (int i = 0; i < RS; ++i)
      if (t0 + i < len) c.R[o0 + (int64_t)i * rk] = r[i] + add;
    if (sg == 0) c.RT[((int64_t)blockIdx.x * c.Hkv + hh) * D + d] = r[0] + add;
  }
}

// dg: r_t = sum_h q_t dq_t - k_t dk_t, reverse-cumulated inside the chunk (R) with chunk totals (RT). With the DqChain
// (the attention's fast backward) k_fdkv computes these itself and this kernel does not run.
__global__ void k_chunk_dg(Core c) {
  const Chunk ch = c.chunks[blockIdx.x];
  const int hh = blockIdx.y, grp = (int)(c.Hq / c.Hkv), Dk = (int)c.Dk;
  const int64_t rq = c.Hq * Dk, rk = c.Hkv * Dk;
  constexpr int kB = 8;  // rows whose loads are issued together (the stores to R would order them otherwise)
  for (int d = threadIdx.x; d < Dk; d += blockDim.x) {
    float run = 0.f;
    for (int t0 = ch.len - 1; t0 >= 0; t0 -= kB) {
      float r[kB];
#pragma unroll
      for (int u = 0; u < kB; ++u) {
        const int t = t0 - u;
        r[u] = 0.f;
        if (t < 0) continue;
        const int64_t tok = ch.start + t;
        r[u] = -c.k[tok * rk + hh * Dk + d] * c.dk[tok * rk + hh * Dk + d];
        if (c.qchain) {
          r[u] += c.qc.rq[tok * rk + hh * Dk + d];  // k_fdq's sum over the group
        } else {
          for (int j = 0; j < grp; ++j) {
            const int64_t o = tok * rq + (int64_t)(hh * grp + j) * Dk + d;
            r[u] += (c.qb ? __bfloat162float(c.qb[o]) : c.q[o]) * c.dq[o];
          }
        }
      }
#pragma unroll
      for (int u = 0; u < kB; ++u) {
        if (t0 - u < 0) break;
        run += r[u];
        c.R[(ch.start + t0 - u) * rk + hh * Dk + d] = run;
      }
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

// Dynamic shared memory of the fp32 kernels (their tile layouts above).
size_t smem_chunk_state(int Dk, int Dv) { return rows_bytes(2 * kChunk, Dk + 1) + rows_bytes(kChunk, Dv + 1); }
size_t smem_chunk_output(int Dk, int Dv, bool tc) {
  return rows_bytes(4 * kChunk + 3 * kSub, tile_stride(Dk, tc)) + rows_bytes(kChunk, tile_stride(Dv, tc)) +
         rows_bytes(kChunk, LA);
}
size_t smem_chunk_dstate(int Dk, int Dv, bool tc) {
  return rows_bytes(2 * kChunk, tile_stride(Dk, tc)) + rows_bytes(kChunk, tile_stride(Dv, tc)) +
         (size_t)Dk * Dv * sizeof(float);
}
size_t smem_chunk_dq(int Dk, int Dv, bool tc) {
  return rows_bytes(2 * kChunk, tile_stride(Dv, tc)) + rows_bytes(2 * kChunk + 3 * kSub, tile_stride(Dk, tc)) +
         rows_bytes(kChunk, LA);
}
size_t smem_chunk_dkv(int Dk, int Dv, bool tc) {
  return rows_bytes(4 * kChunk + 3 * kSub, tile_stride(Dk, tc)) + rows_bytes(kChunk, tile_stride(Dv, tc)) +
         rows_bytes(2 * kChunk, LA);
}

}  // namespace

size_t core_general_smem(int Dk, int Dv, bool tc) {
  size_t m = smem_chunk_state(Dk, Dv);
  for (size_t x : {smem_chunk_output(Dk, Dv, tc), smem_chunk_dstate(Dk, Dv, tc), smem_chunk_dq(Dk, Dv, tc),
                   smem_chunk_dkv(Dk, Dv, tc)})
    m = x > m ? x : m;
  return m;
}

// k_fdstate's two stages of two bf16 [64][D + 8] tiles and its fp32 [64][D] exp(G) (102 KB at D = 128:
// two blocks per SM).
static size_t fdstate_smem(int64_t D) {
  return sizeof(__nv_bfloat16) * 4 * kChunk * (D + 8) + sizeof(float) * kChunk * D;
}

size_t core_fast_backward_smem(int D) {
  size_t m = fdstate_smem(D);
  for (size_t x : {D == 64 ? fdq_smem<64>() : fdq_smem<128>(), D == 64 ? fdkv_smem<64>() : fdkv_smem<128>()})
    m = x > m ? x : m;
  return m;
}

liger_status core_slices(const Core& c, CoreSlices& s) {
  int lim = 0;
  LIGER_TRY(smem_limit(lim));
  const int Dk = (int)c.Dk, Dv = (int)c.Dv;
  s.dk = Dk;
  s.dv = Dv;
  if (core_general_smem(Dk, Dv, c.tc) <= (size_t)lim) return LIGER_OK;
  // the fewest slices (the largest slice area) whose kernels all fit; widths divide D, multiples of 4
  int64_t best = 0;
  for (int a = Dk; a >= 4; --a) {
    if (Dk % a || a % 4) continue;
    for (int b = Dv; b >= 4; --b) {
      if (Dv % b || b % 4 || (int64_t)a * b <= best) continue;
      if (core_general_smem(a, b, c.tc) <= (size_t)lim) {
        best = (int64_t)a * b;
        s.dk = a;
        s.dv = b;
      }
    }
  }
  if (!best)
    return fail(LIGER_ERR_UNSUPPORTED,
                "CUDA GLA kernels: no slice of Dk = %d, Dv = %d fits the device's %d bytes of shared memory", Dk, Dv,
                lim);
  return LIGER_OK;
}

liger_status core_forward(const Core& c, bool with_output) {
  CoreSlices sl;
  LIGER_TRY(core_slices(c, sl));
  if (sl.dk != c.Dk || sl.dv != c.Dv) return core_forward_sliced(c, with_output, sl);
  if (c.nchunks > 0) {
    const size_t smA = smem_chunk_state((int)c.Dk, (int)c.Dv);
    LIGER_TRY(set_smem((const void*)k_chunk_state, smA, "chunk_state"));
    k_chunk_state<<<dim3(c.nchunks, (unsigned)c.Hkv), kThreads, smA, c.stream>>>(c);
    LIGER_CK_LAUNCH("chunk_state");
  }
  LIGER_TRY(core_scan(c));
  if (with_output && c.nchunks > 0) {
    const size_t smC = smem_chunk_output((int)c.Dk, (int)c.Dv, c.tc);
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

// The layouts k_fdq<D, true, true> assumes (see there).
static bool fdq_fast_layout(const Core& c) {
  const auto aligned = [](const void* ptr, uintptr_t n) { return (reinterpret_cast<uintptr_t>(ptr) & (n - 1)) == 0; };
  const auto pairs = [&](const View& v) {  // of the input type
    return (v.dtype == LIGER_BF16 || v.dtype == LIGER_F16) && v.dtype == c.qc.q.dtype && v.s3 == 1 && ((v.s0 | v.s1 | v.s2) & 1) == 0 && aligned(v.data, 4);
  };
  const View &cv = c.qc.cos, &sv = c.qc.sin;
  const bool tables = cv.dtype == LIGER_F32 && sv.dtype == LIGER_F32 && cv.s1 == 1 && sv.s1 == 1 &&
                      ((cv.s0 | sv.s0) & 1) == 0 && aligned(cv.data, 8) && aligned(sv.data, 8);
  return c.qchain && c.vb && c.hb && c.qc.dqr && pairs(c.qc.q) && pairs(c.qc.dq) && tables;
}

liger_status core_backward(const Core& c) {
  const int LK = tile_stride((int)c.Dk, c.tc), LV = tile_stride((int)c.Dv, c.tc);
  const int64_t DD = c.Dk * c.Dv;
  // the bf16 kernels read q and dO from qb and dOb, the others from q and dO
  const bool fast = c.bf16 && c.dOb && c.qb && c.Dk == c.Dv && (c.Dk == 64 || c.Dk == 128);
  if (!fast && (!c.dO || !c.q)) return fail(LIGER_ERR_INVALID_ARGUMENT, "core_backward: no fp32 q/dO for the fp32 kernels");
  if (c.qchain && (!fast || !c.qc.rq))
    return fail(LIGER_ERR_INVALID_ARGUMENT, "core_backward: the dq chain epilogue needs the bf16 kernels and rq");
  if (!fast) {
    CoreSlices sl;
    LIGER_TRY(core_slices(c, sl));
    if (sl.dk != c.Dk || sl.dv != c.Dv) return core_backward_sliced(c, sl);
  }
  if (c.nchunks > 0) {
    if (fast) {
      const size_t sm = fdstate_smem(c.Dk);
      const void* kern = c.Dk == 64 ? (const void*)k_fdstate<64> : (const void*)k_fdstate<128>;
      LIGER_TRY(set_smem(kern, sm, "fdstate"));
      if (c.Dk == 64)
        k_fdstate<64><<<dim3(c.nchunks, (unsigned)c.Hkv), 256, sm, c.stream>>>(c);
      else
        k_fdstate<128><<<dim3(c.nchunks, (unsigned)c.Hkv), 256, sm, c.stream>>>(c);
      LIGER_CK_LAUNCH("fdstate");
    } else {
      const size_t sm = smem_chunk_dstate((int)c.Dk, (int)c.Dv, c.tc);
      LIGER_TRY(set_smem((const void*)k_chunk_dstate, sm, "chunk_dstate"));
      k_chunk_dstate<<<dim3(c.nchunks, (unsigned)c.Hkv), kThreads, sm, c.stream>>>(c);
      LIGER_CK_LAUNCH("chunk_dstate");
    }
  }
  if (c.nseq > 0 && fast && c.dhb) {
    const dim3 grid(c.nseq, (unsigned)c.Hkv, (unsigned)((DD + 511) / 512));
    if (c.Dk == 64)
      k_fdstate_scan<64><<<grid, 256, 0, c.stream>>>(c);
    else
      k_fdstate_scan<128><<<grid, 256, 0, c.stream>>>(c);
    LIGER_CK_LAUNCH("fdstate_scan");
  } else if (c.nseq > 0) {
    k_dstate_scan<<<dim3(c.nseq, (unsigned)c.Hkv, (unsigned)((DD + 255) / 256)), 256, 0, c.stream>>>(c);
    LIGER_CK_LAUNCH("dstate_scan");
  }
  if (c.nchunks > 0) {
    if (fast) {
      const size_t smq = c.Dk == 64 ? fdq_smem<64>() : fdq_smem<128>();
      const bool fl = fdq_fast_layout(c);
      // the attention's chain (qchain) reads its caller's q and writes its dq: bf16, or fp16
      const bool f16 = c.qchain && c.qc.q.dtype == LIGER_F16;
      const auto kern =
          f16 ? (c.Dk == 64 ? (fl ? k_fdq<64, true, true, __half> : k_fdq<64, true, false, __half>)
                            : (fl ? k_fdq<128, true, true, __half> : k_fdq<128, true, false, __half>))
              : (c.Dk == 64 ? (fl ? k_fdq<64, true, true> : c.qchain ? k_fdq<64, true> : k_fdq<64, false>)
                            : (fl ? k_fdq<128, true, true> : c.qchain ? k_fdq<128, true> : k_fdq<128, false>));
      LIGER_TRY(set_smem((const void*)kern, smq, "fdq"));
      kern<<<dim3(c.nchunks, (unsigned)c.Hkv), 256, smq, c.stream>>>(c);
      LIGER_CK_LAUNCH("fdq");
    } else {
      const size_t smq = smem_chunk_dq((int)c.Dk, (int)c.Dv, c.tc);
      LIGER_TRY(set_smem((const void*)k_chunk_dq, smq, "chunk_dq"));
      k_chunk_dq<<<dim3(c.nchunks, (unsigned)c.Hq), kThreads, smq, c.stream>>>(c);
      LIGER_CK_LAUNCH("chunk_dq");
    }
    if (fast) {
      const size_t smk = c.Dk == 64 ? fdkv_smem<64>() : fdkv_smem<128>();
      const bool fl = c.vb && c.dhb;
      const auto kern = c.Dk == 64 ? (fl ? k_fdkv<64, true> : k_fdkv<64, false>)
                                   : (fl ? k_fdkv<128, true> : k_fdkv<128, false>);
      LIGER_TRY(set_smem((const void*)kern, smk, "fdkv"));
      kern<<<dim3(c.nchunks, (unsigned)c.Hkv), 256, smk, c.stream>>>(c);
      LIGER_CK_LAUNCH("fdkv");
    } else {
      const size_t smk = smem_chunk_dkv((int)c.Dk, (int)c.Dv, c.tc);
      LIGER_TRY(set_smem((const void*)k_chunk_dkv, smk, "chunk_dkv"));
      k_chunk_dkv<<<dim3(c.nchunks, (unsigned)c.Hkv), kThreads, smk, c.stream>>>(c);
      LIGER_CK_LAUNCH("chunk_dkv");
    }
  }
  return c.no_dg ? LIGER_OK : core_dg(c);
}

liger_status core_dg(const Core& c) {
  if (c.nchunks > 0 && !c.qchain) {  // with the DqChain, k_fdkv wrote R and RT
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
