// GEMM, transpose and the worker pool shared by the CPU kernels.
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "cpu_common.h"

namespace liger::cpu {

namespace {

// MR rows x (16 * NV) columns register tile: C += op(A) * B over K. TA: A is stored transposed
// ([K x M], element (r, k) at A[k * lda + r]), so products with A^T need no transposed copy.
template <int MR, int NV, bool TA>
inline void micro(int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb, float* C,
                  int64_t ldc, bool accumulate) {
  v16 c[MR][NV];
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NV; ++v) c[r][v] = accumulate ? load16(C + r * ldc + 16 * v) : v16{};
  for (int64_t k = 0; k < K; ++k) {
    v16 b[NV];
    for (int v = 0; v < NV; ++v) b[v] = load16(B + k * ldb + 16 * v);
    for (int r = 0; r < MR; ++r) {
      float a = TA ? A[k * lda + r] : A[r * lda + k];
      for (int v = 0; v < NV; ++v) c[r][v] += a * b[v];
    }
  }
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NV; ++v) store16(C + r * ldc + 16 * v, c[r][v]);
}

template <int NV, bool TA>
inline void rows(int64_t M, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb,
                 float* C, int64_t ldc, bool acc) {
  // row i of op(A) starts at A + i * rs
  const int64_t rs = TA ? 1 : lda;
  int64_t i = 0;
  for (; i + 8 <= M; i += 8) micro<8, NV, TA>(K, A + i * rs, lda, B, ldb, C + i * ldc, ldc, acc);
  if (i + 4 <= M) { micro<4, NV, TA>(K, A + i * rs, lda, B, ldb, C + i * ldc, ldc, acc); i += 4; }
  if (i + 2 <= M) { micro<2, NV, TA>(K, A + i * rs, lda, B, ldb, C + i * ldc, ldc, acc); i += 2; }
  if (i < M) micro<1, NV, TA>(K, A + i * rs, lda, B, ldb, C + i * ldc, ldc, acc);
}

template <bool TA>
void gemm_impl(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb,
               float* C, int64_t ldc, bool accumulate) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    if (!accumulate)
      for (int64_t i = 0; i < M; ++i) std::fill(C + i * ldc, C + i * ldc + N, 0.f);
    return;
  }
  int64_t j = 0;
  for (; j + 32 <= N; j += 32) rows<2, TA>(M, K, A, lda, B + j, ldb, C + j, ldc, accumulate);
  for (; j + 16 <= N; j += 16) rows<1, TA>(M, K, A, lda, B + j, ldb, C + j, ldc, accumulate);
  if (j < N) {
    // column tail (< 16): through zero-padded 16-wide copies of B's and C's tail columns
    const int64_t w = N - j;
    static thread_local std::vector<float> tb, tc;
    if (int64_t(tb.size()) < K * 16) tb.resize(size_t(K * 16));
    if (int64_t(tc.size()) < M * 16) tc.resize(size_t(M * 16));
    for (int64_t k = 0; k < K; ++k) {
      float* r = tb.data() + k * 16;
      std::fill(r + w, r + 16, 0.f);
      for (int64_t x = 0; x < w; ++x) r[x] = B[k * ldb + j + x];
    }
    if (accumulate)
      for (int64_t i = 0; i < M; ++i)
        for (int64_t x = 0; x < w; ++x) tc[size_t(i * 16 + x)] = C[i * ldc + j + x];
    rows<1, TA>(M, K, A, lda, tb.data(), 16, tc.data(), 16, accumulate);
    for (int64_t i = 0; i < M; ++i)
      for (int64_t x = 0; x < w; ++x) C[i * ldc + j + x] = tc[size_t(i * 16 + x)];
  }
}

}  // namespace

void gemm(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb,
          float* C, int64_t ldc, bool accumulate) {
  gemm_impl<false>(M, N, K, A, lda, B, ldb, C, ldc, accumulate);
}

void gemm_tn(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb,
             float* C, int64_t ldc, bool accumulate) {
  gemm_impl<true>(M, N, K, A, lda, B, ldb, C, ldc, accumulate);
}

#if defined(__AVX512F__)
// GCC 12's intrinsic headers trip -Wmaybe-uninitialized on their own placeholder operands.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
namespace {
// dst[j][0..rr) = src[0..rr)[j] for a tile of rr x cc (<= 16 x 16): in-register 16 x 16 transpose
// (unpack within 128-bit lanes, then lane shuffles); edges through masked loads and stores.
inline void transpose16(int64_t rr, int64_t cc, const float* src, int64_t lds, float* dst, int64_t ldd) {
  const __mmask16 cm = __mmask16((1u << cc) - 1u), rm = __mmask16((1u << rr) - 1u);
  __m512 r[16], t[16];
  for (int i = 0; i < 16; ++i) r[i] = i < rr ? _mm512_maskz_loadu_ps(cm, src + i * lds) : _mm512_setzero_ps();
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {  // r[i + x]: column 4L + x of rows i .. i+3, in lane L
    r[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
    r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xEE);
    r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
    r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
  }
  for (int x = 0; x < 4; ++x) {
    __m512 a = _mm512_shuffle_f32x4(r[x], r[x + 4], 0x88), b = _mm512_shuffle_f32x4(r[x], r[x + 4], 0xDD);
    __m512 c = _mm512_shuffle_f32x4(r[x + 8], r[x + 12], 0x88), d = _mm512_shuffle_f32x4(r[x + 8], r[x + 12], 0xDD);
    t[x] = _mm512_shuffle_f32x4(a, c, 0x88);       // column x
    t[x + 8] = _mm512_shuffle_f32x4(a, c, 0xDD);   // column x + 8
    t[x + 4] = _mm512_shuffle_f32x4(b, d, 0x88);   // column x + 4
    t[x + 12] = _mm512_shuffle_f32x4(b, d, 0xDD);  // column x + 12
  }
  for (int j = 0; j < cc; ++j) _mm512_mask_storeu_ps(dst + j * ldd, rm, t[j]);
}
}  // namespace

void transpose(int64_t r, int64_t c, const float* src, int64_t lds, float* dst, int64_t ldd) {
  for (int64_t i0 = 0; i0 < r; i0 += 16)
    for (int64_t j0 = 0; j0 < c; j0 += 16)
      transpose16(std::min<int64_t>(16, r - i0), std::min<int64_t>(16, c - j0), src + i0 * lds + j0, lds,
                  dst + j0 * ldd + i0, ldd);
}
#pragma GCC diagnostic pop
#else
void transpose(int64_t r, int64_t c, const float* src, int64_t lds, float* dst, int64_t ldd) {
  constexpr int64_t BS = 16;
  for (int64_t i0 = 0; i0 < r; i0 += BS)
    for (int64_t j0 = 0; j0 < c; j0 += BS) {
      int64_t i1 = std::min(r, i0 + BS), j1 = std::min(c, j0 + BS);
      for (int64_t j = j0; j < j1; ++j)
        for (int64_t i = i0; i < i1; ++i) dst[j * ldd + i] = src[i * lds + j];
    }
}
#endif

// ---- worker pool (std::thread, not OpenMP: libtorch brings its own OpenMP runtime) ----
namespace {

std::atomic<int> g_default_threads{0};

class Pool {
 public:
  ~Pool() {
    {
      std::lock_guard<std::mutex> l(m_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
  }
  // Runs a job with `threads` participants including the caller; returns false if the pool is
  // busy with another caller's job (the caller then runs serially).
  bool run(int64_t n, int threads, const std::function<void(int64_t, int)>& fn) {
    std::unique_lock<std::mutex> busy(busy_, std::try_to_lock);
    if (!busy.owns_lock()) return false;
    while (int(workers_.size()) < threads - 1) {
      int id = int(workers_.size()) + 1;
      workers_.emplace_back([this, id] { loop(id); });
    }
    {
      std::lock_guard<std::mutex> l(m_);
      fn_ = &fn;
      n_ = n;
      next_.store(0);
      active_ = threads - 1;
      participants_ = threads;
      error_ = nullptr;
      ++generation_;
    }
    cv_.notify_all();
    work(0);
    std::unique_lock<std::mutex> l(m_);
    done_cv_.wait(l, [this] { return active_ == 0; });
    fn_ = nullptr;
    if (error_) std::rethrow_exception(error_);
    return true;
  }

 private:
  void work(int id) {
    try {
      for (;;) {
        int64_t i = next_.fetch_add(1);
        if (i >= n_) break;
        (*fn_)(i, id);
      }
    } catch (...) {
      std::lock_guard<std::mutex> l(m_);
      if (!error_) error_ = std::current_exception();
      next_.store(n_);
    }
  }
  void loop(int id) {
    uint64_t seen = 0;
    for (;;) {
      {
        std::unique_lock<std::mutex> l(m_);
        cv_.wait(l, [&] { return stop_ || generation_ != seen; });
        if (stop_) return;
        seen = generation_;
        if (id >= participants_) continue;
      }
      work(id);
      std::lock_guard<std::mutex> l(m_);
      if (--active_ == 0) done_cv_.notify_all();
    }
  }
  std::mutex busy_, m_;
  std::condition_variable cv_, done_cv_;
  std::vector<std::thread> workers_;
  const std::function<void(int64_t, int)>* fn_ = nullptr;
  int64_t n_ = 0;
  std::atomic<int64_t> next_{0};
  int active_ = 0, participants_ = 0;
  uint64_t generation_ = 0;
  bool stop_ = false;
  std::exception_ptr error_;
};

Pool& pool() {
  static Pool p;
  return p;
}

}  // namespace

float* thread_scratch(int64_t n) {
  // Grow-only per-thread buffer: each OS thread runs one work item at a time, so the buffer is
  // reused by every item and call on that thread instead of being allocated (and page-faulted) each
  // call. Very large buffers are not kept beyond the call that needed them.
  struct Buf {
    std::unique_ptr<float[]> p;
    int64_t n = 0;
  };
  static thread_local Buf b;
  constexpr int64_t kKeep = int64_t(1) << 26;  // 256 MiB
  if (b.n > kKeep && n <= kKeep) {
    b.p.reset();
    b.n = 0;
  }
  if (n > b.n) {
    b.p.reset();
    b.p.reset(new float[size_t(n)]);
    b.n = n;
  }
  return b.p.get();
}

int resolve_threads(int32_t requested) {
  if (requested > 0) return std::min<int32_t>(requested, 256);
  int d = g_default_threads.load();
  if (d > 0) return d;
  unsigned hc = std::thread::hardware_concurrency();
  return hc == 0 ? 1 : int(std::min(hc, 256u));
}

void set_default_threads(int n) { g_default_threads.store(n); }

void parallel_for(int64_t n, int threads, const std::function<void(int64_t, int)>& fn) {
  if (n <= 0) return;
  if (threads > n) threads = int(n);
  if (threads <= 1 || !pool().run(n, threads, fn)) {
    for (int64_t i = 0; i < n; ++i) fn(i, 0);
  }
}

}  // namespace liger::cpu
