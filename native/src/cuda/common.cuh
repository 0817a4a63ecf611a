// Shared pieces of the CUDA backend: error checking, typed strided loads/stores, the host-side
// sequence/chunk plan, a stream-ordered workspace, and a small shared-memory matrix product.
#pragma once
#include <cuda_runtime.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>
#include <type_traits>
#include <stdlib.h>
#include <vector>

#include "../backend.h"

namespace liger {
namespace cuda {

constexpr int kChunk = 64;   // chunk length C of the chunked recurrence
constexpr int kSub = 16;     // sub-chunk of the intra-chunk scores (reference rows)
constexpr int kMaxD = 128;   // largest head dimension the kernels hold in shared memory
constexpr int kThreads = 512;

#define LIGER_CK(call)                                                                       \
  do {                                                                                       \
    cudaError_t e_ = (call);                                                                 \
    if (e_ != cudaSuccess)                                                                   \
      return ::liger::fail(LIGER_ERR_RUNTIME, "CUDA error in %s: %s (%s:%d)", #call,          \
                           cudaGetErrorString(e_), __FILE__, __LINE__);                      \
  } while (0)

#define LIGER_CK_LAUNCH(what)                                                                \
  do {                                                                                       \
    cudaError_t e_ = cudaGetLastError();                                                     \
    if (e_ != cudaSuccess)                                                                   \
      return ::liger::fail(LIGER_ERR_RUNTIME, "CUDA launch of %s failed: %s", what,          \
                           cudaGetErrorString(e_));                                          \
  } while (0)

#define LIGER_TRY(expr)                  \
  do {                                   \
    liger_status s_ = (expr);            \
    if (s_ != LIGER_OK) return s_;       \
  } while (0)

// A strided 4-d view passed to kernels by value; element type chosen at run time.
struct View {
  void* data;
  int dtype;
  int64_t s0, s1, s2, s3;
};

inline View view_of(const liger_tensor& t) {
  View v;
  v.data = t.data;
  v.dtype = t.dtype;
  v.s0 = t.stride[0];
  v.s1 = t.ndim > 1 ? t.stride[1] : 0;
  v.s2 = t.ndim > 2 ? t.stride[2] : 0;
  v.s3 = t.ndim > 3 ? t.stride[3] : 0;
  return v;
}

__device__ __forceinline__ float load_as_float(const View& v, int64_t off) {
  switch (v.dtype) {
    case LIGER_BF16: return __bfloat162float(static_cast<const __nv_bfloat16*>(v.data)[off]);
    case LIGER_F16: return __half2float(static_cast<const __half*>(v.data)[off]);
    default: return static_cast<const float*>(v.data)[off];
  }
}

__device__ __forceinline__ void store_from_float(const View& v, int64_t off, float x) {
  switch (v.dtype) {
    case LIGER_BF16: static_cast<__nv_bfloat16*>(v.data)[off] = __float2bfloat16(x); break;
    case LIGER_F16: static_cast<__half*>(v.data)[off] = __float2half(x); break;
    default: static_cast<float*>(v.data)[off] = x; break;
  }
}

// Element (token tok of the packed sequence axis, head h, feature d). The packed axis is B*T for
// dense batches (b = tok / T, t = tok % T) and T for B = 1 varlen batches.
// 32-bit division: make_plan keeps the packed length under 2^30 (a 64-bit division per element cost
// more than the loads it addressed).
__device__ __forceinline__ int64_t voff(const View& v, int64_t tok, int64_t T, int64_t h, int64_t d) {
  const int b = (int)tok / (int)T;
  return (int64_t)b * v.s0 + (tok - (int64_t)b * T) * v.s1 + h * v.s2 + d * v.s3;
}

// One chunk of the packed sequence axis: never crosses a sequence boundary.
struct Chunk {
  int seq;     // sequence index n
  int start;   // first packed token
  int len;     // 1..kChunk
  int first;   // first chunk of this sequence (so chunk - first is its index inside the sequence)
};

struct SeqInfo {
  int64_t start, len;   // packed tokens [start, start+len)
  int first_chunk, num_chunks;
  int64_t pos0;         // RoPE position of its first token (0, or the cache's position)
};

// Host plan of sequences and chunks, mirrored on the device.
struct Plan {
  std::vector<SeqInfo> seqs;
  std::vector<Chunk> chunks;
  int64_t total = 0;  // packed tokens
};

// Builds the plan from optional cu_seqlens (device, copied back and checked) and B, T.
liger_status make_plan(const liger_tensor& cu_seqlens, int64_t B, int64_t T, cudaStream_t stream,
                       Plan& plan);

// Checks that a non-null data pointer is device-accessible memory of the current device.
liger_status check_device_ptr(const void* p, const char* name);

// Where the decode kernel reports a bad cache position: mapped pinned host memory, written by the
// device and read by the host at the next decode call (no synchronisation in the call itself).
struct alignas(16) DecodeFlag {
  int bad;   // set by the device, cleared by the host when reported
  int seq;
  long long pos;
};
liger_status decode_flag(DecodeFlag** host, DecodeFlag** device);

// A kernel's report of a bad position: the three fields in one 16-byte store, so that several bad
// sequences (blocks racing to report) leave one whole report, never the sequence of one and the
// position of another.
__device__ __forceinline__ void report_bad_position(DecodeFlag* f, int seq, long long pos) {
  const int lo = (int)(unsigned long long)pos, hi = (int)((unsigned long long)pos >> 32);
  asm volatile("st.volatile.global.v4.s32 [%0], {%1, %2, %3, %4};\n" ::"l"(__cvta_generic_to_global(f)), "r"(1),
               "r"(seq), "r"(lo), "r"(hi)
               : "memory");
}

// Keeps the current device's default memory pool from returning freed memory to the driver at
// every synchronization (release threshold 0), which made each workspace allocation cost ~1 ms.
liger_status keep_pool_memory();

// Stream-ordered scratch memory, freed (stream-ordered) when it goes out of scope.
class Workspace {
 public:
  explicit Workspace(cudaStream_t s) : stream_(s) {}
  ~Workspace() {
    if (base_) cudaFreeAsync(base_, stream_);
  }
  // Reserve n floats (or bytes for raw) before allocate(); returns the offset.
  size_t reserve_bytes(size_t n) {
    size_t off = size_;
    size_ += (n + 255) & ~size_t(255);
    return off;
  }
  liger_status allocate() {
    if (size_ == 0) return LIGER_OK;
    LIGER_TRY(keep_pool_memory());
    cudaError_t e = cudaMallocAsync(&base_, size_, stream_);
    if (e != cudaSuccess)
      return fail(LIGER_ERR_RUNTIME, "CUDA workspace allocation of %zu bytes failed: %s", size_,
                  cudaGetErrorString(e));
    return LIGER_OK;
  }
  template <class T>
  T* at(size_t off) const { return reinterpret_cast<T*>(static_cast<char*>(base_) + off); }

 private:
  cudaStream_t stream_;
  void* base_ = nullptr;
  size_t size_ = 0;
};

// C(m, n) = sum_k A(m, k) B(k, n) with A(m, k) = A[m*am + k*ak] and B(k, n) = B[k*bk + n*bn],
// computed by the whole block, TM x TN outputs per thread; ep(m, n, value) consumes each output.
// M must be a multiple of TM and N of TN. Rows of one thread are M/TM apart and columns N/TN apart,
// so that a warp reads consecutive B elements (no bank conflicts for bn == 1). 32-bit indices:
// every operand is a shared-memory tile or a workspace slice well under 2^31 elements.
template <int TM = 4, int TN = 4, class Ep>
__device__ __forceinline__ void block_mm(int M, int N, int K, const float* A, int am, int ak,
                                         const float* B, int bk, int bn, Ep ep) {
  const int tn = N / TN, tm = M / TM;
  const int tiles = tm * tn;
  for (int t = threadIdx.x; t < tiles; t += blockDim.x) {
    const int mt = t / tn, nt = t - mt * tn;
    float acc[TM][TN];
#pragma unroll
    for (int i = 0; i < TM; ++i)
#pragma unroll
      for (int j = 0; j < TN; ++j) acc[i][j] = 0.f;
    const float* a0 = A + mt * am;
    const float* b0 = B + nt * bn;
    const int as = tm * am, bs = tn * bn;
#pragma unroll 4
    for (int k = 0; k < K; ++k) {
      float a[TM], b[TN];
#pragma unroll
      for (int i = 0; i < TM; ++i) a[i] = a0[i * as];
#pragma unroll
      for (int j = 0; j < TN; ++j) b[j] = b0[j * bs];
      a0 += ak;
      b0 += bk;
#pragma unroll
      for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
#pragma unroll
    for (int i = 0; i < TM; ++i)
#pragma unroll
      for (int j = 0; j < TN; ++j) ep(mt + i * tm, nt + j * tn, acc[i][j]);
  }
}

// Row stride of a shared-memory tile with n columns. CUDA-core products read along rows and
// columns, so an odd stride (n + 1) avoids bank conflicts; the tensor-core fragment loads read 8 rows
// x 4 columns per instruction, which are conflict-free when the stride is 4 mod 8.
__host__ __device__ __forceinline__ int tile_stride(int n, bool tc) {
  return tc ? n + ((n & 4) ? 8 : 4) : n + 1;
}

__device__ __forceinline__ uint32_t to_tf32(float x) {
  uint32_t r;
  asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(x));
  return r;
}

// One operand pair of a tensor-core product: A(m, k) = A[m*am + k*ak], B(k, n) = B[k*bk + n*bn].
struct MmOperands {
  int K;
  const float* A;
  int am, ak;
  const float* B;
  int bk, bn;
};

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
// acc (16 x 8 NA warp tile at rows m0, columns n0) += A B over the pair's K, tails zero-filled.
template <int NA>
__device__ __forceinline__ void mma_tile_tf32(float (&acc)[NA][4], const MmOperands& o, int m0, int n0, int N) {
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
    const uint32_t a0 = oka ? to_tf32(alo[ka * o.ak]) : 0u, a1 = oka ? to_tf32(ahi[ka * o.ak]) : 0u;
    const uint32_t a2 = okb ? to_tf32(alo[kb * o.ak]) : 0u, a3 = okb ? to_tf32(ahi[kb * o.ak]) : 0u;
#pragma unroll
    for (int j = 0; j < NA; ++j) {
      const uint32_t b0 = (nok[j] && oka) ? to_tf32(bp[j][ka * o.bk]) : 0u;
      const uint32_t b1 = (nok[j] && okb) ? to_tf32(bp[j][kb * o.bk]) : 0u;
      asm("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
          "{%0,%1,%2,%3};"
          : "+f"(acc[j][0]), "+f"(acc[j][1]), "+f"(acc[j][2]), "+f"(acc[j][3])
          : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
    }
  };
  const int kfull = o.K & ~7;
  // Unrolled so that several steps' operand loads (global ones included) are in flight at once.
#pragma unroll 4
  for (int k0 = 0; k0 < kfull; k0 += 8) step(k0, false);
  if (kfull < o.K) step(kfull, true);
}
#endif

// Sum of up to two products (p1 + p2, same M x N) on tensor cores: mma.sync m16n8k8 with tf32
// operands (10-bit mantissa, rounded to nearest from the fp32 tiles) and fp32 accumulators, sm_80+.
// Each warp owns 16 x (8 NA) outputs and calls ep(m, n, value) once per output. M must be a
// multiple of 16; N and K may be ragged (zero-filled tails). p2.K == 0: a single product.
template <int NA = 4, class Ep>
__device__ __forceinline__ void block_mm_tc2(int M, int N, const MmOperands& p1, const MmOperands& p2, Ep ep) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
  const int g = lane >> 2, tq = lane & 3;
  const int tm = M >> 4, tn = (N + 8 * NA - 1) / (8 * NA);
  for (int t = warp; t < tm * tn; t += nwarps) {
    const int m0 = (t / tn) * 16, n0 = (t % tn) * (8 * NA);
    float acc[NA][4];
#pragma unroll
    for (int j = 0; j < NA; ++j) acc[j][0] = acc[j][1] = acc[j][2] = acc[j][3] = 0.f;
    mma_tile_tf32<NA>(acc, p1, m0, n0, N);
    if (p2.K > 0) mma_tile_tf32<NA>(acc, p2, m0, n0, N);
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

template <int NA = 4, class Ep>
__device__ __forceinline__ void block_mm_tc(int M, int N, int K, const float* A, int am, int ak,
                                            const float* B, int bk, int bn, Ep ep) {
  block_mm_tc2<NA>(M, N, MmOperands{K, A, am, ak, B, bk, bn}, MmOperands{0, nullptr, 0, 0, nullptr, 0, 0}, ep);
}

// Tensor cores when tc (16-bit inputs: tf32 rounding is below their own precision) and the shape
// allows, else the fp32 CUDA-core product (fp32 inputs keep full precision).
template <int TM = 4, int TN = 4, int NA = 4, class Ep>
__device__ __forceinline__ void mm(bool tc, int M, int N, int K, const float* A, int am, int ak,
                                   const float* B, int bk, int bn, Ep ep) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  if (tc && (M & 15) == 0) {
    block_mm_tc<NA>(M, N, K, A, am, ak, B, bk, bn, ep);
    return;
  }
#endif
  block_mm<TM, TN>(M, N, K, A, am, ak, B, bk, bn, ep);
}

// Block-wide element copy with U loads in flight per thread: ld(idx) -> value, st(idx, value).
// A plain loop would wait for each global load before issuing the next.
template <int U = 8, class Ld, class St>
__device__ __forceinline__ void batched_copy(int n, Ld ld, St st) {
  for (int base = threadIdx.x; base < n; base += U * blockDim.x) {
    float v[U];
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int idx = base + u * blockDim.x;
      v[u] = idx < n ? ld(idx) : 0.f;
    }
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int idx = base + u * blockDim.x;
      if (idx < n) st(idx, v[u]);
    }
  }
}

#ifndef LIGER_UWARP  // 0: the plain index (for an A/B of the broadcast)
#define LIGER_UWARP 1
#endif
// The calling warp's index, broadcast from lane 0 so that the compiler knows every lane holds the same value:
// branches and loop bounds derived from it (a unit's row block, its key steps) are then uniform, and the code around
// the tensor-core instructions in them needs no reconvergence or warp-sync instructions. All lanes must be converged.
__device__ __forceinline__ int warp_id_uniform() {
#if LIGER_UWARP
  return __shfl_sync(0xffffffffu, (int)(threadIdx.x >> 5), 0);
#else
  return (int)(threadIdx.x >> 5);
#endif
}

// bf16 tensor-core building blocks (sm_80+): ldmatrix fragment loads from shared memory and
// mma.sync m16n8k16 with fp32 accumulators. Fragment layouts (lane = 4 g + tq): an accumulator
// holds rows g and g + 8, columns 2 tq and 2 tq + 1 of its 16 x 8 tile.
__device__ __forceinline__ uint32_t smem_addr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// cp.async of 16 bytes global -> shared (sm_80+); the _zf form writes zeros and reads nothing when !ok (gmem must
// still be a valid address: callers pass the view's base then). The group commit, the wait for all but N of this
// thread's groups and the wait for all; "memory" clobbers so that no shared access moves across them.
__device__ __forceinline__ void cp_async16(void* smem, const void* gmem) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(smem_addr(smem)), "l"(gmem) : "memory");
#endif
}
__device__ __forceinline__ void cp_async16_zf(void* smem, const void* gmem, bool ok) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_addr(smem)), "l"(gmem), "r"(ok ? 16 : 0)
               : "memory");
#endif
}
__device__ __forceinline__ void cp_async_commit() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.commit_group;\n" ::: "memory");
#endif
}
template <int N>
__device__ __forceinline__ void cp_async_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
#endif
}
__device__ __forceinline__ void cp_async_wait_all() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.wait_all;\n" ::: "memory");
#endif
}

// Named barriers between some warps of a block (ids 1..15; __syncthreads uses 0). A producer warp arrives
// without waiting (its earlier shared-memory writes are visible to the waiters once the barrier completes);
// a consumer waits until count threads, its own warp's included, have arrived. count: a multiple of 32.
__device__ __forceinline__ void named_arrive(int id, int count) {
  asm volatile("bar.arrive %0, %1;\n" ::"r"(id), "r"(count) : "memory");
}
__device__ __forceinline__ void named_sync(int id, int count) {
  asm volatile("bar.sync %0, %1;\n" ::"r"(id), "r"(count) : "memory");
}

// A (16 x 16 at row m0, column k0) of a row-major bf16 tile with row stride ld (a multiple of 8).
__device__ __forceinline__ void ld_a(uint32_t (&a)[4], const __nv_bfloat16* t, int ld, int m0, int k0) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  const int lane = threadIdx.x & 31;
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];"
               : "=r"(a[0]), "=r"(a[1]), "=r"(a[2]), "=r"(a[3])
               : "r"(smem_addr(t + (m0 + (lane & 15)) * ld + k0 + (lane >> 4) * 8)));
#endif
}

// B fragments of two n8 tiles (n0, n0 + 8) over k0..k0+15 from a tile stored [n][k] (k contiguous):
// b[0], b[1] for tile n0, b[2], b[3] for tile n0 + 8.
__device__ __forceinline__ void ld_b_nk(uint32_t (&b)[4], const __nv_bfloat16* t, int ld, int n0, int k0) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  const int lane = threadIdx.x & 31;
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];"
               : "=r"(b[0]), "=r"(b[1]), "=r"(b[2]), "=r"(b[3])
               : "r"(smem_addr(t + (n0 + (lane & 7) + (lane >> 4) * 8) * ld + k0 + ((lane >> 3) & 1) * 8)));
#endif
}

// The same from a tile stored [k][n] (n contiguous), through the transposing load.
__device__ __forceinline__ void ld_b_kn(uint32_t (&b)[4], const __nv_bfloat16* t, int ld, int n0, int k0) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  const int lane = threadIdx.x & 31;
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];"
               : "=r"(b[0]), "=r"(b[1]), "=r"(b[2]), "=r"(b[3])
               : "r"(smem_addr(t + (k0 + (lane & 7) + ((lane >> 3) & 1) * 8) * ld + n0 + (lane >> 4) * 8)));
#endif
}

// A fragment of a 16 x 16 block (m0.., k0..) from a tile stored [k][m] (m contiguous), through the
// transposing load (products with a transposed left operand: P^T dO, Q^T dO).
__device__ __forceinline__ void ld_a_km(uint32_t (&a)[4], const __nv_bfloat16* t, int ld, int m0, int k0) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  const int lane = threadIdx.x & 31;
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];"
               : "=r"(a[0]), "=r"(a[1]), "=r"(a[2]), "=r"(a[3])
               : "r"(smem_addr(t + (k0 + (lane & 7) + (lane >> 4) * 8) * ld + m0 + ((lane >> 3) & 1) * 8)));
#endif
}

__device__ __forceinline__ void mma_bf16(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#endif
}

__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
  __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<uint32_t*>(&v);
}
__device__ __forceinline__ float2 unpack_bf16(uint32_t x) {
  return __bfloat1622float2(*reinterpret_cast<__nv_bfloat162*>(&x));
}

// The 16-bit input types of the fast kernels (bf16 and fp16 q, k, v, o): an element or a packed pair to and
// from fp32. Their tiles and mma operands are bf16 either way: fp16 values are read as fp16 and rounded to
// bf16 only where a tile holds them (fp16's range fits bf16's; bf16 keeps 8 of its 11 significant bits).
__device__ __forceinline__ float to_float(__nv_bfloat16 x) { return __bfloat162float(x); }
__device__ __forceinline__ float to_float(__half x) { return __half2float(x); }
template <typename T>
__device__ __forceinline__ T from_float(float x);
template <>
__device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float x) { return __float2bfloat16(x); }
template <>
__device__ __forceinline__ __half from_float<__half>(float x) { return __float2half_rn(x); }
template <typename T>
__device__ __forceinline__ float2 unpack2(uint32_t x);
template <>
__device__ __forceinline__ float2 unpack2<__nv_bfloat16>(uint32_t x) { return unpack_bf16(x); }
template <>
__device__ __forceinline__ float2 unpack2<__half>(uint32_t x) { return __half22float2(*reinterpret_cast<__half2*>(&x)); }
template <typename T>
__device__ __forceinline__ uint32_t pack2(float lo, float hi);
template <>
__device__ __forceinline__ uint32_t pack2<__nv_bfloat16>(float lo, float hi) { return pack_bf16(lo, hi); }
template <>
__device__ __forceinline__ uint32_t pack2<__half>(float lo, float hi) {
  __half2 v = __floats2half2_rn(lo, hi);
  return *reinterpret_cast<uint32_t*>(&v);
}
// Two elements as a packed pair.
__device__ __forceinline__ uint32_t pack_pair(__nv_bfloat16 lo, __nv_bfloat16 hi) {
  const __nv_bfloat162 p(lo, hi);
  return *reinterpret_cast<const uint32_t*>(&p);
}
__device__ __forceinline__ uint32_t pack_pair(__half lo, __half hi) {
  const __half2 p(lo, hi);
  return *reinterpret_cast<const uint32_t*>(&p);
}
// An element as bf16 (unchanged for bf16).
__device__ __forceinline__ __nv_bfloat16 to_bf16(__nv_bfloat16 x) { return x; }
__device__ __forceinline__ __nv_bfloat16 to_bf16(__half x) { return __float2bfloat16(__half2float(x)); }
// Eight T in shared memory (one 16-byte piece a thread copied there by cp.async, after its wait) rounded to bf16
// in place; nothing for bf16.
template <typename T>
__device__ __forceinline__ void piece_to_bf16(__nv_bfloat16* p) {
  if (std::is_same<T, __nv_bfloat16>::value) return;
  uint32_t w[4];
  *reinterpret_cast<uint4*>(w) = *reinterpret_cast<const uint4*>(p);
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const float2 f = unpack2<T>(w[i]);
    w[i] = pack_bf16(f.x, f.y);
  }
  *reinterpret_cast<uint4*>(p) = *reinterpret_cast<const uint4*>(w);
}
template <typename T>
__host__ __device__ constexpr liger_dtype dtype_of();
template <>
__host__ __device__ constexpr liger_dtype dtype_of<__nv_bfloat16>() { return LIGER_BF16; }
template <>
__host__ __device__ constexpr liger_dtype dtype_of<__half>() { return LIGER_F16; }

// Packs a warp's 16 x 16 fp32 tile held as two m16n8 accumulators (x[0]: columns 0-7, x[1]: 8-15) into
// the bf16 A fragment of m16n8k16 (the accumulator and A layouts match lane for lane).
__device__ __forceinline__ void pack_a_frag(uint32_t (&a)[4], const float (&x)[2][4]) {
  a[0] = pack_bf16(x[0][0], x[0][1]);
  a[1] = pack_bf16(x[0][2], x[0][3]);
  a[2] = pack_bf16(x[1][0], x[1][1]);
  a[3] = pack_bf16(x[1][2], x[1][3]);
}

// p[0] += x, p[1] += y in global memory without a round trip (the result is not returned): one 8-byte vector
// reduction on sm_90+, two 4-byte ones before. A thread's reductions to one address apply in its program order, so
// a sum a thread first stores and then adds to is formed in that order, as by a load, an add and a store.
__device__ __forceinline__ void red_add_f2(float* p, float x, float y) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  atomicAdd(reinterpret_cast<float2*>(p), make_float2(x, y));
#else
  atomicAdd(p, x);
  atomicAdd(p + 1, y);
#endif
}

// A pair of adjacent state elements as loaded (bf16 pair or fp32 pair) and as fp32.
__device__ __forceinline__ uint32_t pair_raw(const __nv_bfloat16* p) { return *reinterpret_cast<const uint32_t*>(p); }
__device__ __forceinline__ float2 pair_raw(const float* p) { return *reinterpret_cast<const float2*>(p); }
__device__ __forceinline__ float2 pair_val(uint32_t x) { return unpack_bf16(x); }
__device__ __forceinline__ float2 pair_val(float2 x) { return x; }

// The chunk-state scan of the bf16 fast paths on two adjacent elements (s0, s1) per thread, over the n chunks of one
// sequence and KV head: before each chunk's update the running pair is stored as bf16 to op (the entering state,
// or in the backward the gradient w.r.t. it, which the tiles round to bf16 anyway), then s = exp(gl) s + in. Chunk
// i's increment is at ip + i is, its log-gate at gp + i gs, its output at op + i is: negative strides walk the
// chunks backwards. (s0, s1) enter as the first chunk's state and leave as the value after the last. The scan is
// latency-bound, not byte-bound (runs 19f-3, 20f-1, 30s): NB chunks' loads per batch, and the next batch's loads
// are issued before this batch's stores and sums, so that a thread always has one batch in flight (run 47s: 16
// chunks double-buffered, 88 registers, k_fscan_pairs -14% against 32 single-buffered; 32 double-buffered spill).
constexpr int kScanBatch = 16;
template <int NB, typename IT>
__device__ __forceinline__ void scan_chunk_pairs(const IT* ip, const float* gp, __nv_bfloat16* op, int64_t is,
                                                 int64_t gs, int n, float& s0, float& s1) {
  using Raw = decltype(pair_raw(ip));
  const auto load = [&](int i0, Raw (&x)[NB], float (&g)[NB]) {
#pragma unroll
    for (int u = 0; u < NB; ++u) {
      if (i0 + u < n) {
        x[u] = pair_raw(ip + (i0 + u) * is);
        g[u] = gp[(i0 + u) * gs];
      }
    }
  };
  Raw x[NB];
  float g[NB];
  load(0, x, g);
  for (int i0 = 0; i0 < n; i0 += NB) {
    Raw xn[NB];
    float gn[NB];
    load(i0 + NB, xn, gn);
#pragma unroll
    for (int u = 0; u < NB; ++u) {
      if (i0 + u < n) {
        *reinterpret_cast<uint32_t*>(op + (i0 + u) * is) = pack_bf16(s0, s1);
        const float dec = __expf(g[u]);
        const float2 xv = pair_val(x[u]);
        s0 = s0 * dec + xv.x;
        s1 = s1 * dec + xv.y;
      }
    }
#pragma unroll
    for (int u = 0; u < NB; ++u) {
      x[u] = xn[u];
      g[u] = gn[u];
    }
  }
}

__device__ __forceinline__ float logsigmoidf(float x) {
  return fminf(x, 0.f) - log1pf(__expf(-fabsf(x)));
}
__device__ __forceinline__ float sigmoidf_(float x) { return 1.f / (1.f + __expf(-x)); }

// The dynamic shared memory a block may opt into on the current device: the device's limit, or
// LIGER_CUDA_SMEM_LIMIT (bytes) when that is set and smaller, so that a larger GPU can run the code
// paths of a smaller one (A100: 166912, sm_86 / sm_89: 101376). Queried once per device.
liger_status smem_limit(int& bytes);
// Whether kern's code on the current device was compiled for sm_90 or newer (SASS, or PTX of compute_90+):
// only then does it hold thread-block cluster barriers and griddepcontrol. A compute_80/89 PTX build that
// the driver JIT-compiles for a newer GPU reports binaryVersion >= 90 but holds neither. Remembered per
// (kernel, device).
liger_status sm90_code(const void* kern, bool& yes);
// Raises the dynamic shared-memory limit of a kernel and checks the device can give it.
liger_status set_smem(const void* kernel, size_t bytes, const char* name);

}  // namespace cuda
}  // namespace liger
