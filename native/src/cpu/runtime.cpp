// GEMM, transpose and the worker pool shared by the CPU kernels.
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>

#include "cpu_common.h"

namespace liger::cpu {

namespace {

// MR rows x (16 * NV) columns register tile: C += A * B over K.
template <int MR, int NV>
inline void micro(int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb, float* C,
                  int64_t ldc, bool accumulate) {
  v16 c[MR][NV];
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NV; ++v) c[r][v] = accumulate ? load16(C + r * ldc + 16 * v) : v16{};
  for (int64_t k = 0; k < K; ++k) {
    v16 b[NV];
    for (int v = 0; v < NV; ++v) b[v] = load16(B + k * ldb + 16 * v);
    for (int r = 0; r < MR; ++r) {
      float a = A[r * lda + k];
      for (int v = 0; v < NV; ++v) c[r][v] += a * b[v];
    }
  }
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NV; ++v) store16(C + r * ldc + 16 * v, c[r][v]);
}

template <int NV>
inline void rows(int64_t M, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb,
                 float* C, int64_t ldc, bool acc) {
  int64_t i = 0;
  for (; i + 8 <= M; i += 8) micro<8, NV>(K, A + i * lda, lda, B, ldb, C + i * ldc, ldc, acc);
  if (i + 4 <= M) { micro<4, NV>(K, A + i * lda, lda, B, ldb, C + i * ldc, ldc, acc); i += 4; }
  if (i + 2 <= M) { micro<2, NV>(K, A + i * lda, lda, B, ldb, C + i * ldc, ldc, acc); i += 2; }
  if (i < M) micro<1, NV>(K, A + i * lda, lda, B, ldb, C + i * ldc, ldc, acc);
}

}  // namespace

void gemm(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb,
          float* C, int64_t ldc, bool accumulate) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    if (!accumulate)
      for (int64_t i = 0; i < M; ++i) std::fill(C + i * ldc, C + i * ldc + N, 0.f);
    return;
  }
  int64_t j = 0;
  for (; j + 32 <= N; j += 32) rows<2>(M, K, A, lda, B + j, ldb, C + j, ldc, accumulate);
  for (; j + 16 <= N; j += 16) rows<1>(M, K, A, lda, B + j, ldb, C + j, ldc, accumulate);
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
    rows<1>(M, K, A, lda, tb.data(), 16, tc.data(), 16, accumulate);
    for (int64_t i = 0; i < M; ++i)
      for (int64_t x = 0; x < w; ++x) C[i * ldc + j + x] = tc[size_t(i * 16 + x)];
  }
}

void transpose(int64_t r, int64_t c, const float* src, int64_t lds, float* dst, int64_t ldd) {
  constexpr int64_t BS = 16;
  for (int64_t i0 = 0; i0 < r; i0 += BS)
    for (int64_t j0 = 0; j0 < c; j0 += BS) {
      int64_t i1 = std::min(r, i0 + BS), j1 = std::min(c, j0 + BS);
      for (int64_t j = j0; j < j1; ++j)
        for (int64_t i = i0; i < i1; ++i) dst[j * ldd + i] = src[i * lds + j];
    }
}

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
