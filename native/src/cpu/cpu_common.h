// Shared helpers of the CPU kernels: strided element access with dtype conversion, 16-lane fp32
// vector helpers (GCC/Clang vector extensions: zmm with AVX-512, split otherwise), a vectorized
// exp, a small register-blocked GEMM, and the thread pool.
#pragma once
#include <cmath>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif
#include <cstdint>
#include <cstring>
#include <functional>
#include <vector>

#include "liger/liger.h"

namespace liger::cpu {

typedef float v16 __attribute__((vector_size(64), aligned(4)));
typedef int32_t v16i __attribute__((vector_size(64), aligned(4)));

inline v16 load16(const float* p) { return *reinterpret_cast<const v16*>(p); }
inline void store16(float* p, v16 x) { *reinterpret_cast<v16*>(p) = x; }
inline v16 splat(float a) { return v16{} + a; }
// Sum of the 16 lanes as a tree of halvings (4 shuffle + add steps, not 15 dependent scalar adds).
inline float hsum(v16 x) {
  typedef float v8 __attribute__((vector_size(32)));
  typedef float v4 __attribute__((vector_size(16)));
  v8 a = __builtin_shufflevector(x, x, 0, 1, 2, 3, 4, 5, 6, 7) +
         __builtin_shufflevector(x, x, 8, 9, 10, 11, 12, 13, 14, 15);
  v4 b = __builtin_shufflevector(a, a, 0, 1, 2, 3) + __builtin_shufflevector(a, a, 4, 5, 6, 7);
  return (b[0] + b[2]) + (b[1] + b[3]);
}

// Round to the nearest integer (ties to even). The kernels are built with -fassociative-math, which
// would fold the usual (x + 1.5 * 2^23) - 1.5 * 2^23 into x; an instruction or a barrier keeps it.
inline v16 round_nearest(v16 x) {
#if defined(__AVX512F__)
  return (v16)_mm512_roundscale_ps((__m512)x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
#else
  v16 t = x + splat(12582912.0f);
  __asm__ volatile("" : "+m"(t));  // no reassociation across this point
  return t - splat(12582912.0f);
#endif
}

// exp for 16 lanes, Cephes expf polynomial (about 1 ulp); inputs below -87.3 give 0.
inline v16 exp16(v16 x) {
  const v16 hi = splat(88.3762626647949f), lo = splat(-87.3365447504f);
  x = x > hi ? hi : x;
  v16 under = x < lo ? splat(0.f) : splat(1.f);
  x = x < lo ? lo : x;
  v16 n = round_nearest(x * 1.44269504088896341f);
  v16 r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  v16 p = splat(1.9875691500E-4f);
  p = p * r + 1.3981999507E-3f;
  p = p * r + 8.3334519073E-3f;
  p = p * r + 4.1665795894E-2f;
  p = p * r + 1.6666665459E-1f;
  p = p * r + 5.0000001201E-1f;
  p = p * r * r + r + 1.0f;
  v16i e = (__builtin_convertvector(n, v16i) + 127) << 23;
  v16 scale;
  std::memcpy(&scale, &e, sizeof scale);
  return p * scale * under;
}
inline float exp1(float x) {
  v16 v = splat(x);
  return exp16(v)[0];
}
// y[i] = exp(x[i]) for n elements (x and y may alias).
inline void vexp(const float* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) store16(y + i, exp16(load16(x + i)));
  if (i < n) {
    alignas(64) float buf[16] = {0};
    for (int64_t j = i; j < n; ++j) buf[j - i] = x[j];
    v16 r = exp16(load16(buf));
    for (int64_t j = i; j < n; ++j) y[j] = r[j - i];
  }
}
inline float dot(const float* a, const float* b, int64_t n) {
  v16 s0{}, s1{};
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    s0 += load16(a + i) * load16(b + i);
    s1 += load16(a + i + 16) * load16(b + i + 16);
  }
  for (; i + 16 <= n; i += 16) s0 += load16(a + i) * load16(b + i);
  float s = hsum(s0 + s1);
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}
// y += a * x
inline void axpy(float a, const float* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) store16(y + i, load16(y + i) + a * load16(x + i));
  for (; i < n; ++i) y[i] += a * x[i];
}

inline float bf16_to_f32(uint16_t h) {
  uint32_t u = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline uint16_t f32_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40);  // quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);                                          // round to nearest even
  return uint16_t(u >> 16);
}

// Row access of a [B,T,H,D]-like tensor: element (b, t, h, d).
struct View4 {
  char* base;
  int32_t dtype;
  int64_t s0, s1, s2, s3;
  View4() : base(nullptr), dtype(0), s0(0), s1(0), s2(0), s3(0) {}
  explicit View4(const liger_tensor& t)
      : base(static_cast<char*>(t.data)), dtype(t.dtype),
        s0(t.stride[0]), s1(t.stride[1]), s2(t.stride[2]), s3(t.stride[3]) {}
  bool present() const { return base != nullptr; }
  size_t esize() const { return dtype == LIGER_BF16 ? 2 : 4; }
  // Reads n elements of row (b, t, h) into out as fp32.
  void read(int64_t b, int64_t t, int64_t h, int64_t n, float* out) const {
    int64_t off = b * s0 + t * s1 + h * s2;
    if (dtype == LIGER_F32) {
      const float* p = reinterpret_cast<const float*>(base) + off;
      if (s3 == 1) std::memcpy(out, p, size_t(n) * 4);
      else for (int64_t d = 0; d < n; ++d) out[d] = p[d * s3];
    } else {
      const uint16_t* p = reinterpret_cast<const uint16_t*>(base) + off;
      for (int64_t d = 0; d < n; ++d) out[d] = bf16_to_f32(p[d * s3]);
    }
  }
  // Prefetches rows (b, t .. t+c-1, h): rows are strided far apart ([B,T,H,D] layouts), which the
  // hardware prefetcher does not follow.
  void prefetch(int64_t b, int64_t t, int64_t c, int64_t h, int64_t n) const {
    if (!base || s3 != 1) return;
    const int64_t bytes = n * int64_t(esize());
    for (int64_t i = 0; i < c; ++i) {
      const char* p = base + (b * s0 + (t + i) * s1 + h * s2) * int64_t(esize());
      for (int64_t o = 0; o < bytes; o += 64) __builtin_prefetch(p + o);
    }
  }
  void write(int64_t b, int64_t t, int64_t h, int64_t n, const float* in) const {
    int64_t off = b * s0 + t * s1 + h * s2;
    if (dtype == LIGER_F32) {
      float* p = reinterpret_cast<float*>(base) + off;
      if (s3 == 1) std::memcpy(p, in, size_t(n) * 4);
      else for (int64_t d = 0; d < n; ++d) p[d * s3] = in[d];
    } else {
      uint16_t* p = reinterpret_cast<uint16_t*>(base) + off;
      for (int64_t d = 0; d < n; ++d) p[d * s3] = f32_to_bf16(in[d]);
    }
  }
};

// Sequence n of a batch: rows [t0, t0 + len) of batch index b.
struct SeqSpan {
  int64_t b, t0, len;
};
inline SeqSpan seq_span(const liger_tensor& cu, int64_t n) {
  if (cu.data) {
    const int64_t* c = static_cast<const int64_t*>(cu.data);
    return {0, c[n * cu.stride[0]], c[(n + 1) * cu.stride[0]] - c[n * cu.stride[0]]};
  }
  return {n, 0, -1};  // len filled by caller (T)
}

// C[M x N] (=|+=) A[M x K] * B[K x N]; row-major fp32 with leading dimensions.
void gemm(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb,
          float* C, int64_t ldc, bool accumulate);
// C[M x N] (=|+=) A^T * B with A stored [K x M] (leading dimension lda): no transposed copy needed.
void gemm_tn(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb,
             float* C, int64_t ldc, bool accumulate);
// dst[c x r] = src[r x c]^T
void transpose(int64_t r, int64_t c, const float* src, int64_t lds, float* dst, int64_t ldd);

// Runs fn(item, worker) for item in [0, n) on up to `threads` workers (worker < threads).
void parallel_for(int64_t n, int threads, const std::function<void(int64_t, int)>& fn);
int resolve_threads(int32_t requested);
void set_default_threads(int n);
// Uninitialized fp32 scratch of at least n elements owned by the calling thread (valid until its
// next call of thread_scratch).
float* thread_scratch(int64_t n);

}  // namespace liger::cpu
