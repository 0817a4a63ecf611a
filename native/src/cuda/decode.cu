// Fast decode step of the fused Liger attention: grid (N, Hkv), one block per sequence and KV head.
//
// A block reads the KV head's fp32 state (D x D) and window ring (2 x (W-1) x D) once and writes the
// state and one ring slot back: the call moves ~25 MB at batch 16 (Hkv 8, D 128, W 64), so the
// kernel is bound by memory traffic, and what it can lose is latency. Everything that does not
// depend on the position is put in flight first: the ring rows by cp.async into shared memory (in
// slot order, so without the position), the thread's state rows into registers; then the position,
// the token's feature maps, gate and RoPE (a warp per row, in registers), the state update and the
// GRM product, the window scores and softmax, and the mixed output.
//
// The position advances once, after every block of the sequence has read it: the blocks of a
// sequence form one thread-block cluster (sm_90, Hkv <= 8, every cluster resident at once) whose
// barrier orders the reads before block 0's write; with one KV head the block's own barrier does;
// otherwise a second launch advances.
#include "decode.cuh"

namespace liger {
namespace cuda {
namespace {

constexpr int kDecThreads = 256;
constexpr int kDecMaxGrp = 8;  // query heads per KV head held in registers by the score loop

// How the position advances (see the file comment).
enum Advance { kAdvLaunch = 0, kAdvCluster = 1, kAdvBlock = 2 };

__device__ __forceinline__ float dwarp_max(float x) {
  for (int o = 16; o; o >>= 1) x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, o));
  return x;
}
__device__ __forceinline__ float dwarp_sum(float x) {
  for (int o = 16; o; o >>= 1) x += __shfl_xor_sync(0xffffffffu, x, o);
  return x;
}

// A position the kernel can use: not negative and, with the window branch, inside the RoPE tables.
__device__ __forceinline__ bool dec_pos_ok(const DecodeArgs& a, int64_t p) { return p >= 0 && (!a.rope || p < a.P); }

// Cluster barrier halves: a relaxed arrive (it waits for nothing in flight; see k_dec for why the
// position read is done before it) and a wait with acquire semantics.
__device__ __forceinline__ void cluster_arrive_relaxed() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("barrier.cluster.arrive.relaxed;\n" ::: "memory");
#endif
}
__device__ __forceinline__ void cluster_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("barrier.cluster.wait;\n" ::: "memory");
#else
  __trap();  // never launched there: the host takes the cluster path only for sm_90 code
#endif
}

// Shared memory of one block, in floats (the ring rows start 16-byte aligned).
__host__ __device__ __forceinline__ int dec_ring_offset(int D, int grp, int W) {
  const int rpi = 4 * kDecThreads / D;  // state rows per pass of the block (see k_dec)
  const int n = 2 * grp * D + 4 * D + rpi * grp * D + 5 * grp * W;
  return (n + 3) & ~3;
}
inline size_t dec_smem_bytes(int D, int grp, int W) {
  return sizeof(float) * ((size_t)dec_ring_offset(D, grp, W) + 2 * (size_t)(W - 1) * (D + 4));
}

template <int D, int kAdv>
__global__ void __launch_bounds__(kDecThreads, 2) k_dec(const __grid_constant__ DecodeArgs a) {
  constexpr int C4 = D / 4;                // float4 per state row
  constexpr int RPI = kDecThreads / C4;    // state rows per pass of the block
  constexpr int SI = D / RPI;              // state float4 per thread
  constexpr int U = D / 32;                // elements per lane of a token row
  constexpr int LK = D + 4;                // ring row stride in shared memory: float4 rows without bank conflicts
  constexpr int Q4 = C4 / 4;               // float4 per quarter row (score loop)
  extern __shared__ __align__(16) float sm[];
  const int n = blockIdx.x, hh = blockIdx.y, tid = threadIdx.x, w = tid >> 5, lane = tid & 31;
  const int grp = a.Hq / a.Hkv, W = a.W, Wm = W - 1;
  float* qf = sm;                   // grp x D: phi(q)
  float* qr = qf + grp * D;         // grp x D: RoPE(q)
  float* kf = qr + grp * D;         // D: phi(k)
  float* eg = kf + D;               // D: exp(g)
  float* kr = eg + D;               // D: RoPE(k)
  float* vv = kr + D;               // D: v
  float* part = vv + D;             // RPI x grp x D: GRM output partials of the state row groups
  float* sp = part + RPI * grp * D; // 4 x grp x W: score partials of the four quarters of D
  float* prob = sp + 4 * grp * W;   // grp x W: window probabilities
  float* Ks = sm + dec_ring_offset(D, grp, W);  // (W-1) x LK: ring keys in slot order
  float* Vs = Ks + Wm * LK;                     // (W-1) x LK: ring values
  const int64_t head = (int64_t)n * a.Hkv + hh;
  const bool ring = a.rope && Wm > 0;

  // 1. In flight before the position is known.
  if (ring) {
    const float* gk = a.wk + head * Wm * D;
    const float* gv = a.wv + head * Wm * D;
    for (int idx = tid; idx < Wm * C4; idx += kDecThreads) {
      const int s = idx / C4, c = idx - s * C4;
      cp_async16(Ks + s * LK + 4 * c, gk + 4 * (int64_t)idx);
      cp_async16(Vs + s * LK + 4 * c, gv + 4 * (int64_t)idx);
    }
    cp_async_commit();
  }
  // The token row of this warp's first pass (warp r < grp: query head hh * grp + r; warp grp: key and value).
  float x[U], vx[U];
  auto load_row = [&](int r) {
    const bool isq = r < grp;
    const View& src = isq ? a.q : a.k;
    const int64_t base = (int64_t)n * src.s0 + (int64_t)(isq ? hh * grp + r : hh) * src.s2;
#pragma unroll
    for (int u = 0; u < U; ++u) x[u] = load_as_float(src, base + (int64_t)(lane + 32 * u) * src.s3);
    if (!isq) {
      const int64_t vb = (int64_t)n * a.v.s0 + (int64_t)hh * a.v.s2;
#pragma unroll
      for (int u = 0; u < U; ++u) vx[u] = load_as_float(a.v, vb + (int64_t)(lane + 32 * u) * a.v.s3);
    }
  };
  if (w <= grp) load_row(w);
  float4* S4 = reinterpret_cast<float4*>(a.state + head * D * D);
  const int c4 = tid % C4, r0 = tid / C4;  // this thread: columns 4 c4 .. 4 c4 + 3 of rows r0 + RPI i
  float4 sv[SI];
#pragma unroll
  for (int i = 0; i < SI; ++i) sv[i] = S4[(r0 + RPI * i) * C4 + c4];

  // 2. The position: thread 0 reads it into shared memory. Its shared store needs the loaded value,
  // so the read is done when the store issues, before the thread's cluster arrive that follows; the
  // other threads read only the shared copy, and the state loads stay in flight meanwhile.
  __shared__ int64_t p_sh;
  if (tid == 0) p_sh = a.pos[n];
  if constexpr (kAdv == kAdvCluster) cluster_arrive_relaxed();
  __syncthreads();
  const int64_t p = p_sh;
  const bool ok = dec_pos_ok(a, p);
  if (ok) {
    // 3. Token rows: feature maps, gate, RoPE (a second pass only with 8 query heads per KV head).
    for (int r = w; r <= grp; r += kDecThreads / 32) {
      const bool isq = r < grp;
      if (r != w) load_row(r);
      float cs[U / 2], sn[U / 2];
      if (a.rope) {
#pragma unroll
        for (int u = 0; u < U / 2; ++u) {
          const int j = lane + 32 * u;
          cs[u] = a.cos[p * a.cs0 + j * a.cs1];
          sn[u] = a.sin[p * a.ss0 + j * a.ss1];
        }
        // d < D/2 pairs with d + D/2: the same lane, register u + U/2.
        float* dst = isq ? qr + r * D : kr;
#pragma unroll
        for (int u = 0; u < U; ++u) {
          const int uc = u < U / 2 ? u : u - U / 2, up = u < U / 2 ? u + U / 2 : u - U / 2;
          dst[lane + 32 * u] = u < U / 2 ? x[u] * cs[uc] - x[up] * sn[uc] : x[u] * cs[uc] + x[up] * sn[uc];
        }
      }
      float f[U];
      if (isq || a.variant == LIGER_VARIANT_GLA) {  // softmax feature map
        float m = -INFINITY;
#pragma unroll
        for (int u = 0; u < U; ++u) m = fmaxf(m, x[u]);
        m = dwarp_max(m);
        float s = 0.f;
#pragma unroll
        for (int u = 0; u < U; ++u) s += __expf(x[u] - m);
        s = dwarp_sum(s);
        const float inv = 1.f / s;
#pragma unroll
        for (int u = 0; u < U; ++u) f[u] = __expf(x[u] - m) * inv;
      } else {
#pragma unroll
        for (int u = 0; u < U; ++u) f[u] = 1.f - sigmoidf_(x[u]);
      }
      float* fd = isq ? qf + r * D : kf;
#pragma unroll
      for (int u = 0; u < U; ++u) fd[lane + 32 * u] = f[u];
      if (!isq) {
        const float gs = a.variant == LIGER_VARIANT_GLA ? 1.f / a.gate_norm : 1.f;
#pragma unroll
        for (int u = 0; u < U; ++u) {
          eg[lane + 32 * u] = a.use_gate ? __expf(logsigmoidf(x[u]) * gs) : 1.f;
          vv[lane + 32 * u] = vx[u];
        }
      }
    }
    __syncthreads();

    // 4. GRM: S = diag(exp(g)) S + phi(k)^T v, written back; partial o_grm = phi(q) S over this
    // thread's rows (times mix with the window branch), summed over the RPI row groups at the end.
    const float gm = a.rope ? a.mix : 1.f;
    {
      const float4 v4 = reinterpret_cast<const float4*>(vv)[c4];
#pragma unroll
      for (int i = 0; i < SI; ++i) {
        const int d = r0 + RPI * i;
        const float e = eg[d], kv = kf[d];
        sv[i] = make_float4(sv[i].x * e + kv * v4.x, sv[i].y * e + kv * v4.y, sv[i].z * e + kv * v4.z,
                            sv[i].w * e + kv * v4.w);
        S4[d * C4 + c4] = sv[i];
      }
      for (int h0 = 0; h0 < grp; h0 += 4) {
        float acc[4][4] = {};
#pragma unroll
        for (int i = 0; i < SI; ++i) {
          const int d = r0 + RPI * i;
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            if (h0 + e >= grp) continue;
            const float qv = qf[(h0 + e) * D + d];
            acc[e][0] += qv * sv[i].x;
            acc[e][1] += qv * sv[i].y;
            acc[e][2] += qv * sv[i].z;
            acc[e][3] += qv * sv[i].w;
          }
        }
#pragma unroll
        for (int e = 0; e < 4; ++e)
          if (h0 + e < grp)
            reinterpret_cast<float4*>(part + (r0 * grp + h0 + e) * D)[c4] =
                make_float4(gm * acc[e][0], gm * acc[e][1], gm * acc[e][2], gm * acc[e][3]);
      }
    }
    if (ring) cp_async_wait_all();
    __syncthreads();

    // 5. Window: keys j < nprev are ring slots j (slot order; with p < W - 1 exactly the slots
    // 0 .. p - 1 hold positions), key nprev is the token itself.
    const int nprev = a.rope ? (int)(p < Wm ? p : Wm) : 0, nk = nprev + 1;
    if (a.rope) {
      const int kq = tid & 63, qt = tid >> 6;  // key, quarter of D
      for (int j = kq; j < nk; j += 64) {
        const float4* row = reinterpret_cast<const float4*>((j < nprev ? Ks + j * LK : kr) + qt * (D / 4));
        float acc[kDecMaxGrp];
#pragma unroll
        for (int h = 0; h < kDecMaxGrp; ++h) acc[h] = 0.f;
#pragma unroll
        for (int i = 0; i < Q4; ++i) {
          const float4 k4 = row[i];
#pragma unroll
          for (int h = 0; h < kDecMaxGrp; ++h) {
            if (h >= grp) break;
            const float4 q4 = reinterpret_cast<const float4*>(qr + h * D + qt * (D / 4))[i];
            acc[h] += q4.x * k4.x + q4.y * k4.y + q4.z * k4.z + q4.w * k4.w;
          }
        }
#pragma unroll
        for (int h = 0; h < kDecMaxGrp; ++h)
          if (h < grp) sp[(qt * grp + h) * W + j] = acc[h];
      }
      __syncthreads();
      for (int h = w; h < grp; h += kDecThreads / 32) {
        float* pr = prob + h * W;
        float mx = -INFINITY;
        for (int j = lane; j < nk; j += 32) {
          const float s = (sp[h * W + j] + sp[(grp + h) * W + j] + sp[(2 * grp + h) * W + j] +
                           sp[(3 * grp + h) * W + j]) * a.swa_scale;
          pr[j] = s;
          mx = fmaxf(mx, s);
        }
        mx = dwarp_max(mx);
        float sum = 0.f;
        for (int j = lane; j < nk; j += 32) {
          const float e = __expf(pr[j] - mx);
          pr[j] = e;
          sum += e;
        }
        sum = dwarp_sum(sum);
        const float inv = 1.f / sum;
        for (int j = lane; j < nk; j += 32) pr[j] *= inv;
      }
      __syncthreads();

      // 6. Window output: this thread adds (1 - mix) P V over the keys r0, r0 + RPI, ... for its
      // columns 4 c4 .. 4 c4 + 3 to its own GRM partials (the same (r0, c4) slots of part).
      const float sm1 = 1.f - a.mix;
      for (int h0 = 0; h0 < grp; h0 += 4) {
        float acc[4][4] = {};
        for (int j = r0; j < nk; j += RPI) {
          const float4 v4 = reinterpret_cast<const float4*>(j < nprev ? Vs + j * LK : vv)[c4];
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            if (h0 + e >= grp) continue;
            const float pj = prob[(h0 + e) * W + j];
            acc[e][0] += pj * v4.x;
            acc[e][1] += pj * v4.y;
            acc[e][2] += pj * v4.z;
            acc[e][3] += pj * v4.w;
          }
        }
#pragma unroll
        for (int e = 0; e < 4; ++e)
          if (h0 + e < grp) {
            float4* dst = reinterpret_cast<float4*>(part + (r0 * grp + h0 + e) * D) + c4;
            const float4 g4 = *dst;
            *dst = make_float4(g4.x + sm1 * acc[e][0], g4.y + sm1 * acc[e][1], g4.z + sm1 * acc[e][2],
                               g4.w + sm1 * acc[e][3]);
          }
      }
      __syncthreads();
    }

    // 7. Output: the sum of the RPI partials (mix * o_grm + (1 - mix) * o_swa; o_grm alone without the window).
    for (int idx = tid; idx < grp * D; idx += kDecThreads) {
      const int h = idx / D, jc = idx - h * D;
      float o = 0.f;
#pragma unroll
      for (int r = 0; r < RPI; ++r) o += part[(r * grp + h) * D + jc];
      store_from_float(a.out, (int64_t)n * a.out.s0 + (int64_t)(hh * grp + h) * a.out.s2 + (int64_t)jc * a.out.s3, o);
    }
    // The token into slot p % (W - 1): the slot's old row was read into shared memory above.
    if (ring) {
      const int64_t o = (head * Wm + p % Wm) * D;
      for (int d = tid; d < D; d += kDecThreads) {
        a.wk[o + d] = kr[d];
        a.wv[o + d] = vv[d];
      }
    }
  } else {
    // Checked here rather than on the host (no copy back, no synchronisation): the sequence's outputs
    // become NaN, its cache is left as it was, and the next decode call reports the position.
    for (int idx = tid; idx < grp * D; idx += kDecThreads) {
      const int h = idx / D, jc = idx - h * D;
      store_from_float(a.out, (int64_t)n * a.out.s0 + (int64_t)(hh * grp + h) * a.out.s2 + (int64_t)jc * a.out.s3,
                       __int_as_float(0x7fc00000));
    }
    if (tid == 0 && hh == 0) {  // several bad sequences: one of them is reported
      report_bad_position(a.flag, n, (long long)p);
    }
    if (ring) cp_async_wait_all();
  }
  // 8. Advance the position once every block of the sequence has read it.
  if constexpr (kAdv == kAdvCluster) {
    cluster_wait();
    if (hh == 0 && tid == 0 && ok) a.pos[n] = p + 1;
  } else if constexpr (kAdv == kAdvBlock) {
    __syncthreads();
    if (tid == 0 && ok) a.pos[n] = p + 1;
  }
}

__global__ void k_dec_advance(int64_t* pos, int n, int rope, int64_t P) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) {
    const int64_t p = pos[i];
    if (p >= 0 && (!rope || p < P)) pos[i] = p + 1;
  }
}

template <int D>
const void* dec_kernel(int adv) {
  switch (adv) {
    case kAdvCluster: return (const void*)k_dec<D, kAdvCluster>;
    case kAdvBlock: return (const void*)k_dec<D, kAdvBlock>;
    default: return (const void*)k_dec<D, kAdvLaunch>;
  }
}

// Per device: does it launch clusters, and its shared-memory limit per block (queried once).
struct DevInfo {
  int dev = -1, cluster = 0, max_smem = 0;
};

liger_status dev_info(DevInfo& out) {
  static thread_local DevInfo seen[8];
  int dev = 0;
  LIGER_CK(cudaGetDevice(&dev));
  for (const DevInfo& d : seen)
    if (d.dev == dev) {
      out = d;
      return LIGER_OK;
    }
  DevInfo d;
  d.dev = dev;
  LIGER_CK(cudaDeviceGetAttribute(&d.cluster, cudaDevAttrClusterLaunch, dev));
  LIGER_TRY(smem_limit(d.max_smem));
  seen[dev & 7] = d;
  out = d;
  return LIGER_OK;
}

// How many clusters of `size` blocks of this kernel can be resident at once (0: its code is not sm_90
// or a cluster does not fit a GPC); remembered per (device, kernel, size, shared memory).
liger_status max_clusters(const void* kern, int dev, int size, size_t smem, cudaStream_t st, int& clusters) {
  struct Seen {
    const void* kern;
    int dev, size;
    size_t smem;
    int clusters;
  };
  static thread_local Seen seen[16];
  static thread_local int next = 0;
  for (const Seen& s : seen)
    if (s.kern == kern && s.dev == dev && s.size == size && s.smem == smem) {
      clusters = s.clusters;
      return LIGER_OK;
    }
  bool sm90 = false;
  LIGER_TRY(sm90_code(kern, sm90));
  clusters = 0;
  if (sm90) {
    cudaLaunchConfig_t cfg = {};
    cudaLaunchAttribute attr[1];
    attr[0].id = cudaLaunchAttributeClusterDimension;
    attr[0].val.clusterDim.x = 1;
    attr[0].val.clusterDim.y = (unsigned)size;
    attr[0].val.clusterDim.z = 1;
    cfg.gridDim = dim3(1, (unsigned)size);
    cfg.blockDim = dim3(kDecThreads);
    cfg.dynamicSmemBytes = smem;
    cfg.stream = st;
    cfg.attrs = attr;
    cfg.numAttrs = 1;
    LIGER_CK(cudaOccupancyMaxActiveClusters(&clusters, kern, &cfg));
  }
  seen[next] = Seen{kern, dev, size, smem, clusters};
  next = (next + 1) % 16;
  return LIGER_OK;
}

template <int D>
liger_status launch(const DecodeArgs& a, int adv, size_t smem, cudaStream_t st) {
  cudaLaunchConfig_t cfg = {};
  cudaLaunchAttribute attr[1];
  cfg.gridDim = dim3((unsigned)a.N, (unsigned)a.Hkv);
  cfg.blockDim = dim3(kDecThreads);
  cfg.dynamicSmemBytes = smem;
  cfg.stream = st;
  if (adv == kAdvCluster) {
    attr[0].id = cudaLaunchAttributeClusterDimension;
    attr[0].val.clusterDim.x = 1;
    attr[0].val.clusterDim.y = (unsigned)a.Hkv;
    attr[0].val.clusterDim.z = 1;
    cfg.attrs = attr;
    cfg.numAttrs = 1;
    LIGER_CK(cudaLaunchKernelEx(&cfg, k_dec<D, kAdvCluster>, a));
  } else if (adv == kAdvBlock) {
    LIGER_CK(cudaLaunchKernelEx(&cfg, k_dec<D, kAdvBlock>, a));
  } else {
    LIGER_CK(cudaLaunchKernelEx(&cfg, k_dec<D, kAdvLaunch>, a));
    k_dec_advance<<<(unsigned)((a.N + 255) / 256), 256, 0, st>>>(a.pos, a.N, a.rope, a.P);
  }
  LIGER_CK_LAUNCH("decode");
  return LIGER_OK;
}

}  // namespace

liger_status decode_fast(const DecodeArgs& a, cudaStream_t st, bool& taken) {
  taken = false;
  if ((a.D != 64 && a.D != 128) || a.Hkv < 1 || a.Hq % a.Hkv || a.Hq / a.Hkv > kDecMaxGrp || a.W < 1 ||
      a.N < 1 || a.Hkv > 65535)
    return LIGER_OK;
  const int grp = a.Hq / a.Hkv;
  const size_t smem = dec_smem_bytes(a.D, grp, a.W);
  DevInfo di;
  LIGER_TRY(dev_info(di));
  if (smem + 64 > (size_t)di.max_smem) return LIGER_OK;  // + the position's static slot
  int adv = a.Hkv == 1 ? kAdvBlock : (di.cluster && a.Hkv <= 8 ? kAdvCluster : kAdvLaunch);
  const void* kern = a.D == 64 ? dec_kernel<64>(adv) : dec_kernel<128>(adv);
  LIGER_TRY(set_smem(kern, smem, "decode"));
  if (adv == kAdvCluster) {
    // Clusters only while every sequence's cluster is resident at once. Beyond one wave they cost
    // GPU time (run 25d, batch 64 = 64 clusters of 8 where 2 blocks fit an SM: 61.9 us a step, the
    // same kernel without clusters 51.9, and with the advance launch 54.6), more than the second
    // launch's ~4 us of host time, which a GPU-bound step hides.
    int clusters = 0;
    LIGER_TRY(max_clusters(kern, di.dev, a.Hkv, smem, st, clusters));
    if (clusters < a.N) {
      adv = kAdvLaunch;
      kern = a.D == 64 ? dec_kernel<64>(adv) : dec_kernel<128>(adv);
      LIGER_TRY(set_smem(kern, smem, "decode"));
    }
  }
  LIGER_TRY(a.D == 64 ? launch<64>(a, adv, smem, st) : launch<128>(a, adv, smem, st));
  taken = true;
  return LIGER_OK;
}

}  // namespace cuda
}  // namespace liger
