// Native microbenchmark: this machine's fp32 FMA peak and the CPU Liger kernels' throughput.
//
// FLOP count of the chunked algorithm (what the kernels must compute; chunk C = 64, per KV head,
// G = Hq / Hkv query heads per KV head, D = head dim, W = window, full windows assumed):
//   GRM forward, per chunk:   state update Kd^T V             2 C D^2
//                             per query head: Q h (inter)     2 C D^2
//                                             causal scores   C^2 D   (lower triangle)
//                                             scores x V      C^2 D
//   SWA forward, per query row: scores 2 W D, probabilities x V 2 W D
//   GRM backward, per chunk:  state recompute 2 C D^2; V dH^T and Kd dH 4 C D^2;
//                             per query head: dO h^T, Qe^T dO 4 C D^2; scores, dA, dq, dk, dv
//                             intra terms 5 C^2 D
//   SWA backward, per query row: scores, output, dP, dq, dk, dv: 12 W D
// Elementwise work (feature maps, gates, exps, RoPE) is not counted.
//
// Usage: liger_bench [threads=2] [reps=5] [cpu]. With `cpu` (1 thread only) the peak and the kernels
// are timed in thread CPU time, which stays meaningful while other processes load the machine.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <random>
#include <thread>
#include <vector>

#include "liger/liger.h"

namespace {

typedef float v16 __attribute__((vector_size(64)));

// Wall clock, or with `cpu` the calling thread's CPU time (single-threaded runs on a shared machine:
// time other processes take from this thread is not counted).
bool g_cpu_time = false;
double now() {
  if (g_cpu_time) {
    timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// 12 independent FMA chains of 16 lanes (enough to cover FMA latency x throughput).
float fma_loop(int64_t iters) {
  v16 a[12], m = v16{} + 1.0000001f, c = v16{} + 1e-7f;
  for (int i = 0; i < 12; ++i) a[i] = v16{} + float(i);
  for (int64_t it = 0; it < iters; ++it)
    for (int i = 0; i < 12; ++i) a[i] = a[i] * m + c;
  float s = 0;
  for (int i = 0; i < 12; ++i) s += a[i][0];
  return s;
}

double fma_peak(int threads) {
  const int64_t iters = 20000000;
  std::vector<double> runs;
  for (int rep = 0; rep < 5; ++rep) {
    std::vector<std::thread> ts;
    std::vector<float> sink(static_cast<size_t>(threads), 0.f);
    double t0 = now(), dt;
    if (threads == 1) {  // on the calling thread, so that CPU time can measure it
      sink[0] = fma_loop(iters);
      dt = now() - t0;
    } else {
      for (int t = 0; t < threads; ++t) ts.emplace_back([&, t] { sink[size_t(t)] = fma_loop(iters); });
      for (auto& t : ts) t.join();
      dt = now() - t0;
    }
    if (sink[0] == 12345.f) std::printf(" ");
    runs.push_back(2.0 * 16 * 12 * double(iters) * threads / dt / 1e9);
  }
  std::sort(runs.begin(), runs.end());
  return runs[runs.size() - 1];  // best of 5: the peak
}

liger_tensor view(std::vector<float>& b, int64_t B, int64_t T, int64_t H, int64_t D) {
  liger_tensor t{};
  t.data = b.data();
  t.dtype = LIGER_F32;
  t.ndim = 4;
  t.shape[0] = B, t.shape[1] = T, t.shape[2] = H, t.shape[3] = D;
  t.stride[3] = 1, t.stride[2] = D, t.stride[1] = H * D, t.stride[0] = T * H * D;
  return t;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  int threads = argc > 1 ? std::atoi(argv[1]) : 2;
  int reps = argc > 2 ? std::atoi(argv[2]) : 5;
  g_cpu_time = argc > 3 && std::strcmp(argv[3], "cpu") == 0;
  if (g_cpu_time && threads != 1) {
    std::printf("cpu time needs 1 thread\n");
    return 2;
  }
  double p1 = fma_peak(1), pn = threads > 1 ? fma_peak(threads) : p1;
  if (threads > 1) std::printf("fp32 FMA peak: 1 thread %.1f GFLOP/s, %d threads %.1f GFLOP/s\n", p1, threads, pn);
  else std::printf("fp32 FMA peak: 1 thread %.1f GFLOP/s\n", p1);
  const double peak = pn;
  const int64_t B = 1, Hq = 32, Hkv = 8, D = 128, W = 64, C = 64, G = Hq / Hkv;
  std::printf("Liger attention, B=%lld Hq=%lld Hkv=%lld D=%lld W=%lld fp32, %d threads, %d timed calls after "
              "one warm-up, %s\n",
              (long long)B, (long long)Hq, (long long)Hkv, (long long)D, (long long)W, threads, reps,
              g_cpu_time ? "thread CPU time" : "wall clock");
  std::printf("GFLOP/s, %% of peak and peak/achieved use the best call against the %d-thread peak "
              "(target: peak/achieved <= 3)\n", threads);
  std::printf("%-17s %6s %8s %10s %10s %9s %10s %14s\n", "kernel", "T", "GFLOP", "median ms", "best ms",
              "GFLOP/s", "% of peak", "peak/achieved");
  for (int64_t T : {2048, 8192}) {
    std::mt19937 rng(1);
    std::normal_distribution<float> nd(0.f, 1.f);
    std::vector<float> q(size_t(T * Hq * D)), k(size_t(T * Hkv * D)), v(size_t(T * Hkv * D)), o(q.size()),
        dO(q.size()), dq(q.size()), dk(k.size()), dv(v.size()), cs(size_t(T * D / 2)), sn(cs.size());
    for (auto* a : {&q, &k, &v, &dO})
      for (auto& x : *a) x = nd(rng);
    for (int64_t p = 0; p < T; ++p)
      for (int64_t j = 0; j < D / 2; ++j) {
        double ang = double(p) * std::pow(10000.0, -2.0 * double(j) / double(D));
        cs[size_t(p * D / 2 + j)] = float(std::cos(ang)), sn[size_t(p * D / 2 + j)] = float(std::sin(ang));
      }
    liger_attn_params a{};
    a.device = LIGER_CPU, a.num_threads = threads;
    a.B = B, a.T = T, a.Hq = Hq, a.Hkv = Hkv, a.D = D;
    a.use_gate = 1, a.gate_norm = 16, a.mix = 0.5f, a.window = int32_t(W), a.swa_scale = float(1 / std::sqrt(double(D)));
    a.q = view(q, B, T, Hq, D), a.k = view(k, B, T, Hkv, D), a.v = view(v, B, T, Hkv, D), a.o = view(o, B, T, Hq, D);
    a.rope_cos = view(cs, 1, 1, T, D / 2), a.rope_sin = view(sn, 1, 1, T, D / 2);
    a.rope_cos.ndim = a.rope_sin.ndim = 2;
    a.rope_cos.shape[0] = a.rope_sin.shape[0] = T, a.rope_cos.shape[1] = a.rope_sin.shape[1] = D / 2;
    a.rope_cos.stride[0] = a.rope_sin.stride[0] = D / 2, a.rope_cos.stride[1] = a.rope_sin.stride[1] = 1;
    a.do_ = view(dO, B, T, Hq, D), a.dq = view(dq, B, T, Hq, D), a.dk = view(dk, B, T, Hkv, D),
    a.dv = view(dv, B, T, Hkv, D);
    std::vector<double> tf, tb, tfb;
    for (int r = 0; r < reps + 1; ++r) {
      double t0 = now();
      if (liger_attn_forward(&a) != LIGER_OK) { std::printf("error: %s\n", liger_last_error()); return 1; }
      double t1 = now();
      if (liger_attn_backward(&a) != LIGER_OK) { std::printf("error: %s\n", liger_last_error()); return 1; }
      double t2 = now();
      if (r > 0) tf.push_back(t1 - t0), tb.push_back(t2 - t1), tfb.push_back(t2 - t0);  // first call warms up
    }
    const double chunks = double(T) / C;
    const double grm_f = double(Hkv) * chunks * (2.0 * C * D * D + G * (2.0 * C * D * D + 2.0 * C * C * D));
    const double swa_f = double(Hq) * T * 4.0 * W * D;
    const double grm_b = double(Hkv) * chunks * (6.0 * C * D * D + G * (4.0 * C * D * D + 5.0 * C * C * D));
    const double swa_b = double(Hq) * T * 12.0 * W * D;
    const double ff = (grm_f + swa_f) / 1e9, fbk = (grm_b + swa_b) / 1e9;
    auto row = [&](const char* name, double gf, const std::vector<double>& t) {
      const double best = *std::min_element(t.begin(), t.end()), rate = gf / best;
      std::printf("%-17s %6lld %8.2f %10.1f %10.1f %9.1f %9.1f%% %14.2f\n", name, (long long)T, gf,
                  median(t) * 1e3, best * 1e3, rate, 100.0 * rate / peak, peak / rate);
    };
    row("forward", ff, tf);
    row("backward", fbk, tb);
    row("forward+backward", ff + fbk, tfb);
  }
  // One-token decode step with a full window ring (position 4096), B = 1 and 16.
  for (int64_t Bd : {1, 16}) {
    const int64_t P = 4097;
    std::mt19937 rng(2);
    std::normal_distribution<float> nd(0.f, 1.f);
    std::vector<float> q(size_t(Bd * Hq * D)), k(size_t(Bd * Hkv * D)), v(k.size()), o(q.size()),
        cs(size_t(P * D / 2)), sn(cs.size()), st(size_t(Bd * Hkv * D * D)), wk(size_t(Bd * Hkv * (W - 1) * D)),
        wv(wk.size());
    for (auto* a : {&q, &k, &v, &st, &wk, &wv})
      for (auto& x : *a) x = nd(rng);
    std::vector<int64_t> pos(size_t(Bd), 4096);
    liger_attn_params a{};
    a.device = LIGER_CPU, a.num_threads = threads;
    a.B = Bd, a.T = 1, a.Hq = Hq, a.Hkv = Hkv, a.D = D;
    a.use_gate = 1, a.gate_norm = 16, a.mix = 0.5f, a.window = int32_t(W), a.swa_scale = float(1 / std::sqrt(double(D)));
    a.q = view(q, Bd, 1, Hq, D), a.k = view(k, Bd, 1, Hkv, D), a.v = view(v, Bd, 1, Hkv, D), a.o = view(o, Bd, 1, Hq, D);
    a.rope_cos = view(cs, 1, 1, P, D / 2), a.rope_sin = view(sn, 1, 1, P, D / 2);
    a.rope_cos.ndim = a.rope_sin.ndim = 2;
    a.rope_cos.shape[0] = a.rope_sin.shape[0] = P, a.rope_cos.shape[1] = a.rope_sin.shape[1] = D / 2;
    a.rope_cos.stride[0] = a.rope_sin.stride[0] = D / 2, a.rope_cos.stride[1] = a.rope_sin.stride[1] = 1;
    a.cache_in.state = view(st, Bd, Hkv, D, D);
    a.cache_in.win_k = view(wk, Bd, Hkv, W - 1, D), a.cache_in.win_v = view(wv, Bd, Hkv, W - 1, D);
    a.cache_in.pos.data = pos.data(), a.cache_in.pos.dtype = LIGER_I64, a.cache_in.pos.ndim = 1;
    a.cache_in.pos.shape[0] = Bd, a.cache_in.pos.stride[0] = 1;
    std::vector<double> td;
    for (int r = 0; r < 51; ++r) {
      std::fill(pos.begin(), pos.end(), 4096);  // stay inside the RoPE table
      double t0 = now();
      if (liger_attn_decode(&a) != LIGER_OK) { std::printf("error: %s\n", liger_last_error()); return 1; }
      if (r > 0) td.push_back(now() - t0);
    }
    std::printf("decode step, B=%lld: %.1f us (median of 50)\n", (long long)Bd, median(td) * 1e6);
  }
  return 0;
}
