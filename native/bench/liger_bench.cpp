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

// ---------------------------------------------------------------- gated delta rule
// FLOPs of the CPU GDN kernels, per chunk (C = 64) and KV head, D = Dk = Dv, G query heads per KV head:
//   forward: A = K K^T 2C^2D; T = (I + A)^-1 by substitution C^3/3; W, U 4C^2D; W h 2CD^2;
//            state update 2CD^2; per query head Q K^T 2C^2D, Q h 2CD^2, scores x V' 2C^2D
//   backward: chunk-start states (the forward without outputs) 4CD^2 + 6C^2D + C^3/3;
//            chunk recompute (A, T, W, U, V') 2CD^2 + 6C^2D + C^3/3;
//            state-update terms Kd dH, V' dH^T 4CD^2; W^T dV', dV' h^T 4CD^2; T^T dW, T^T dU,
//            dT 8C^2D; dA = -T^T dT T^T 4C^3; (dKK + dKK^T) K 2C^2D;
//            per query head: Q K^T, P^T dO, dO V'^T, dS K, dS^T Q 10C^2D; dO h^T, Qe^T dO 4CD^2
// Plain GLA at the same shape is timed beside it (its FLOPs as in the header).
double cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

// FMA peak from each thread's own CPU time (summed over threads): comparable with CPU-time rates
// when other processes share the cores.
double fma_peak_cpu(int threads) {
  const int64_t iters = 20000000;
  double best = 0;
  for (int rep = 0; rep < 5; ++rep) {
    std::vector<std::thread> ts;
    std::vector<double> rate(size_t(threads), 0.0);
    std::vector<float> sink(size_t(threads), 0.f);
    for (int t = 0; t < threads; ++t)
      ts.emplace_back([&, t] {
        timespec a, b;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
        sink[size_t(t)] = fma_loop(iters);
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
        const double dt = double(b.tv_sec - a.tv_sec) + 1e-9 * double(b.tv_nsec - a.tv_nsec);
        rate[size_t(t)] = 2.0 * 16 * 12 * double(iters) / dt / 1e9;
      });
    for (auto& t : ts) t.join();
    if (sink[0] == 12345.f) std::printf(" ");
    double sum = 0;
    for (double r : rate) sum += r;
    best = std::max(best, sum);
  }
  return best;
}

int gdn_bench(int threads, int reps, double wall_peak) {
  const int64_t B = 1, Hq = 32, Hkv = 8, D = 128, C = 64, G = Hq / Hkv;
  const double peak = fma_peak_cpu(threads);
  std::printf("\nfp32 FMA peak from thread CPU time, %d threads: %.1f GFLOP/s (wall-clock peak above: %.1f)\n", threads,
              peak, wall_peak);
  std::printf("Gated delta rule (and plain GLA), B=%lld Hq=%lld Hkv=%lld D=%lld fp32, %d threads, median of %d;"
              " cpu = process CPU time / threads\n", (long long)B, (long long)Hq, (long long)Hkv, (long long)D,
              threads, reps);
  // rates from CPU time: wall time on a shared machine counts other processes' work
  std::printf("%6s %5s %9s %9s %9s %9s %9s %9s %11s %11s %8s %8s\n", "T", "", "GFLOP f", "GFLOP fb", "fwd ms",
              "fwd cpu", "f+b ms", "f+b cpu", "GFLOP/s f", "GFLOP/s fb", "%peak f", "%peak fb");
  for (int64_t T : {2048, 8192}) {
    std::mt19937 rng(3);
    std::normal_distribution<float> nd(0.f, 1.f);
    std::uniform_real_distribution<float> ud(0.f, 1.f);
    std::vector<float> q(size_t(T * Hq * D)), k(size_t(T * Hkv * D)), v(k.size()), o(q.size()), dO(q.size()),
        dq(q.size()), dk(k.size()), dv(v.size()), g(size_t(T * Hkv)), beta(g.size()), dg(g.size()), dbeta(g.size()),
        gk(k.size()), dgk(k.size());
    for (auto* a : {&v, &dO})
      for (auto& x : *a) x = nd(rng);
    for (auto* a : {&q, &k})  // L2-normalized rows, as the layer calls it
      for (size_t r = 0; r < a->size(); r += size_t(D)) {
        double n2 = 0;
        for (int64_t d = 0; d < D; ++d) n2 += double((*a)[r + size_t(d)] = nd(rng)) * (*a)[r + size_t(d)];
        for (int64_t d = 0; d < D; ++d) (*a)[r + size_t(d)] /= float(std::sqrt(n2));
      }
    for (auto& x : g) x = -0.05f * ud(rng);
    for (auto& x : beta) x = ud(rng);
    for (auto& x : gk) x = -0.05f * ud(rng);
    auto gate = [&](std::vector<float>& b) {
      liger_tensor t = view(b, B, T, Hkv, 1);
      t.ndim = 3;
      t.shape[3] = 1, t.stride[2] = 1, t.stride[1] = Hkv, t.stride[0] = T * Hkv, t.stride[3] = 0;
      return t;
    };
    for (int which = 0; which < 2; ++which) {  // 0: GDN, 1: plain GLA
      liger_gdn_params p{};
      liger_gla_params l{};
      if (which == 0) {
        p.device = LIGER_CPU, p.num_threads = threads;
        p.B = B, p.T = T, p.Hq = Hq, p.Hkv = Hkv, p.Dk = D, p.Dv = D, p.scale = float(1 / std::sqrt(double(D)));
        p.q = view(q, B, T, Hq, D), p.k = view(k, B, T, Hkv, D), p.v = view(v, B, T, Hkv, D);
        p.g = gate(g), p.beta = gate(beta), p.o = view(o, B, T, Hq, D);
      } else {
        l.device = LIGER_CPU, l.num_threads = threads;
        l.B = B, l.T = T, l.Hq = Hq, l.Hkv = Hkv, l.Dk = D, l.Dv = D, l.scale = float(1 / std::sqrt(double(D)));
        l.q = view(q, B, T, Hq, D), l.k = view(k, B, T, Hkv, D), l.v = view(v, B, T, Hkv, D);
        l.g = view(gk, B, T, Hkv, D), l.o = view(o, B, T, Hq, D);
        l.do_ = view(dO, B, T, Hq, D), l.dq = view(dq, B, T, Hq, D), l.dk = view(dk, B, T, Hkv, D);
        l.dv = view(dv, B, T, Hkv, D), l.dg = view(dgk, B, T, Hkv, D);
      }
      liger_gdn_params pb = p;
      pb.o = liger_tensor{};
      pb.do_ = view(dO, B, T, Hq, D), pb.dq = view(dq, B, T, Hq, D), pb.dk = view(dk, B, T, Hkv, D);
      pb.dv = view(dv, B, T, Hkv, D), pb.dg = gate(dg), pb.dbeta = gate(dbeta);
      std::vector<double> tf, tb, cf, cb;
      for (int r = 0; r < reps + 1; ++r) {
        const double t0 = now(), c0 = cpu_seconds();
        liger_status s = which == 0 ? liger_gdn_forward(&p) : liger_gla_forward(&l);
        const double t1 = now(), c1 = cpu_seconds();
        if (s == LIGER_OK) s = which == 0 ? liger_gdn_backward(&pb) : liger_gla_backward(&l);
        const double t2 = now(), c2 = cpu_seconds();
        if (s != LIGER_OK) {
          std::printf("error: %s\n", liger_last_error());
          return 1;
        }
        if (r > 0) tf.push_back(t1 - t0), tb.push_back(t2 - t0), cf.push_back(c1 - c0), cb.push_back(c2 - c0);
      }
      const double chunks = double(T) / C, Dd = double(D), Cd = double(C);
      double ff, fb;
      if (which == 0) {
        const double fwd = 4 * Cd * Dd * Dd + 6 * Cd * Cd * Dd + Cd * Cd * Cd / 3 +
                           G * (2 * Cd * Dd * Dd + 4 * Cd * Cd * Dd);
        const double bwd = 14 * Cd * Dd * Dd + 22 * Cd * Cd * Dd + 14 * Cd * Cd * Cd / 3 +
                           G * (4 * Cd * Dd * Dd + 10 * Cd * Cd * Dd);
        ff = double(Hkv) * chunks * fwd / 1e9, fb = double(Hkv) * chunks * (fwd + bwd) / 1e9;
      } else {
        const double fwd = 2 * Cd * Dd * Dd + G * (2 * Cd * Dd * Dd + 2 * Cd * Cd * Dd);
        const double bwd = 6 * Cd * Dd * Dd + G * (4 * Cd * Dd * Dd + 5 * Cd * Cd * Dd);
        ff = double(Hkv) * chunks * fwd / 1e9, fb = double(Hkv) * chunks * (fwd + bwd) / 1e9;
      }
      const double mf = median(tf), mb = median(tb), xf = median(cf) / threads, xb = median(cb) / threads;
      std::printf("%6lld %5s %9.2f %9.2f %9.1f %9.1f %9.1f %9.1f %11.1f %11.1f %8.1f %8.1f\n", (long long)T,
                  which == 0 ? "GDN" : "GLA", ff, fb, mf * 1e3, xf * 1e3, mb * 1e3, xb * 1e3, ff / xf, fb / xb,
                  100 * ff / xf / peak, 100 * fb / xb / peak);
    }
  }
  // One-token decode step (state updated in place), B = 1 and 16.
  for (int64_t Bd : {1, 16}) {
    std::mt19937 rng(4);
    std::normal_distribution<float> nd(0.f, 0.1f);
    std::vector<float> q(size_t(Bd * Hq * D)), k(size_t(Bd * Hkv * D)), v(k.size()), o(q.size()), g(size_t(Bd * Hkv)),
        beta(g.size()), st(size_t(Bd * Hkv * D * D));
    for (auto* a : {&q, &k, &v, &st})
      for (auto& x : *a) x = nd(rng);
    for (auto& x : g) x = -0.01f;
    for (auto& x : beta) x = 0.5f;
    liger_gdn_params p{};
    p.device = LIGER_CPU, p.num_threads = threads;
    p.B = Bd, p.T = 1, p.Hq = Hq, p.Hkv = Hkv, p.Dk = D, p.Dv = D, p.scale = float(1 / std::sqrt(double(D)));
    p.q = view(q, Bd, 1, Hq, D), p.k = view(k, Bd, 1, Hkv, D), p.v = view(v, Bd, 1, Hkv, D), p.o = view(o, Bd, 1, Hq, D);
    p.g = view(g, Bd, 1, Hkv, 1), p.beta = view(beta, Bd, 1, Hkv, 1);
    p.g.ndim = p.beta.ndim = 3;
    p.g.stride[3] = p.beta.stride[3] = 0;
    p.h0 = view(st, Bd, Hkv, D, D), p.ht = p.h0;
    std::vector<double> td;
    for (int r = 0; r < 51; ++r) {
      const double t0 = now();
      if (liger_gdn_decode(&p) != LIGER_OK) {
        std::printf("error: %s\n", liger_last_error());
        return 1;
      }
      if (r > 0) td.push_back(now() - t0);
    }
    std::printf("GDN decode step, B=%lld: %.1f us (median of 50, wall)\n", (long long)Bd, median(td) * 1e6);
  }
  return 0;
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
  if (argc > 3 && std::strcmp(argv[3], "gdn") == 0) return gdn_bench(threads, reps, peak);  // GDN section only
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
  return gdn_bench(threads, reps, peak);
}
