// Native tests of the CPU kernels against the float64 references (reference.h).
//
// Error bounds (relative L2 norm of the difference over the whole output or gradient):
//   F32 inputs: 2e-5 for outputs, 5e-5 for gradients (fp32 accumulation over up to 1000 tokens);
//   BF16 inputs: 1e-2 (outputs and gradients are rounded to bf16, about 4e-3 per element).
// The reference sees exactly the (bf16-rounded) values the kernel reads. All outputs are poisoned
// with NaN before each call, so an element the kernel fails to write fails the comparison.
#include <cmath>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "harness.h"
#include "liger/liger.h"
#include "reference.h"
#include "util.h"

using tu::Buf;
using tu::Rng;

namespace {

double fwd_bound(int32_t dt) { return dt == LIGER_F32 ? 2e-5 : 1e-2; }
double bwd_bound(int32_t dt) { return dt == LIGER_F32 ? 5e-5 : 1e-2; }
const char* dtn(int32_t dt) { return dt == LIGER_F32 ? "f32" : "bf16"; }

// One fused-attention problem: inputs, outputs and the parameter block that points at them.
struct AttnCase {
  ref::AttnCfg cfg;
  int64_t B = 1, T = 1;
  int32_t dtype = LIGER_F32;
  std::vector<int64_t> cu;  // cu_seqlens (empty: none)
  Buf q, k, v, o, dO, dq, dk, dv, cus;
  ref::RopeTab rope;
  int32_t threads = 0;

  void init(Rng& r, int64_t P = 0) {
    q = Buf::make(dtype, {B, T, cfg.Hq, cfg.D});
    k = Buf::make(dtype, {B, T, cfg.Hkv, cfg.D});
    v = Buf::make(dtype, {B, T, cfg.Hkv, cfg.D});
    q.randn(r, 1.5);
    k.randn(r, 1.5);
    v.randn(r);
    o = Buf::make(dtype, {B, T, cfg.Hq, cfg.D});
    rope = tu::make_rope(P > 0 ? P : T + 8, cfg.D);
    if (!cu.empty()) {
      cus = Buf::make(LIGER_I64, {int64_t(cu.size())});
      cus.i64 = cu;
    }
  }
  int64_t N() const { return cu.empty() ? B : int64_t(cu.size()) - 1; }
  int64_t len(int64_t n) const { return cu.empty() ? T : cu[size_t(n + 1)] - cu[size_t(n)]; }
  int64_t b_of(int64_t n) const { return cu.empty() ? n : 0; }
  int64_t t0_of(int64_t n) const { return cu.empty() ? 0 : cu[size_t(n)]; }

  liger_attn_params params() {
    liger_attn_params p{};
    p.device = LIGER_CPU;
    p.num_threads = threads;
    p.B = B, p.T = T, p.Hq = cfg.Hq, p.Hkv = cfg.Hkv, p.D = cfg.D;
    p.variant = cfg.variant;
    p.use_gate = cfg.gate ? 1 : 0;
    p.gate_norm = float(cfg.gate_norm);
    p.mix = float(cfg.mix);
    p.window = int32_t(cfg.W);
    p.swa_scale = float(cfg.scale());
    p.q = q.view(), p.k = k.view(), p.v = v.view(), p.o = o.view();
    p.rope_cos = tu::rope_view(rope, true);
    p.rope_sin = tu::rope_view(rope, false);
    if (!cu.empty()) p.cu_seqlens = cus.view();
    return p;
  }
  void alloc_grads(Rng& r) {
    dO = Buf::make(dtype, {B, T, cfg.Hq, cfg.D});
    dO.randn(r);
    dq = Buf::make(dtype, {B, T, cfg.Hq, cfg.D});
    dk = Buf::make(dtype, {B, T, cfg.Hkv, cfg.D});
    dv = Buf::make(dtype, {B, T, cfg.Hkv, cfg.D});
  }
  liger_attn_params bwd_params() {
    liger_attn_params p = params();
    p.do_ = dO.view(), p.dq = dq.view(), p.dk = dk.view(), p.dv = dv.view();
    return p;
  }
};

std::string desc(const AttnCase& c) {
  char b[256];
  std::snprintf(b, sizeof b, "T=%lld Hq=%lld Hkv=%lld D=%lld %s variant=%d gate=%d mix=%g W=%lld N=%lld",
                (long long)c.T, (long long)c.cfg.Hq, (long long)c.cfg.Hkv, (long long)c.cfg.D, dtn(c.dtype),
                c.cfg.variant, int(c.cfg.gate), c.cfg.mix, (long long)c.cfg.W, (long long)c.N());
  return b;
}

// Forward vs reference for every sequence of the case.
void check_forward(AttnCase& c) {
  c.o.poison();
  liger_attn_params p = c.params();
  liger_status st = liger_attn_forward(&p);
  CHECK(st == LIGER_OK, "%s: status %d: %s", desc(c).c_str(), st, liger_last_error());
  if (st != LIGER_OK) return;
  for (int64_t n = 0; n < c.N(); ++n) {
    const int64_t L = c.len(n), b = c.b_of(n), t0 = c.t0_of(n);
    if (L == 0) continue;
    ref::Vec o;
    ref::attn_forward(c.cfg, L, c.q.seq(b, t0, L), c.k.seq(b, t0, L), c.v.seq(b, t0, L), c.rope, o);
    double e = tu::rel_err(c.o, b, t0, L, o);
    CHECK(e <= fwd_bound(c.dtype), "%s seq %lld: forward rel err %.3g", desc(c).c_str(), (long long)n, e);
  }
}

void check_backward(AttnCase& c, Rng& r) {
  c.alloc_grads(r);
  c.dq.poison(), c.dk.poison(), c.dv.poison();
  liger_attn_params p = c.bwd_params();
  liger_status st = liger_attn_backward(&p);
  CHECK(st == LIGER_OK, "%s: status %d: %s", desc(c).c_str(), st, liger_last_error());
  if (st != LIGER_OK) return;
  for (int64_t n = 0; n < c.N(); ++n) {
    const int64_t L = c.len(n), b = c.b_of(n), t0 = c.t0_of(n);
    if (L == 0) continue;
    ref::Vec dq, dk, dv;
    ref::attn_backward(c.cfg, L, c.q.seq(b, t0, L), c.k.seq(b, t0, L), c.v.seq(b, t0, L), c.rope,
                       c.dO.seq(b, t0, L), dq, dk, dv);
    double eq = tu::rel_err(c.dq, b, t0, L, dq), ek = tu::rel_err(c.dk, b, t0, L, dk),
           ev = tu::rel_err(c.dv, b, t0, L, dv);
    const double bd = bwd_bound(c.dtype);
    CHECK(eq <= bd && ek <= bd && ev <= bd, "%s seq %lld: grad rel err dq %.3g dk %.3g dv %.3g", desc(c).c_str(),
          (long long)n, eq, ek, ev);
  }
}

// ---------------------------------------------------------------- reference self-checks
// Central finite differences of sum(o * R) against the hand-derived float64 backward.
void fd_check_attn(ref::AttnCfg cfg, int64_t L, uint64_t seed) {
  Rng r(seed);
  const int64_t D = cfg.D;
  ref::Vec q(L * cfg.Hq * D), k(L * cfg.Hkv * D), v(L * cfg.Hkv * D), R(L * cfg.Hq * D);
  for (auto& x : q) x = 1.5 * r.normal();
  for (auto& x : k) x = 1.5 * r.normal();
  for (auto& x : v) x = r.normal();
  for (auto& x : R) x = r.normal();
  ref::RopeTab rt = tu::make_rope(L, D);
  ref::Vec dq, dk, dv, o;
  ref::attn_backward(cfg, L, q, k, v, rt, R, dq, dk, dv);
  auto loss = [&]() {
    ref::attn_forward(cfg, L, q, k, v, rt, o);
    double s = 0;
    for (size_t i = 0; i < o.size(); ++i) s += o[i] * R[i];
    return s;
  };
  const double eps = 1e-6;
  double worst = 0;
  ref::Vec* xs[3] = {&q, &k, &v};
  ref::Vec* gs[3] = {&dq, &dk, &dv};
  for (int w = 0; w < 3; ++w) {
    ref::Vec fd(xs[w]->size());
    for (size_t i = 0; i < xs[w]->size(); ++i) {
      double x0 = (*xs[w])[i];
      (*xs[w])[i] = x0 + eps;
      double lp = loss();
      (*xs[w])[i] = x0 - eps;
      double lm = loss();
      (*xs[w])[i] = x0;
      fd[i] = (lp - lm) / (2 * eps);
    }
    worst = std::max(worst, tu::rel_err_vec(*gs[w], fd));
  }
  CHECK(worst < 1e-6, "variant %d gate %d mix %g W %lld: reference backward vs finite differences rel err %.3g",
        cfg.variant, int(cfg.gate), cfg.mix, (long long)cfg.W, worst);
}

TEST(reference, attn_backward_matches_finite_differences) {
  ref::AttnCfg c;
  c.Hq = 4, c.Hkv = 2, c.D = 6, c.W = 3, c.mix = 0.3;
  fd_check_attn(c, 7, 1);
  c.variant = 1;
  fd_check_attn(c, 7, 2);
  c.variant = 0, c.gate = false;
  fd_check_attn(c, 5, 3);
  c.gate = true, c.W = 100, c.mix = 0.5;
  fd_check_attn(c, 6, 4);
}

TEST(reference, gla_backward_matches_finite_differences) {
  Rng r(5);
  ref::GlaCfg c;
  c.Hq = 2, c.Hkv = 1, c.Dk = 5, c.Dv = 3, c.scale = 0.7;
  const int64_t L = 6;
  ref::Vec q(L * c.Hq * c.Dk), k(L * c.Hkv * c.Dk), v(L * c.Hkv * c.Dv), g(L * c.Hkv * c.Dk),
      h0(c.Hkv * c.Dk * c.Dv), R(L * c.Hq * c.Dv), Rh(c.Hkv * c.Dk * c.Dv);
  for (auto* a : {&q, &k, &v, &h0, &R, &Rh})
    for (auto& x : *a) x = r.normal();
  for (auto& x : g) x = ref::logsig(r.normal()) / 2;
  ref::Vec dq, dk, dv, dg, dh0, o, ht;
  ref::gla_backward(c, L, q, k, v, g, &h0, R, &Rh, dq, dk, dv, dg, dh0);
  auto loss = [&]() {
    ref::gla_forward(c, L, q, k, v, g, &h0, o, ht);
    double s = 0;
    for (size_t i = 0; i < o.size(); ++i) s += o[i] * R[i];
    for (size_t i = 0; i < ht.size(); ++i) s += ht[i] * Rh[i];
    return s;
  };
  double worst = 0;
  ref::Vec* xs[5] = {&q, &k, &v, &g, &h0};
  ref::Vec* gs[5] = {&dq, &dk, &dv, &dg, &dh0};
  for (int w = 0; w < 5; ++w) {
    ref::Vec fd(xs[w]->size());
    for (size_t i = 0; i < xs[w]->size(); ++i) {
      double x0 = (*xs[w])[i];
      (*xs[w])[i] = x0 + 1e-6;
      double lp = loss();
      (*xs[w])[i] = x0 - 1e-6;
      double lm = loss();
      (*xs[w])[i] = x0;
      fd[i] = (lp - lm) / 2e-6;
    }
    worst = std::max(worst, tu::rel_err_vec(*gs[w], fd));
  }
  CHECK(worst < 1e-6, "GLA reference backward vs finite differences rel err %.3g", worst);
}

// ---------------------------------------------------------------- fused forward / backward
const int64_t kTs[] = {1, 63, 64, 65, 200, 1000};

TEST(forward, sizes_heads_dtypes) {
  Rng r(10);
  for (int32_t dt : {LIGER_F32, LIGER_BF16})
    for (int64_t D : {64, 128})
      for (auto hh : {std::pair<int64_t, int64_t>{1, 1}, {4, 1}, {4, 4}})
        for (int64_t T : kTs) {
          AttnCase c;
          c.cfg.Hq = hh.first, c.cfg.Hkv = hh.second, c.cfg.D = D;
          c.T = T, c.dtype = dt;
          c.init(r);
          check_forward(c);
        }
}

TEST(backward, sizes_heads_dtypes) {
  Rng r(11);
  for (int32_t dt : {LIGER_F32, LIGER_BF16})
    for (int64_t D : {64, 128})
      for (auto hh : {std::pair<int64_t, int64_t>{1, 1}, {4, 1}, {4, 4}})
        for (int64_t T : kTs) {
          AttnCase c;
          c.cfg.Hq = hh.first, c.cfg.Hkv = hh.second, c.cfg.D = D;
          c.T = T, c.dtype = dt;
          c.init(r);
          check_backward(c, r);
        }
}

TEST(forward, batch_and_threads) {
  Rng r(12);
  for (int32_t threads : {1, 2, 3}) {
    AttnCase c;
    c.cfg.Hq = 4, c.cfg.Hkv = 2, c.cfg.D = 64, c.cfg.W = 16;
    c.B = 3, c.T = 130, c.threads = threads;
    c.init(r);
    check_forward(c);
    check_backward(c, r);
  }
}

// Calls from several threads at once (one gets the pool, the others run on their own thread) give
// the same results as one at a time.
TEST(forward, concurrent_calls) {
  Rng r(20);
  std::vector<AttnCase> cs(3);
  for (auto& c : cs) {
    c.cfg.Hq = 4, c.cfg.Hkv = 2, c.cfg.D = 64, c.cfg.W = 16;
    c.B = 2, c.T = 150, c.threads = 2;
    c.init(r);
    c.o.poison();
    liger_attn_params p = c.params();
    CHECK(liger_attn_forward(&p) == LIGER_OK, "%s", liger_last_error());
  }
  std::vector<Buf> first;
  for (auto& c : cs) first.push_back(c.o), c.o.poison();
  std::vector<std::thread> ts;
  std::vector<int> st(cs.size(), -1);
  for (size_t i = 0; i < cs.size(); ++i)
    ts.emplace_back([&, i] {
      for (int rep = 0; rep < 5; ++rep) {
        liger_attn_params p = cs[i].params();
        st[i] = liger_attn_forward(&p);
      }
    });
  for (auto& t : ts) t.join();
  for (size_t i = 0; i < cs.size(); ++i) {
    CHECK(st[i] == LIGER_OK, "thread %zu status %d", i, st[i]);
    double d = tu::max_abs_diff(cs[i].o, first[i]);
    CHECK(d == 0.0, "thread %zu: concurrent result differs by %.3g", i, d);
  }
}

// HGRN2, mix = 0 / 1, no gate, window 1 and window > T, other gate_norm.
TEST(variants, forward_and_backward) {
  Rng r(13);
  struct V {
    int variant;
    bool gate;
    double mix;
    int64_t W;
    double norm;
  };
  for (V x : {V{1, true, 0.5, 64, 16}, V{0, true, 0.0, 64, 16}, V{0, true, 1.0, 64, 16}, V{0, false, 0.5, 64, 16},
              V{0, true, 0.5, 1, 16}, V{0, true, 0.5, 300, 16}, V{1, true, 0.25, 100, 16}, V{0, true, 0.7, 8, 4},
              V{1, false, 1.0, 64, 16}})
    for (int32_t dt : {LIGER_F32, LIGER_BF16})
      for (int64_t T : {65, 200}) {
        AttnCase c;
        c.cfg.Hq = 4, c.cfg.Hkv = 2, c.cfg.D = 64;
        c.cfg.variant = x.variant, c.cfg.gate = x.gate, c.cfg.mix = x.mix, c.cfg.W = x.W, c.cfg.gate_norm = x.norm;
        c.T = T, c.dtype = dt;
        c.init(r);
        check_forward(c);
        check_backward(c, r);
      }
}

// Non-contiguous inputs/outputs: [B, H, T, D] storage viewed as [B, T, H, D], and a padded innermost
// row for q.
TEST(forward, strided_views) {
  Rng r(14);
  AttnCase c;
  c.cfg.Hq = 4, c.cfg.Hkv = 2, c.cfg.D = 32, c.cfg.W = 16;
  c.B = 2, c.T = 70;
  c.init(r);
  const int64_t B = 2, T = 70, D = 32;
  Buf q2 = Buf::make(LIGER_F32, {B, T, 4, D}, {4 * T * 40, 40, T * 40, 1});
  Buf k2 = Buf::make(LIGER_F32, {B, T, 2, D}, {2 * T * D, D, T * D, 1});
  Buf v2 = Buf::make(LIGER_F32, {B, T, 2, D}, {2 * T * D * 2, 2 * 2 * D, 2 * D, 2});
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t)
      for (int64_t d = 0; d < D; ++d) {
        for (int64_t h = 0; h < 4; ++h) q2.set(c.q.get(b, t, h, d), b, t, h, d);
        for (int64_t h = 0; h < 2; ++h) k2.set(c.k.get(b, t, h, d), b, t, h, d), v2.set(c.v.get(b, t, h, d), b, t, h, d);
      }
  check_forward(c);
  Buf o_ref = c.o;
  c.q = q2, c.k = k2, c.v = v2;
  c.o = Buf::make(LIGER_F32, {B, T, 4, D}, {T * 4 * D, D, T * D, 1});
  check_forward(c);
  double d = tu::max_abs_diff(c.o, o_ref);
  CHECK(d <= 1e-6, "strided forward differs from contiguous by %.3g", d);
  check_backward(c, r);
}

// ---------------------------------------------------------------- varlen
TEST(varlen, equals_separate_sequences) {
  Rng r(15);
  for (int32_t dt : {LIGER_F32, LIGER_BF16}) {
    AttnCase c;
    c.cfg.Hq = 4, c.cfg.Hkv = 2, c.cfg.D = 64, c.cfg.W = 24;
    c.cu = {0, 1, 65, 65, 135, 300};
    c.T = 300, c.dtype = dt;
    c.init(r);
    check_forward(c);  // against the reference per sequence, positions restarting at 0
    check_backward(c, r);
    // and bit-for-bit against separate calls
    Buf o_packed = c.o;
    for (int64_t n = 0; n < c.N(); ++n) {
      const int64_t L = c.len(n), t0 = c.t0_of(n);
      if (L == 0) continue;
      AttnCase s;
      s.cfg = c.cfg, s.T = L, s.dtype = dt;
      s.init(r, c.T + 8);
      for (int64_t t = 0; t < L; ++t)
        for (int64_t d = 0; d < 64; ++d) {
          for (int64_t h = 0; h < 4; ++h) s.q.set(c.q.get(0, t0 + t, h, d), 0, t, h, d);
          for (int64_t h = 0; h < 2; ++h)
            s.k.set(c.k.get(0, t0 + t, h, d), 0, t, h, d), s.v.set(c.v.get(0, t0 + t, h, d), 0, t, h, d);
        }
      s.o.poison();
      liger_attn_params p = s.params();
      CHECK(liger_attn_forward(&p) == LIGER_OK, "%s", liger_last_error());
      double m = 0;
      for (int64_t t = 0; t < L; ++t)
        for (int64_t h = 0; h < 4; ++h)
          for (int64_t d = 0; d < 64; ++d) m = std::max(m, std::fabs(s.o.get(0, t, h, d) - o_packed.get(0, t0 + t, h, d)));
      CHECK(m == 0.0, "varlen seq %lld differs from a separate call by %.3g", (long long)n, m);
    }
  }
}

// ---------------------------------------------------------------- cache: continuation and decode
struct Cache {
  Buf state, wk, wv, pos;
  Cache(int64_t N, int64_t Hkv, int64_t D, int64_t W) {
    state = Buf::make(LIGER_F32, {N, Hkv, D, D});
    if (W > 1) wk = Buf::make(LIGER_F32, {N, Hkv, W - 1, D}), wv = Buf::make(LIGER_F32, {N, Hkv, W - 1, D});
    pos = Buf::make(LIGER_I64, {N});
  }
  liger_cache view() {
    liger_cache c{};
    c.state = state.view();
    if (!wk.f.empty()) c.win_k = wk.view(), c.win_v = wv.view();
    c.pos = pos.view();
    return c;
  }
  void poison() {
    state.poison(), wk.poison(), wv.poison();
    for (auto& x : pos.i64) x = -7;
  }
};

// Copies rows [t0, t0 + L) of every batch entry into a new case of length L.
AttnCase slice(const AttnCase& c, int64_t t0, int64_t L, int64_t P) {
  AttnCase s;
  s.cfg = c.cfg, s.B = c.B, s.T = L, s.dtype = c.dtype;
  Rng dummy(0);
  s.init(dummy, P);
  for (int64_t b = 0; b < c.B; ++b)
    for (int64_t t = 0; t < L; ++t)
      for (int64_t d = 0; d < c.cfg.D; ++d) {
        for (int64_t h = 0; h < c.cfg.Hq; ++h) s.q.set(c.q.get(b, t0 + t, h, d), b, t, h, d);
        for (int64_t h = 0; h < c.cfg.Hkv; ++h)
          s.k.set(c.k.get(b, t0 + t, h, d), b, t, h, d), s.v.set(c.v.get(b, t0 + t, h, d), b, t, h, d);
      }
  return s;
}

double max_rel_rows(const Buf& a, int64_t ta, const Buf& full, int64_t tf, int64_t L) {
  double num = 0, den = 0;
  for (int64_t b = 0; b < a.shape[0]; ++b)
    for (int64_t t = 0; t < L; ++t)
      for (int64_t h = 0; h < a.shape[2]; ++h)
        for (int64_t d = 0; d < a.shape[3]; ++d) {
          double x = a.get(b, ta + t, h, d), y = full.get(b, tf + t, h, d);
          if (!std::isfinite(x)) return INFINITY;
          num += (x - y) * (x - y), den += y * y;
        }
  return std::sqrt(num / std::max(den, 1e-300));
}

TEST(cache, prefill_A_then_B_equals_A_plus_B) {
  Rng r(16);
  for (int32_t dt : {LIGER_F32, LIGER_BF16})
    for (int64_t W : {1, 8, 64, 200})
      for (auto AB : {std::pair<int64_t, int64_t>{5, 3}, {64, 65}, {100, 37}, {1, 150}})
        for (bool in_place : {false, true}) {
          AttnCase full;
          full.cfg.Hq = 4, full.cfg.Hkv = 2, full.cfg.D = 32, full.cfg.W = W;
          full.B = 2, full.T = AB.first + AB.second, full.dtype = dt;
          full.init(r);
          check_forward(full);
          AttnCase a = slice(full, 0, AB.first, full.T + 8), b = slice(full, AB.first, AB.second, full.T + 8);
          Cache c1(2, 2, 32, W), c2(2, 2, 32, W);
          c1.poison(), c2.poison();
          a.o.poison();
          liger_attn_params pa = a.params();
          pa.cache_out = c1.view();
          CHECK(liger_attn_forward(&pa) == LIGER_OK, "%s", liger_last_error());
          CHECK(c1.pos.i64[0] == AB.first && c1.pos.i64[1] == AB.first, "pos after prefill = %lld",
                (long long)c1.pos.i64[0]);
          b.o.poison();
          liger_attn_params pb = b.params();
          pb.cache_in = c1.view();
          pb.cache_out = in_place ? c1.view() : c2.view();
          CHECK(liger_attn_forward(&pb) == LIGER_OK, "%s", liger_last_error());
          const double bound = dt == LIGER_F32 ? 1e-5 : 1e-2;
          double ea = max_rel_rows(a.o, 0, full.o, 0, AB.first), eb = max_rel_rows(b.o, 0, full.o, AB.first, AB.second);
          CHECK(ea <= bound && eb <= bound, "%s W=%lld A=%lld B=%lld in_place=%d: rel err A %.3g B %.3g", dtn(dt),
                (long long)W, (long long)AB.first, (long long)AB.second, int(in_place), ea, eb);
          Cache& out = in_place ? c1 : c2;
          CHECK(out.pos.i64[0] == full.T, "pos after continuation = %lld", (long long)out.pos.i64[0]);
        }
}

// Two sequences prefilled as a batch, then continued with different lengths packed by cu_seqlens.
TEST(cache, varlen_continuation) {
  Rng r(21);
  for (int32_t dt : {LIGER_F32, LIGER_BF16}) {
    const int64_t A = 40, L0 = 30, L1 = 75, W = 16, D = 64;
    AttnCase full;
    full.cfg.Hq = 4, full.cfg.Hkv = 2, full.cfg.D = D, full.cfg.W = W;
    full.B = 2, full.T = A + L1, full.dtype = dt;
    full.init(r);
    check_forward(full);
    AttnCase pre = slice(full, 0, A, full.T + 8);
    Cache cache(2, 2, D, W);
    cache.poison();
    liger_attn_params pp = pre.params();
    pp.cache_out = cache.view();
    CHECK(liger_attn_forward(&pp) == LIGER_OK, "%s", liger_last_error());
    AttnCase packed;
    packed.cfg = full.cfg, packed.B = 1, packed.T = L0 + L1, packed.dtype = dt;
    packed.cu = {0, L0, L0 + L1};
    packed.init(r, full.T + 8);
    for (int64_t t = 0; t < L0 + L1; ++t) {
      const int64_t b = t < L0 ? 0 : 1, src = A + (t < L0 ? t : t - L0);
      for (int64_t d = 0; d < D; ++d) {
        for (int64_t h = 0; h < 4; ++h) packed.q.set(full.q.get(b, src, h, d), 0, t, h, d);
        for (int64_t h = 0; h < 2; ++h)
          packed.k.set(full.k.get(b, src, h, d), 0, t, h, d), packed.v.set(full.v.get(b, src, h, d), 0, t, h, d);
      }
    }
    packed.o.poison();
    liger_attn_params pc = packed.params();
    pc.cache_in = cache.view();
    pc.cache_out = cache.view();
    CHECK(liger_attn_forward(&pc) == LIGER_OK, "%s", liger_last_error());
    double num = 0, den = 0;
    for (int64_t t = 0; t < L0 + L1; ++t) {
      const int64_t b = t < L0 ? 0 : 1, src = A + (t < L0 ? t : t - L0);
      for (int64_t h = 0; h < 4; ++h)
        for (int64_t d = 0; d < D; ++d) {
          double x = packed.o.get(0, t, h, d), y = full.o.get(b, src, h, d);
          num += std::isfinite(x) ? (x - y) * (x - y) : INFINITY;
          den += y * y;
        }
    }
    const double e = std::sqrt(num / den), bound = dt == LIGER_F32 ? 1e-5 : 1e-2;
    CHECK(e <= bound, "%s: varlen continuation rel err %.3g", dtn(dt), e);
    CHECK(cache.pos.i64[0] == A + L0 && cache.pos.i64[1] == A + L1, "pos after varlen continuation = %lld, %lld",
          (long long)cache.pos.i64[0], (long long)cache.pos.i64[1]);
  }
}

TEST(decode, N_steps_equal_prefill) {
  Rng r(17);
  for (int32_t dt : {LIGER_F32, LIGER_BF16})
    for (int64_t W : {1, 4, 64})
      for (int variant : {0, 1})
        for (int64_t A : {0, 9}) {
          const int64_t Nsteps = 20, B = 3;
          AttnCase full;
          full.cfg.Hq = 4, full.cfg.Hkv = 2, full.cfg.D = 64, full.cfg.W = W, full.cfg.variant = variant;
          full.B = B, full.T = A + Nsteps, full.dtype = dt;
          full.init(r);
          check_forward(full);
          Cache cache(B, 2, 64, W);
          cache.poison();
          if (A > 0) {
            AttnCase pre = slice(full, 0, A, full.T + 8);
            liger_attn_params pp = pre.params();
            pp.cache_out = cache.view();
            CHECK(liger_attn_forward(&pp) == LIGER_OK, "%s", liger_last_error());
          } else {
            std::fill(cache.state.f.begin(), cache.state.f.end(), 0.f);
            for (auto& x : cache.pos.i64) x = 0;
          }
          double worst = 0;
          for (int64_t s = 0; s < Nsteps; ++s) {
            AttnCase step = slice(full, A + s, 1, full.T + 8);
            step.o.poison();
            liger_attn_params pd = step.params();
            pd.cache_in = cache.view();
            liger_status st = liger_attn_decode(&pd);
            CHECK(st == LIGER_OK, "%s", liger_last_error());
            worst = std::max(worst, max_rel_rows(step.o, 0, full.o, A + s, 1));
          }
          const double bound = dt == LIGER_F32 ? 1e-5 : 1e-2;
          CHECK(worst <= bound, "%s W=%lld variant=%d A=%lld: decode vs prefill rel err %.3g", dtn(dt), (long long)W,
                variant, (long long)A, worst);
          CHECK(cache.pos.i64[0] == full.T, "pos after decode = %lld", (long long)cache.pos.i64[0]);
        }
}

// ---------------------------------------------------------------- plain GLA
struct GlaCase {
  ref::GlaCfg cfg;
  int64_t B = 1, T = 1;
  int32_t dtype = LIGER_F32, gdtype = LIGER_F32;
  std::vector<int64_t> cu;
  Buf q, k, v, g, o, h0, ht, dO, dht, dq, dk, dv, dg, dh0, cus;
  int64_t N() const { return cu.empty() ? B : int64_t(cu.size()) - 1; }
  void init(Rng& r) {
    q = Buf::make(dtype, {B, T, cfg.Hq, cfg.Dk}), q.randn(r);
    k = Buf::make(dtype, {B, T, cfg.Hkv, cfg.Dk}), k.randn(r);
    v = Buf::make(dtype, {B, T, cfg.Hkv, cfg.Dv}), v.randn(r);
    g = Buf::make(gdtype, {B, T, cfg.Hkv, cfg.Dk});
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = 0; t < T; ++t)
        for (int64_t h = 0; h < cfg.Hkv; ++h)
          for (int64_t d = 0; d < cfg.Dk; ++d) g.set(ref::logsig(2 * r.normal()) / 4, b, t, h, d);
    o = Buf::make(dtype, {B, T, cfg.Hq, cfg.Dv});
    h0 = Buf::make(LIGER_F32, {N(), cfg.Hkv, cfg.Dk, cfg.Dv}), h0.randn(r);
    ht = Buf::make(LIGER_F32, {N(), cfg.Hkv, cfg.Dk, cfg.Dv});
    dO = Buf::make(dtype, {B, T, cfg.Hq, cfg.Dv}), dO.randn(r);
    dht = Buf::make(LIGER_F32, {N(), cfg.Hkv, cfg.Dk, cfg.Dv}), dht.randn(r);
    dq = Buf::make(dtype, {B, T, cfg.Hq, cfg.Dk});
    dk = Buf::make(dtype, {B, T, cfg.Hkv, cfg.Dk});
    dv = Buf::make(dtype, {B, T, cfg.Hkv, cfg.Dv});
    dg = Buf::make(gdtype, {B, T, cfg.Hkv, cfg.Dk});
    dh0 = Buf::make(LIGER_F32, {N(), cfg.Hkv, cfg.Dk, cfg.Dv});
    if (!cu.empty()) cus = Buf::make(LIGER_I64, {int64_t(cu.size())}), cus.i64 = cu;
  }
  liger_gla_params params(bool states) {
    liger_gla_params p{};
    p.device = LIGER_CPU;
    p.B = B, p.T = T, p.Hq = cfg.Hq, p.Hkv = cfg.Hkv, p.Dk = cfg.Dk, p.Dv = cfg.Dv;
    p.scale = float(cfg.scale);
    p.q = q.view(), p.k = k.view(), p.v = v.view(), p.g = g.view(), p.o = o.view();
    if (!cu.empty()) p.cu_seqlens = cus.view();
    if (states) p.h0 = h0.view(), p.ht = ht.view(), p.dht = dht.view(), p.dh0 = dh0.view();
    p.do_ = dO.view(), p.dq = dq.view(), p.dk = dk.view(), p.dv = dv.view(), p.dg = dg.view();
    return p;
  }
};

ref::Vec state_of(const Buf& s, int64_t n) {
  const int64_t sz = s.shape[1] * s.shape[2] * s.shape[3];
  ref::Vec out(static_cast<size_t>(sz), 0.0);
  for (int64_t i = 0; i < sz; ++i) out[size_t(i)] = s.f[size_t(n * sz + i)];
  return out;
}

void check_gla(GlaCase& c, bool states) {
  c.o.poison(), c.ht.poison(), c.dq.poison(), c.dk.poison(), c.dv.poison(), c.dg.poison(), c.dh0.poison();
  liger_gla_params p = c.params(states);
  liger_status st = liger_gla_forward(&p);
  CHECK(st == LIGER_OK, "gla forward: %s", liger_last_error());
  st = liger_gla_backward(&p);
  CHECK(st == LIGER_OK, "gla backward: %s", liger_last_error());
  const double fb = fwd_bound(c.dtype), bb = bwd_bound(c.dtype);
  for (int64_t n = 0; n < c.N(); ++n) {
    const int64_t L = c.cu.empty() ? c.T : c.cu[size_t(n + 1)] - c.cu[size_t(n)];
    const int64_t b = c.cu.empty() ? n : 0, t0 = c.cu.empty() ? 0 : c.cu[size_t(n)];
    ref::Vec q = c.q.seq(b, t0, L), k = c.k.seq(b, t0, L), v = c.v.seq(b, t0, L), g = c.g.seq(b, t0, L);
    ref::Vec h0 = state_of(c.h0, n), dht = state_of(c.dht, n), o, ht, dq, dk, dv, dg, dh0;
    ref::gla_forward(c.cfg, L, q, k, v, g, states ? &h0 : nullptr, o, ht);
    ref::gla_backward(c.cfg, L, q, k, v, g, states ? &h0 : nullptr, c.dO.seq(b, t0, L), states ? &dht : nullptr, dq,
                      dk, dv, dg, dh0);
    char d[160];
    std::snprintf(d, sizeof d, "gla T=%lld Hq=%lld Hkv=%lld Dk=%lld Dv=%lld %s states=%d seq %lld", (long long)c.T,
                  (long long)c.cfg.Hq, (long long)c.cfg.Hkv, (long long)c.cfg.Dk, (long long)c.cfg.Dv, dtn(c.dtype),
                  int(states), (long long)n);
    if (L > 0) {
      double eo = tu::rel_err(c.o, b, t0, L, o);
      CHECK(eo <= fb, "%s: o rel err %.3g", d, eo);
      double e1 = tu::rel_err(c.dq, b, t0, L, dq), e2 = tu::rel_err(c.dk, b, t0, L, dk),
             e3 = tu::rel_err(c.dv, b, t0, L, dv);
      // dg = reverse cumsum of (q dq - k dk): its natural scale is that of k * dk
      double kdk = 0;
      for (size_t i = 0; i < k.size(); ++i) kdk += (k[i] * dk[i]) * (k[i] * dk[i]);
      double e4 = tu::rel_err(c.dg, b, t0, L, dg, std::sqrt(kdk));
      CHECK(e1 <= bb && e2 <= bb && e3 <= bb && e4 <= bb, "%s: grads rel err dq %.3g dk %.3g dv %.3g dg %.3g", d, e1,
            e2, e3, e4);
    }
    if (states) {
      double eh = tu::rel_err_vec(state_of(c.ht, n), ht), ed = tu::rel_err_vec(state_of(c.dh0, n), dh0);
      CHECK(eh <= fb && ed <= bb, "%s: ht rel err %.3g dh0 rel err %.3g", d, eh, ed);
    }
  }
}

TEST(gla, forward_backward_vs_reference) {
  Rng r(18);
  struct S {
    int64_t Hq, Hkv, Dk, Dv, T;
  };
  for (int32_t dt : {LIGER_F32, LIGER_BF16})
    for (S s : {S{1, 1, 64, 64, 1}, S{4, 1, 64, 32, 65}, S{4, 4, 128, 128, 200}, S{2, 1, 20, 36, 130},
                S{4, 2, 64, 64, 1000}})
      for (bool states : {false, true}) {
        GlaCase c;
        c.cfg.Hq = s.Hq, c.cfg.Hkv = s.Hkv, c.cfg.Dk = s.Dk, c.cfg.Dv = s.Dv, c.cfg.scale = 1.0 / std::sqrt(double(s.Dk));
        c.T = s.T, c.dtype = dt, c.gdtype = states ? LIGER_F32 : dt;
        c.init(r);
        check_gla(c, states);
      }
}

TEST(gla, varlen_and_batch) {
  Rng r(19);
  GlaCase c;
  c.cfg.Hq = 2, c.cfg.Hkv = 1, c.cfg.Dk = 32, c.cfg.Dv = 48;
  c.cu = {0, 70, 70, 71, 200};
  c.T = 200;
  c.init(r);
  check_gla(c, true);
  GlaCase b;
  b.cfg = c.cfg, b.B = 3, b.T = 66;
  b.init(r);
  check_gla(b, true);
}

}  // namespace
