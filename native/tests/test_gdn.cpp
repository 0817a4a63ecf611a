// Gated delta rule kernels against the float64 per-token recurrence (ref::gdn_forward) and its
// hand-derived reverse mode (ref::gdn_backward, itself checked by finite differences first).
// q and k are L2-normalized per head unless a case says otherwise: the Liger-GDN layer calls the
// kernels that way. Errors are measured as max |kernel - reference| / max |reference|.
#include <cstdio>
#include <string>
#include <thread>

#include "harness.h"
#include "liger/liger.h"
#include "util.h"

using tu::Buf;
using tu::Rng;

namespace {

double fwd_bound(int32_t dt) { return dt == LIGER_F32 ? 1e-5 : 1e-2; }
double bwd_bound(int32_t dt) { return dt == LIGER_F32 ? 2e-5 : 1e-2; }
const char* dtn(int32_t dt) { return dt == LIGER_F32 ? "f32" : "bf16"; }

// max |a - r| / max |r| over rows [t0, t0 + L) of batch b (NaN: +inf; r == 0 everywhere: max |a|).
double max_err(const Buf& a, int64_t b, int64_t t0, int64_t L, const ref::Vec& r) {
  const int64_t H = a.shape[2], D = a.ndim > 3 ? a.shape[3] : 1;
  double num = 0, den = 0;
  for (int64_t t = 0; t < L; ++t)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t d = 0; d < D; ++d) {
        const double x = a.get(b, t0 + t, h, d), y = r[size_t((t * H + h) * D + d)];
        if (!std::isfinite(x)) return INFINITY;
        num = std::max(num, std::fabs(x - y));
        den = std::max(den, std::fabs(y));
      }
  return den > 0 ? num / den : num;
}
double max_err_vec(const ref::Vec& a, const ref::Vec& r) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(a[i])) return INFINITY;
    num = std::max(num, std::fabs(a[i] - r[i]));
    den = std::max(den, std::fabs(r[i]));
  }
  return den > 0 ? num / den : num;
}
ref::Vec state_of(const Buf& s, int64_t n) {
  const int64_t sz = s.shape[1] * s.shape[2] * s.shape[3];
  ref::Vec out(static_cast<size_t>(sz));
  for (int64_t i = 0; i < sz; ++i) out[size_t(i)] = s.f[size_t(n * sz + i)];
  return out;
}
// Rows [t0, t0 + len) of a [B, T, ...] buffer as a view.
liger_tensor slice_t(Buf& b, int64_t t0, int64_t len) {
  liger_tensor t = b.view();
  const int64_t es = b.dtype == LIGER_F32 ? 4 : 2;
  t.data = static_cast<char*>(t.data) + t0 * t.stride[1] * es;
  t.shape[1] = len;
  return t;
}

enum class Gates { Normal, NearZero, NearNegInf };  // NearZero: half exactly 0; NearNegInf: 30% at -1e4
enum class Betas { Sigmoid, ZeroOne };

struct Case {
  ref::GdnCfg cfg;
  int64_t B = 1, T = 1;
  int32_t dtype = LIGER_F32, gdtype = LIGER_F32;
  std::vector<int64_t> cu;
  bool normalize = true, strided = false;
  double qk_scale = 1;  // multiplies q and k after normalization (small-norm case)
  int64_t key_pool = 0;  // > 0: keys drawn from this many fixed vectors (repeated keys, the delta rule's worst case)
  Gates gates = Gates::Normal;
  Betas betas = Betas::Sigmoid;
  int32_t threads = 0;
  Buf q, k, v, g, beta, o, h0, ht, dO, dht, dq, dk, dv, dg, dbeta, dh0, cus;

  int64_t N() const { return cu.empty() ? B : int64_t(cu.size()) - 1; }
  int64_t len(int64_t n) const { return cu.empty() ? T : cu[size_t(n + 1)] - cu[size_t(n)]; }
  int64_t b_of(int64_t n) const { return cu.empty() ? n : 0; }
  int64_t t0_of(int64_t n) const { return cu.empty() ? 0 : cu[size_t(n)]; }

  // Sequence tensor [B, T, H, D]: contiguous, or (strided) one of several non-contiguous layouts.
  Buf seqbuf(int32_t dt, int64_t H, int64_t D, int layout) const {
    if (!strided) return Buf::make(dt, {B, T, H, D});
    switch (layout % 3) {
      case 0: return Buf::make(dt, {B, T, H, D}, {H * T * D, D, T * D, 1});                  // [B, H, T, D]
      case 1: return Buf::make(dt, {B, T, H, D}, {T * H * D * 2, H * D * 2, D * 2, 2});      // innermost 2
      default: return Buf::make(dt, {B, T, H, D}, {(T + 3) * H * (D + 5), H * (D + 5), D + 5, 1});  // padded
    }
  }
  Buf gatebuf(int32_t dt) const {
    if (!strided) return Buf::make(dt, {B, T, cfg.Hkv});
    return Buf::make(dt, {B, T, cfg.Hkv}, {T * cfg.Hkv * 3, cfg.Hkv * 3, 3});
  }
  void fill_qk(Buf& x, Rng& r) {
    std::vector<double> row(size_t(x.shape[3]));
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = 0; t < T; ++t)
        for (int64_t h = 0; h < x.shape[2]; ++h) {
          double nn = 0;
          for (auto& y : row) y = r.normal(), nn += y * y;
          const double f = (normalize ? 1.0 / std::sqrt(nn) : 1.0) * qk_scale;
          for (int64_t d = 0; d < x.shape[3]; ++d) x.set(row[size_t(d)] * f, b, t, h, d);
        }
  }
  void init(Rng& r) {
    const int64_t Hq = cfg.Hq, Hkv = cfg.Hkv, Dk = cfg.Dk, Dv = cfg.Dv;
    q = seqbuf(dtype, Hq, Dk, 0), fill_qk(q, r);
    k = seqbuf(dtype, Hkv, Dk, 1), fill_qk(k, r);
    if (key_pool > 0)
      for (int64_t b = 0; b < B; ++b)
        for (int64_t t = 0; t < T; ++t)
          for (int64_t h = 0; h < Hkv; ++h) {
            const int64_t src = int64_t(r.uniform(0, double(key_pool))) % key_pool;
            for (int64_t d = 0; d < Dk; ++d) k.set(k.get(0, src, h, d), b, t, h, d);
          }
    v = seqbuf(dtype, Hkv, Dv, 2), v.randn(r);
    g = gatebuf(gdtype), beta = gatebuf(gdtype);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = 0; t < T; ++t)
        for (int64_t h = 0; h < Hkv; ++h) {
          double gv = ref::logsig(2 + r.normal());  // mostly mild decay
          if (gates == Gates::NearZero) gv = r.uniform(0, 1) < 0.5 ? 0.0 : -1e-4 * r.uniform(0, 1);
          if (gates == Gates::NearNegInf) gv = r.uniform(0, 1) < 0.3 ? -1e4 : gv;
          g.set(gv, b, t, h);
          double bv = ref::sigm(r.normal());
          if (betas == Betas::ZeroOne) bv = r.uniform(0, 1) < 0.5 ? 0.0 : 1.0;
          beta.set(bv, b, t, h);
        }
    o = seqbuf(dtype, Hq, Dv, 0);
    h0 = Buf::make(LIGER_F32, {N(), Hkv, Dk, Dv}), h0.randn(r, 0.5);
    ht = Buf::make(LIGER_F32, {N(), Hkv, Dk, Dv});
    dO = seqbuf(dtype, Hq, Dv, 1), dO.randn(r);
    dht = Buf::make(LIGER_F32, {N(), Hkv, Dk, Dv}), dht.randn(r, 0.5);
    dq = seqbuf(dtype, Hq, Dk, 2);
    dk = seqbuf(dtype, Hkv, Dk, 0);
    dv = seqbuf(dtype, Hkv, Dv, 1);
    dg = gatebuf(gdtype), dbeta = gatebuf(gdtype);
    dh0 = Buf::make(LIGER_F32, {N(), Hkv, Dk, Dv});
    if (!cu.empty()) cus = Buf::make(LIGER_I64, {int64_t(cu.size())}), cus.i64 = cu;
  }
  liger_gdn_params fwd_params(bool states) {
    liger_gdn_params p{};
    p.device = LIGER_CPU;
    p.num_threads = threads;
    p.B = B, p.T = T, p.Hq = cfg.Hq, p.Hkv = cfg.Hkv, p.Dk = cfg.Dk, p.Dv = cfg.Dv;
    p.scale = float(cfg.scale);
    p.q = q.view(), p.k = k.view(), p.v = v.view(), p.g = g.view(), p.beta = beta.view(), p.o = o.view();
    if (!cu.empty()) p.cu_seqlens = cus.view();
    if (states) p.h0 = h0.view(), p.ht = ht.view();
    return p;
  }
  liger_gdn_params bwd_params(bool states) {
    liger_gdn_params p = fwd_params(states);
    p.o = liger_tensor{}, p.ht = liger_tensor{};
    p.do_ = dO.view(), p.dq = dq.view(), p.dk = dk.view(), p.dv = dv.view(), p.dg = dg.view(), p.dbeta = dbeta.view();
    if (states) p.dht = dht.view(), p.dh0 = dh0.view();
    return p;
  }
  std::string desc(bool states) const {
    char d[256];
    std::snprintf(d, sizeof d, "gdn B=%lld T=%lld Hq=%lld Hkv=%lld Dk=%lld Dv=%lld %s g %s states=%d strided=%d "
                  "norm=%d gates=%d betas=%d threads=%d", (long long)B, (long long)T, (long long)cfg.Hq,
                  (long long)cfg.Hkv, (long long)cfg.Dk, (long long)cfg.Dv, dtn(dtype), dtn(gdtype), int(states),
                  int(strided), int(normalize), int(gates), int(betas), int(threads));
    return d;
  }
};

// Forward (and optionally backward) of the kernel against the references, sequence by sequence.
void check(Case& c, bool states, bool backward) {
  c.o.poison(), c.ht.poison(), c.dq.poison(), c.dk.poison(), c.dv.poison(), c.dg.poison(), c.dbeta.poison(),
      c.dh0.poison();
  liger_gdn_params pf = c.fwd_params(states);
  liger_status st = liger_gdn_forward(&pf);
  CHECK(st == LIGER_OK, "%s: forward: %s", c.desc(states).c_str(), liger_last_error());
  if (backward) {
    liger_gdn_params pb = c.bwd_params(states);
    st = liger_gdn_backward(&pb);
    CHECK(st == LIGER_OK, "%s: backward: %s", c.desc(states).c_str(), liger_last_error());
  }
  const double fb = fwd_bound(c.dtype), bb = bwd_bound(c.dtype);
  for (int64_t n = 0; n < c.N(); ++n) {
    const int64_t L = c.len(n), b = c.b_of(n), t0 = c.t0_of(n);
    ref::Vec q = c.q.seq(b, t0, L), k = c.k.seq(b, t0, L), v = c.v.seq(b, t0, L), g = c.g.seq(b, t0, L),
             be = c.beta.seq(b, t0, L), h0 = state_of(c.h0, n), dht = state_of(c.dht, n), o, ht;
    ref::gdn_forward(c.cfg, L, q, k, v, g, be, states ? &h0 : nullptr, o, ht);
    const std::string d = c.desc(states) + " seq " + std::to_string(n);
    if (L > 0) {
      const double eo = max_err(c.o, b, t0, L, o);
      CHECK(eo <= fb, "%s: o err %.3g", d.c_str(), eo);
    }
    if (states) {
      const double eh = max_err_vec(state_of(c.ht, n), ht);
      CHECK(eh <= fb, "%s: ht err %.3g", d.c_str(), eh);
    }
    if (!backward) continue;
    ref::Vec dq, dk, dv, dg, dbeta, dh0;
    ref::gdn_backward(c.cfg, L, q, k, v, g, be, states ? &h0 : nullptr, c.dO.seq(b, t0, L), states ? &dht : nullptr,
                      dq, dk, dv, dg, dbeta, dh0);
    if (L > 0) {
      const double e1 = max_err(c.dq, b, t0, L, dq), e2 = max_err(c.dk, b, t0, L, dk), e3 = max_err(c.dv, b, t0, L, dv),
                   e4 = max_err(c.dg, b, t0, L, dg), e5 = max_err(c.dbeta, b, t0, L, dbeta);
      CHECK(e1 <= bb && e2 <= bb && e3 <= bb && e4 <= bb && e5 <= bb,
            "%s: grad err dq %.3g dk %.3g dv %.3g dg %.3g dbeta %.3g", d.c_str(), e1, e2, e3, e4, e5);
    }
    if (states) {
      const double e = max_err_vec(state_of(c.dh0, n), dh0);
      CHECK(e <= bb, "%s: dh0 err %.3g", d.c_str(), e);
    }
  }
}

// ---------------------------------------------------------------- the reference itself
TEST(gdn_reference, backward_matches_finite_differences) {
  Rng r(51);
  ref::GdnCfg c;
  c.Hq = 2, c.Hkv = 1, c.Dk = 5, c.Dv = 3, c.scale = 0.7;
  const int64_t L = 7;
  ref::Vec q(L * c.Hq * c.Dk), k(L * c.Hkv * c.Dk), v(L * c.Hkv * c.Dv), g(L * c.Hkv), be(L * c.Hkv),
      h0(c.Hkv * c.Dk * c.Dv), R(L * c.Hq * c.Dv), Rh(c.Hkv * c.Dk * c.Dv);
  for (auto* a : {&q, &k, &v, &h0, &R, &Rh})
    for (auto& x : *a) x = r.normal();
  for (auto& x : k) x *= 0.5;
  for (auto& x : g) x = ref::logsig(r.normal());
  for (auto& x : be) x = ref::sigm(r.normal());
  ref::Vec dq, dk, dv, dg, dbeta, dh0, o, ht;
  ref::gdn_backward(c, L, q, k, v, g, be, &h0, R, &Rh, dq, dk, dv, dg, dbeta, dh0);
  auto loss = [&]() {
    ref::gdn_forward(c, L, q, k, v, g, be, &h0, o, ht);
    double s = 0;
    for (size_t i = 0; i < o.size(); ++i) s += o[i] * R[i];
    for (size_t i = 0; i < ht.size(); ++i) s += ht[i] * Rh[i];
    return s;
  };
  ref::Vec* xs[6] = {&q, &k, &v, &g, &be, &h0};
  ref::Vec* gs[6] = {&dq, &dk, &dv, &dg, &dbeta, &dh0};
  const char* names[6] = {"q", "k", "v", "g", "beta", "h0"};
  for (int w = 0; w < 6; ++w) {
    ref::Vec fd(xs[w]->size());
    for (size_t i = 0; i < xs[w]->size(); ++i) {
      const double x0 = (*xs[w])[i];
      (*xs[w])[i] = x0 + 1e-6;
      const double lp = loss();
      (*xs[w])[i] = x0 - 1e-6;
      const double lm = loss();
      (*xs[w])[i] = x0;
      fd[i] = (lp - lm) / 2e-6;
    }
    const double e = tu::rel_err_vec(*gs[w], fd);
    CHECK(e < 1e-6, "GDN reference d%s vs finite differences rel err %.3g", names[w], e);
  }
}

// The forward reference equals the chunk-free closed form on one token: S_1 = e (I - b k k^T) h0 + b k v^T.
TEST(gdn_reference, one_token_closed_form) {
  ref::GdnCfg c;
  c.Dk = 2, c.Dv = 1, c.scale = 1;
  const ref::Vec q{1, 0}, k{0.6, 0.8}, v{2}, g{std::log(0.5)}, be{0.25}, h0{1, 1};
  ref::Vec o, ht;
  ref::gdn_forward(c, 1, q, k, v, g, be, &h0, o, ht);
  // k^T h0 = 1.4; S = 0.5 (h0 - 0.25 k 1.4) + 0.25 k 2 = 0.5 - 0.0875 * k + 0.5 k
  const double s0 = 0.5 - 0.5 * 0.25 * 0.6 * 1.4 + 0.25 * 0.6 * 2, s1 = 0.5 - 0.5 * 0.25 * 0.8 * 1.4 + 0.25 * 0.8 * 2;
  CHECK(std::fabs(ht[0] - s0) < 1e-15 && std::fabs(ht[1] - s1) < 1e-15 && std::fabs(o[0] - s0) < 1e-15,
        "ht %.17g %.17g o %.17g, want %.17g %.17g", ht[0], ht[1], o[0], s0, s1);
}

// ---------------------------------------------------------------- kernel vs reference
const int64_t kTs[] = {1, 63, 64, 65, 200, 1000};

TEST(gdn, sizes_heads_dtypes) {
  Rng r(52);
  struct S {
    int64_t Hq, Hkv, Dk, Dv;
  };
  const S shapes[] = {{1, 1, 64, 64}, {4, 1, 128, 128}, {4, 4, 64, 64}, {1, 1, 128, 128}, {4, 4, 128, 128},
                      {4, 1, 64, 64}};
  int i = 0;
  for (int64_t T : kTs)
    for (int32_t dt : {int32_t(LIGER_F32), int32_t(LIGER_BF16), int32_t(LIGER_F32) | 0x100}) {
      // T = 1000 runs two f32 shapes and one bf16 shape; shorter T one shape per dtype, in turn
      if (dt & 0x100 && T != 1000) continue;
      const S s = T == 1000 ? (dt == LIGER_F32 ? S{4, 1, 128, 128} : S{4, 4, 64, 64}) : shapes[size_t(i) % 6];
      ++i;
      dt &= 0xff;
      Case c;
      c.cfg.Hq = s.Hq, c.cfg.Hkv = s.Hkv, c.cfg.Dk = s.Dk, c.cfg.Dv = s.Dv, c.cfg.scale = 1.0 / std::sqrt(double(s.Dk));
      c.T = T, c.dtype = dt, c.gdtype = (i % 2) ? LIGER_F32 : dt;
      c.init(r);
      check(c, i % 3 != 0, true);
    }
}

TEST(gdn, dk_ne_dv_and_odd_sizes) {
  Rng r(53);
  struct S {
    int64_t Hq, Hkv, Dk, Dv, T;
  };
  for (int32_t dt : {LIGER_F32, LIGER_BF16})
    for (S s : {S{4, 2, 64, 128, 130}, S{2, 1, 128, 32, 70}, S{2, 1, 20, 36, 129}}) {
      Case c;
      c.cfg.Hq = s.Hq, c.cfg.Hkv = s.Hkv, c.cfg.Dk = s.Dk, c.cfg.Dv = s.Dv, c.cfg.scale = 0.3;
      c.T = s.T, c.dtype = dt;
      c.init(r);
      check(c, true, true);
    }
}

TEST(gdn, extreme_gates_and_betas) {
  Rng r(54);
  for (Gates ga : {Gates::NearZero, Gates::NearNegInf})
    for (Betas bs : {Betas::Sigmoid, Betas::ZeroOne})
      for (int32_t dt : {LIGER_F32, LIGER_BF16}) {
        Case c;
        c.cfg.Hq = 2, c.cfg.Hkv = 1, c.cfg.Dk = 64, c.cfg.Dv = 64, c.cfg.scale = 0.125;
        c.T = 150, c.dtype = dt, c.gates = ga, c.betas = bs;
        c.init(r);
        check(c, true, true);
      }
}

TEST(gdn, repeated_keys_full_writes) {
  Rng r(61);
  for (int32_t dt : {LIGER_F32, LIGER_BF16}) {
    Case c;
    c.cfg.Hq = 2, c.cfg.Hkv = 1, c.cfg.Dk = 64, c.cfg.Dv = 64, c.cfg.scale = 0.125;
    c.T = 200, c.dtype = dt, c.key_pool = 3, c.betas = Betas::ZeroOne, c.gates = Gates::NearZero;
    c.init(r);
    check(c, true, true);
  }
}

TEST(gdn, unnormalized_small_norm_inputs) {
  Rng r(55);
  Case c;
  c.cfg.Hq = 2, c.cfg.Hkv = 2, c.cfg.Dk = 64, c.cfg.Dv = 64, c.cfg.scale = 0.125;
  c.T = 200, c.normalize = false, c.qk_scale = 0.1;  // |k| about 0.8
  c.init(r);
  check(c, true, true);
}

TEST(gdn, strided_views) {
  Rng r(56);
  for (int32_t dt : {LIGER_F32, LIGER_BF16}) {
    Case c;
    c.cfg.Hq = 4, c.cfg.Hkv = 2, c.cfg.Dk = 64, c.cfg.Dv = 32, c.cfg.scale = 0.125;
    c.T = 100, c.dtype = dt, c.gdtype = dt, c.strided = true;
    c.init(r);
    check(c, true, true);
  }
}

TEST(gdn, varlen_with_empty_sequence) {
  Rng r(57);
  for (int32_t dt : {LIGER_F32, LIGER_BF16}) {
    Case c;
    c.cfg.Hq = 4, c.cfg.Hkv = 2, c.cfg.Dk = 64, c.cfg.Dv = 64, c.cfg.scale = 0.125;
    c.cu = {0, 70, 70, 71, 200, 264};
    c.T = 264, c.dtype = dt;
    c.init(r);
    check(c, true, true);
    check(c, false, true);
    c.threads = 32;  // more threads than (sequence, KV head) items: value tiles, chunk-parallel backward
    check(c, true, true);
  }
  Case b;  // a plain batch
  b.cfg.Hq = 2, b.cfg.Hkv = 1, b.cfg.Dk = 32, b.cfg.Dv = 48, b.B = 3, b.T = 66;
  b.init(r);
  check(b, true, true);
}

TEST(gdn, thread_counts_and_value_tiles) {
  Rng r(58);
  for (int32_t th : {1, 3, 4, 16}) {
    Case c;
    c.cfg.Hq = 1, c.cfg.Hkv = 1, c.cfg.Dk = 64, c.cfg.Dv = (th == 3 ? 36 : 128), c.cfg.scale = 0.125;
    c.T = 140, c.threads = th;
    c.init(r);
    check(c, true, true);
  }
}

TEST(gdn, concurrent_calls) {
  // calls from several threads share the worker pool (the losers run on their own thread)
  Rng r(62);
  std::vector<Case> cs(4);
  for (size_t i = 0; i < cs.size(); ++i) {
    Case& c = cs[i];
    c.cfg.Hq = 2, c.cfg.Hkv = 1, c.cfg.Dk = 32, c.cfg.Dv = 32, c.cfg.scale = 0.2;
    c.T = 100 + 30 * int64_t(i), c.threads = 2;
    c.init(r);
  }
  std::vector<std::thread> ts;
  std::vector<liger_status> st(cs.size() * 2, LIGER_ERR_RUNTIME);
  for (size_t i = 0; i < cs.size(); ++i)
    ts.emplace_back([&, i] {
      liger_gdn_params f = cs[i].fwd_params(true), b = cs[i].bwd_params(true);
      st[2 * i] = liger_gdn_forward(&f);
      st[2 * i + 1] = liger_gdn_backward(&b);
    });
  for (auto& t : ts) t.join();
  for (size_t i = 0; i < cs.size(); ++i) {
    CHECK(st[2 * i] == LIGER_OK && st[2 * i + 1] == LIGER_OK, "call %zu failed", i);
    // same results as a call on its own (check() poisons and reruns, then compares with the reference)
    Buf o = cs[i].o, dk = cs[i].dk;
    check(cs[i], true, true);
    CHECK(tu::max_abs_diff(o, cs[i].o) == 0 && tu::max_abs_diff(dk, cs[i].dk) == 0,
          "concurrent call %zu differs from a call on its own", i);
  }
}

// ---------------------------------------------------------------- states: in place, continuation, decode
TEST(gdn_states, in_place_prefill_A_then_B_equals_A_plus_B) {
  Rng r(59);
  for (int32_t dt : {LIGER_F32, LIGER_BF16})
    for (int64_t A : {1, 64, 100}) {
      Case c;
      c.cfg.Hq = 4, c.cfg.Hkv = 2, c.cfg.Dk = 64, c.cfg.Dv = 64, c.cfg.scale = 0.125;
      c.T = A + 90, c.B = 2, c.dtype = dt, c.threads = A == 64 ? 16 : 0;  // 16: value tiles updating in place
      c.init(r);
      Buf whole = Buf::make(dt, {c.B, c.T, c.cfg.Hq, c.cfg.Dv}), st = c.h0;
      liger_gdn_params p = c.fwd_params(true);
      p.o = whole.view();
      CHECK(liger_gdn_forward(&p) == LIGER_OK, "whole: %s", liger_last_error());
      // two calls, the state updated in place (h0 and ht the same tensor)
      c.o.poison();
      for (int part = 0; part < 2; ++part) {
        const int64_t t0 = part ? A : 0, len = part ? c.T - A : A;
        liger_gdn_params q = c.fwd_params(false);
        q.T = len;
        q.q = slice_t(c.q, t0, len), q.k = slice_t(c.k, t0, len), q.v = slice_t(c.v, t0, len);
        q.g = slice_t(c.g, t0, len), q.beta = slice_t(c.beta, t0, len), q.o = slice_t(c.o, t0, len);
        q.h0 = st.view(), q.ht = st.view();
        CHECK(liger_gdn_forward(&q) == LIGER_OK, "part %d: %s", part, liger_last_error());
      }
      double e = 0, m = 0;
      for (int64_t b = 0; b < c.B; ++b)
        for (int64_t t = 0; t < c.T; ++t)
          for (int64_t h = 0; h < c.cfg.Hq; ++h)
            for (int64_t d = 0; d < c.cfg.Dv; ++d) {
              const double x = c.o.get(b, t, h, d), y = whole.get(b, t, h, d);
              e = std::isfinite(x) ? std::max(e, std::fabs(x - y)) : INFINITY;
              m = std::max(m, std::fabs(y));
            }
      double es = max_err_vec(state_of(st, 0), state_of(c.ht, 0));
      es = std::max(es, max_err_vec(state_of(st, 1), state_of(c.ht, 1)));
      CHECK(e / m <= fwd_bound(dt) && es <= 1e-5, "%s A=%lld: A then B vs A+B: o err %.3g state err %.3g", dtn(dt),
            (long long)A, e / m, es);
    }
}

TEST(gdn_states, decode_N_steps_equal_forward) {
  Rng r(60);
  for (int32_t dt : {LIGER_F32, LIGER_BF16})
    for (bool in_place : {true, false}) {
      Case c;
      c.cfg.Hq = 4, c.cfg.Hkv = 2, c.cfg.Dk = 64, c.cfg.Dv = 32, c.cfg.scale = 0.125;
      c.T = 70, c.B = 2, c.dtype = dt, c.gdtype = in_place ? LIGER_F32 : dt;
      c.init(r);
      liger_gdn_params p = c.fwd_params(true);
      CHECK(liger_gdn_forward(&p) == LIGER_OK, "forward: %s", liger_last_error());
      Buf st = c.h0, st2 = Buf::make(LIGER_F32, {c.B, c.cfg.Hkv, c.cfg.Dk, c.cfg.Dv});
      Buf od = Buf::make(dt, {c.B, c.T, c.cfg.Hq, c.cfg.Dv});
      od.poison();
      for (int64_t t = 0; t < c.T; ++t) {
        liger_gdn_params d = c.fwd_params(false);
        d.T = 1;
        d.q = slice_t(c.q, t, 1), d.k = slice_t(c.k, t, 1), d.v = slice_t(c.v, t, 1);
        d.g = slice_t(c.g, t, 1), d.beta = slice_t(c.beta, t, 1), d.o = slice_t(od, t, 1);
        if (in_place) {
          d.h0 = st.view(), d.ht = st.view();
        } else {
          st2.poison();
          d.h0 = st.view(), d.ht = st2.view();
        }
        const liger_status s = liger_gdn_decode(&d);
        CHECK(s == LIGER_OK, "decode step %lld: %s", (long long)t, liger_last_error());
        if (!in_place) st.f = st2.f;
      }
      double e = 0, m = 0;
      for (int64_t b = 0; b < c.B; ++b)
        for (int64_t t = 0; t < c.T; ++t)
          for (int64_t h = 0; h < c.cfg.Hq; ++h)
            for (int64_t dd = 0; dd < c.cfg.Dv; ++dd) {
              const double x = od.get(b, t, h, dd), y = c.o.get(b, t, h, dd);
              e = std::isfinite(x) ? std::max(e, std::fabs(x - y)) : INFINITY;
              m = std::max(m, std::fabs(y));
            }
      double es = std::max(max_err_vec(state_of(st, 0), state_of(c.ht, 0)),
                           max_err_vec(state_of(st, 1), state_of(c.ht, 1)));
      // bf16: one output rounding on each side
      CHECK(e / m <= fwd_bound(dt) && es <= 1e-5, "%s in_place=%d: decode vs forward o err %.3g state err %.3g",
            dtn(dt), int(in_place), e / m, es);
    }
}

}  // namespace
