// Naive float64 references for the kernels: the per-token recurrence and an explicit window
// softmax, written for clarity, and their hand-derived backward passes (checked against central
// finite differences in test_reference.cpp). One sequence at a time; arrays are [L][H][D] row-major.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace ref {

using Vec = std::vector<double>;

struct AttnCfg {
  int64_t Hq = 1, Hkv = 1, D = 8;
  int variant = 0;  // 0 GLA, 1 HGRN2
  bool gate = true;
  double gate_norm = 16, mix = 0.5;
  int64_t W = 64;
  double swa_scale = 0;  // 0: 1/sqrt(D)
  double scale() const { return swa_scale != 0 ? swa_scale : 1.0 / std::sqrt(double(D)); }
};

inline double sigm(double x) { return 1.0 / (1.0 + std::exp(-x)); }
inline double logsig(double x) { return std::min(x, 0.0) - std::log1p(std::exp(-std::fabs(x))); }

inline void softmax(const double* x, double* y, int64_t n) {
  double m = x[0];
  for (int64_t i = 1; i < n; ++i) m = std::max(m, x[i]);
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += (y[i] = std::exp(x[i] - m));
  for (int64_t i = 0; i < n; ++i) y[i] /= s;
}
inline void softmax_bwd(const double* y, const double* dy, double* dx, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += y[i] * dy[i];
  for (int64_t i = 0; i < n; ++i) dx[i] += y[i] * (dy[i] - s);
}

// RoPE table [P][D/2] (float values as the kernels see them)
struct RopeTab {
  std::vector<float> cos, sin;
  int64_t P = 0, half = 0;
};
inline void rope(const RopeTab& r, const double* x, double* y, int64_t D, int64_t p) {
  const int64_t h = D / 2;
  for (int64_t j = 0; j < h; ++j) {
    double c = r.cos[p * h + j], s = r.sin[p * h + j];
    y[j] = x[j] * c - x[j + h] * s;
    y[j + h] = x[j + h] * c + x[j] * s;
  }
}
inline void rope_t_add(const RopeTab& r, const double* dy, double* dx, int64_t D, int64_t p) {
  const int64_t h = D / 2;
  for (int64_t j = 0; j < h; ++j) {
    double c = r.cos[p * h + j], s = r.sin[p * h + j];
    dx[j] += dy[j] * c + dy[j + h] * s;
    dx[j + h] += dy[j + h] * c - dy[j] * s;
  }
}

// Feature maps of the fused op for one raw key row.
inline void key_maps(const AttnCfg& c, const double* k, double* kf, double* g) {
  if (c.variant == 1)
    for (int64_t d = 0; d < c.D; ++d) kf[d] = 1.0 - sigm(k[d]);
  else
    softmax(k, kf, c.D);
  for (int64_t d = 0; d < c.D; ++d)
    g[d] = c.gate ? logsig(k[d]) / (c.variant == 1 ? 1.0 : c.gate_norm) : 0.0;
}

// Fused Liger attention forward over L tokens (positions 0..L-1). o: [L][Hq][D].
inline void attn_forward(const AttnCfg& c, int64_t L, const Vec& q, const Vec& k, const Vec& v,
                         const RopeTab& rt, Vec& o) {
  const int64_t D = c.D, G = c.Hq / c.Hkv;
  o.assign(size_t(L * c.Hq * D), 0.0);
  Vec S(D * D), kf(D), g(D), qf(D), qr(D), kr(L * D), s(L), og(D);
  for (int64_t hk = 0; hk < c.Hkv; ++hk) {
    std::fill(S.begin(), S.end(), 0.0);
    for (int64_t t = 0; t < L; ++t) rope(rt, &k[(t * c.Hkv + hk) * D], &kr[t * D], D, t);
    for (int64_t t = 0; t < L; ++t) {
      const double* kt = &k[(t * c.Hkv + hk) * D];
      const double* vt = &v[(t * c.Hkv + hk) * D];
      key_maps(c, kt, kf.data(), g.data());
      for (int64_t a = 0; a < D; ++a)
        for (int64_t b = 0; b < D; ++b) S[a * D + b] = std::exp(g[a]) * S[a * D + b] + kf[a] * vt[b];
      for (int64_t j = 0; j < G; ++j) {
        const int64_t hq = hk * G + j;
        const double* qt = &q[(t * c.Hq + hq) * D];
        double* ot = &o[(t * c.Hq + hq) * D];
        softmax(qt, qf.data(), D);
        for (int64_t b = 0; b < D; ++b) {
          double acc = 0;
          for (int64_t a = 0; a < D; ++a) acc += qf[a] * S[a * D + b];
          og[b] = acc;
        }
        rope(rt, qt, qr.data(), D, t);
        const int64_t lo = std::max<int64_t>(0, t - c.W + 1);
        double m = -1e300;
        for (int64_t u = lo; u <= t; ++u) {
          double acc = 0;
          for (int64_t d = 0; d < D; ++d) acc += qr[d] * kr[u * D + d];
          s[u] = acc * c.scale();
          m = std::max(m, s[u]);
        }
        double z = 0;
        for (int64_t u = lo; u <= t; ++u) z += (s[u] = std::exp(s[u] - m));
        for (int64_t d = 0; d < D; ++d) {
          double acc = 0;
          for (int64_t u = lo; u <= t; ++u) acc += s[u] / z * v[(u * c.Hkv + hk) * D + d];
          ot[d] = c.mix * og[d] + (1 - c.mix) * acc;
        }
      }
    }
  }
}

// Hand-derived backward of attn_forward: gradients of sum(o * dO) w.r.t. raw q, k, v.
inline void attn_backward(const AttnCfg& c, int64_t L, const Vec& q, const Vec& k, const Vec& v,
                          const RopeTab& rt, const Vec& dO, Vec& dq, Vec& dk, Vec& dv) {
  const int64_t D = c.D, G = c.Hq / c.Hkv;
  dq.assign(q.size(), 0.0);
  dk.assign(k.size(), 0.0);
  dv.assign(v.size(), 0.0);
  Vec Ss((L + 1) * D * D), dS(D * D), kf(L * D), g(L * D), qf(D), dqf(D), dkf(D), dg(D), kr(L * D), dkr(L * D),
      qr(D), dqr(D), P(L), dP(L);
  for (int64_t hk = 0; hk < c.Hkv; ++hk) {
    // GRM: states S_t stored, S_{-1} = 0 at index 0
    std::fill(Ss.begin(), Ss.begin() + D * D, 0.0);
    for (int64_t t = 0; t < L; ++t) {
      key_maps(c, &k[(t * c.Hkv + hk) * D], &kf[t * D], &g[t * D]);
      const double* vt = &v[(t * c.Hkv + hk) * D];
      for (int64_t a = 0; a < D; ++a)
        for (int64_t b = 0; b < D; ++b)
          Ss[(t + 1) * D * D + a * D + b] = std::exp(g[t * D + a]) * Ss[t * D * D + a * D + b] + kf[t * D + a] * vt[b];
    }
    std::fill(dS.begin(), dS.end(), 0.0);
    for (int64_t t = L - 1; t >= 0; --t) {
      const double* St = &Ss[(t + 1) * D * D];
      for (int64_t j = 0; j < G; ++j) {
        const int64_t hq = hk * G + j;
        const double* qt = &q[(t * c.Hq + hq) * D];
        const double* dot = &dO[(t * c.Hq + hq) * D];
        softmax(qt, qf.data(), D);
        for (int64_t a = 0; a < D; ++a) {
          double acc = 0;
          for (int64_t b = 0; b < D; ++b) {
            acc += St[a * D + b] * c.mix * dot[b];
            dS[a * D + b] += qf[a] * c.mix * dot[b];
          }
          dqf[a] = acc;
        }
        softmax_bwd(qf.data(), dqf.data(), &dq[(t * c.Hq + hq) * D], D);
      }
      const double* vt = &v[(t * c.Hkv + hk) * D];
      double* dvt = &dv[(t * c.Hkv + hk) * D];
      const double* Sp = &Ss[t * D * D];
      for (int64_t a = 0; a < D; ++a) {
        double acc = 0, accg = 0;
        const double ea = std::exp(g[t * D + a]);
        for (int64_t b = 0; b < D; ++b) {
          acc += dS[a * D + b] * vt[b];
          dvt[b] += kf[t * D + a] * dS[a * D + b];
          accg += Sp[a * D + b] * dS[a * D + b];
        }
        dkf[a] = acc;
        dg[a] = ea * accg;
        for (int64_t b = 0; b < D; ++b) dS[a * D + b] *= ea;
      }
      const double* kt = &k[(t * c.Hkv + hk) * D];
      double* dkt = &dk[(t * c.Hkv + hk) * D];
      if (c.variant == 1)
        for (int64_t a = 0; a < D; ++a) dkt[a] -= dkf[a] * sigm(kt[a]) * (1 - sigm(kt[a]));
      else
        softmax_bwd(&kf[t * D], dkf.data(), dkt, D);
      if (c.gate)
        for (int64_t a = 0; a < D; ++a) dkt[a] += dg[a] * sigm(-kt[a]) / (c.variant == 1 ? 1.0 : c.gate_norm);
    }
    // SWA
    for (int64_t t = 0; t < L; ++t) rope(rt, &k[(t * c.Hkv + hk) * D], &kr[t * D], D, t);
    std::fill(dkr.begin(), dkr.end(), 0.0);
    for (int64_t t = 0; t < L; ++t)
      for (int64_t j = 0; j < G; ++j) {
        const int64_t hq = hk * G + j;
        rope(rt, &q[(t * c.Hq + hq) * D], qr.data(), D, t);
        const double* dot = &dO[(t * c.Hq + hq) * D];
        const int64_t lo = std::max<int64_t>(0, t - c.W + 1);
        double m = -1e300;
        for (int64_t u = lo; u <= t; ++u) {
          double acc = 0;
          for (int64_t d = 0; d < D; ++d) acc += qr[d] * kr[u * D + d];
          P[u] = acc * c.scale();
          m = std::max(m, P[u]);
        }
        double z = 0;
        for (int64_t u = lo; u <= t; ++u) z += (P[u] = std::exp(P[u] - m));
        double Di = 0;
        for (int64_t u = lo; u <= t; ++u) {
          P[u] /= z;
          double acc = 0;
          for (int64_t d = 0; d < D; ++d) acc += (1 - c.mix) * dot[d] * v[(u * c.Hkv + hk) * D + d];
          dP[u] = acc;
          Di += P[u] * acc;
        }
        std::fill(dqr.begin(), dqr.end(), 0.0);
        for (int64_t u = lo; u <= t; ++u) {
          const double ds = P[u] * (dP[u] - Di) * c.scale();
          for (int64_t d = 0; d < D; ++d) {
            dqr[d] += ds * kr[u * D + d];
            dkr[u * D + d] += ds * qr[d];
            dv[(u * c.Hkv + hk) * D + d] += P[u] * (1 - c.mix) * dot[d];
          }
        }
        rope_t_add(rt, dqr.data(), &dq[(t * c.Hq + hq) * D], D, t);
      }
    for (int64_t t = 0; t < L; ++t) rope_t_add(rt, &dkr[t * D], &dk[(t * c.Hkv + hk) * D], D, t);
  }
}

// Plain GLA: S_t = diag(exp(g_t)) S_{t-1} + k_t^T v_t, o_t = scale q_t S_t; h0/ht [Hkv][Dk][Dv].
struct GlaCfg {
  int64_t Hq = 1, Hkv = 1, Dk = 8, Dv = 8;
  double scale = 1;
};
inline void gla_forward(const GlaCfg& c, int64_t L, const Vec& q, const Vec& k, const Vec& v, const Vec& g,
                        const Vec* h0, Vec& o, Vec& ht) {
  const int64_t Dk = c.Dk, Dv = c.Dv, G = c.Hq / c.Hkv;
  o.assign(size_t(L * c.Hq * Dv), 0.0);
  ht.assign(size_t(c.Hkv * Dk * Dv), 0.0);
  for (int64_t hk = 0; hk < c.Hkv; ++hk) {
    Vec S(Dk * Dv, 0.0);
    if (h0) std::copy(h0->begin() + hk * Dk * Dv, h0->begin() + (hk + 1) * Dk * Dv, S.begin());
    for (int64_t t = 0; t < L; ++t) {
      for (int64_t a = 0; a < Dk; ++a)
        for (int64_t b = 0; b < Dv; ++b)
          S[a * Dv + b] = std::exp(g[(t * c.Hkv + hk) * Dk + a]) * S[a * Dv + b] +
                          k[(t * c.Hkv + hk) * Dk + a] * v[(t * c.Hkv + hk) * Dv + b];
      for (int64_t j = 0; j < G; ++j) {
        const int64_t hq = hk * G + j;
        for (int64_t b = 0; b < Dv; ++b) {
          double acc = 0;
          for (int64_t a = 0; a < Dk; ++a) acc += q[(t * c.Hq + hq) * Dk + a] * S[a * Dv + b];
          o[(t * c.Hq + hq) * Dv + b] = c.scale * acc;
        }
      }
    }
    std::copy(S.begin(), S.end(), ht.begin() + hk * Dk * Dv);
  }
}
// Gradients of sum(o * dO) + sum(ht * dht).
inline void gla_backward(const GlaCfg& c, int64_t L, const Vec& q, const Vec& k, const Vec& v, const Vec& g,
                         const Vec* h0, const Vec& dO, const Vec* dht, Vec& dq, Vec& dk, Vec& dv, Vec& dg, Vec& dh0) {
  const int64_t Dk = c.Dk, Dv = c.Dv, G = c.Hq / c.Hkv, SS = Dk * Dv;
  dq.assign(q.size(), 0.0);
  dk.assign(k.size(), 0.0);
  dv.assign(v.size(), 0.0);
  dg.assign(g.size(), 0.0);
  dh0.assign(size_t(c.Hkv * SS), 0.0);
  Vec Ss((L + 1) * SS), dS(SS);
  for (int64_t hk = 0; hk < c.Hkv; ++hk) {
    std::fill(Ss.begin(), Ss.begin() + SS, 0.0);
    if (h0) std::copy(h0->begin() + hk * SS, h0->begin() + (hk + 1) * SS, Ss.begin());
    auto K = [&](int64_t t, int64_t a) { return k[(t * c.Hkv + hk) * Dk + a]; };
    auto V = [&](int64_t t, int64_t b) { return v[(t * c.Hkv + hk) * Dv + b]; };
    auto E = [&](int64_t t, int64_t a) { return std::exp(g[(t * c.Hkv + hk) * Dk + a]); };
    for (int64_t t = 0; t < L; ++t)
      for (int64_t a = 0; a < Dk; ++a)
        for (int64_t b = 0; b < Dv; ++b)
          Ss[(t + 1) * SS + a * Dv + b] = E(t, a) * Ss[t * SS + a * Dv + b] + K(t, a) * V(t, b);
    if (dht) std::copy(dht->begin() + hk * SS, dht->begin() + (hk + 1) * SS, dS.begin());
    else std::fill(dS.begin(), dS.end(), 0.0);
    for (int64_t t = L - 1; t >= 0; --t) {
      for (int64_t j = 0; j < G; ++j) {
        const int64_t hq = hk * G + j;
        for (int64_t a = 0; a < Dk; ++a) {
          double acc = 0;
          for (int64_t b = 0; b < Dv; ++b) {
            acc += Ss[(t + 1) * SS + a * Dv + b] * dO[(t * c.Hq + hq) * Dv + b];
            dS[a * Dv + b] += c.scale * q[(t * c.Hq + hq) * Dk + a] * dO[(t * c.Hq + hq) * Dv + b];
          }
          dq[(t * c.Hq + hq) * Dk + a] = c.scale * acc;
        }
      }
      for (int64_t a = 0; a < Dk; ++a) {
        double acck = 0, accg = 0;
        for (int64_t b = 0; b < Dv; ++b) {
          acck += dS[a * Dv + b] * V(t, b);
          dv[(t * c.Hkv + hk) * Dv + b] += K(t, a) * dS[a * Dv + b];
          accg += Ss[t * SS + a * Dv + b] * dS[a * Dv + b];
        }
        dk[(t * c.Hkv + hk) * Dk + a] = acck;
        dg[(t * c.Hkv + hk) * Dk + a] = E(t, a) * accg;
        for (int64_t b = 0; b < Dv; ++b) dS[a * Dv + b] *= E(t, a);
      }
    }
    std::copy(dS.begin(), dS.end(), dh0.begin() + hk * SS);
  }
}

// Gated delta rule (one sequence): S_t = exp(g_t) (I - beta_t k_t k_t^T) S_{t-1} + beta_t k_t v_t^T,
// o_t = scale S_t^T q_t; g, beta: [L][Hkv]; states [Hkv][Dk][Dv]; query head i reads KV head i / (Hq / Hkv).
struct GdnCfg {
  int64_t Hq = 1, Hkv = 1, Dk = 8, Dv = 8;
  double scale = 1;
};
inline void gdn_forward(const GdnCfg& c, int64_t L, const Vec& q, const Vec& k, const Vec& v, const Vec& g,
                        const Vec& beta, const Vec* h0, Vec& o, Vec& ht) {
  const int64_t Dk = c.Dk, Dv = c.Dv, G = c.Hq / c.Hkv;
  o.assign(size_t(L * c.Hq * Dv), 0.0);
  ht.assign(size_t(c.Hkv * Dk * Dv), 0.0);
  Vec u(Dv);
  for (int64_t hk = 0; hk < c.Hkv; ++hk) {
    Vec S(Dk * Dv, 0.0);
    if (h0) std::copy(h0->begin() + hk * Dk * Dv, h0->begin() + (hk + 1) * Dk * Dv, S.begin());
    for (int64_t t = 0; t < L; ++t) {
      const double* kt = &k[(t * c.Hkv + hk) * Dk];
      const double* vt = &v[(t * c.Hkv + hk) * Dv];
      const double e = std::exp(g[t * c.Hkv + hk]), b = beta[t * c.Hkv + hk];
      for (int64_t y = 0; y < Dv; ++y) {
        double acc = 0;
        for (int64_t a = 0; a < Dk; ++a) acc += kt[a] * S[a * Dv + y];
        u[y] = acc;  // S_{t-1}^T k_t
      }
      for (int64_t a = 0; a < Dk; ++a)
        for (int64_t y = 0; y < Dv; ++y) S[a * Dv + y] = e * S[a * Dv + y] - e * b * kt[a] * u[y] + b * kt[a] * vt[y];
      for (int64_t j = 0; j < G; ++j) {
        const int64_t hq = hk * G + j;
        for (int64_t y = 0; y < Dv; ++y) {
          double acc = 0;
          for (int64_t a = 0; a < Dk; ++a) acc += q[(t * c.Hq + hq) * Dk + a] * S[a * Dv + y];
          o[(t * c.Hq + hq) * Dv + y] = c.scale * acc;
        }
      }
    }
    std::copy(S.begin(), S.end(), ht.begin() + hk * Dk * Dv);
  }
}
// Hand-derived reverse mode of gdn_forward: gradients of sum(o * dO) + sum(ht * dht).
inline void gdn_backward(const GdnCfg& c, int64_t L, const Vec& q, const Vec& k, const Vec& v, const Vec& g,
                         const Vec& beta, const Vec* h0, const Vec& dO, const Vec* dht, Vec& dq, Vec& dk, Vec& dv,
                         Vec& dg, Vec& dbeta, Vec& dh0) {
  const int64_t Dk = c.Dk, Dv = c.Dv, G = c.Hq / c.Hkv, SS = Dk * Dv;
  dq.assign(q.size(), 0.0);
  dk.assign(k.size(), 0.0);
  dv.assign(v.size(), 0.0);
  dg.assign(g.size(), 0.0);
  dbeta.assign(beta.size(), 0.0);
  dh0.assign(size_t(c.Hkv * SS), 0.0);
  Vec Ss((L + 1) * SS), dS(SS), u(Dv), w(Dv);
  for (int64_t hk = 0; hk < c.Hkv; ++hk) {
    // states S_0 .. S_L (S_0 = h0)
    std::fill(Ss.begin(), Ss.begin() + SS, 0.0);
    if (h0) std::copy(h0->begin() + hk * SS, h0->begin() + (hk + 1) * SS, Ss.begin());
    for (int64_t t = 0; t < L; ++t) {
      const double* kt = &k[(t * c.Hkv + hk) * Dk];
      const double* vt = &v[(t * c.Hkv + hk) * Dv];
      const double e = std::exp(g[t * c.Hkv + hk]), b = beta[t * c.Hkv + hk];
      const double* P = &Ss[t * SS];
      double* Sn = &Ss[(t + 1) * SS];
      for (int64_t y = 0; y < Dv; ++y) {
        double acc = 0;
        for (int64_t a = 0; a < Dk; ++a) acc += kt[a] * P[a * Dv + y];
        u[y] = acc;
      }
      for (int64_t a = 0; a < Dk; ++a)
        for (int64_t y = 0; y < Dv; ++y) Sn[a * Dv + y] = e * P[a * Dv + y] - e * b * kt[a] * u[y] + b * kt[a] * vt[y];
    }
    if (dht) std::copy(dht->begin() + hk * SS, dht->begin() + (hk + 1) * SS, dS.begin());
    else std::fill(dS.begin(), dS.end(), 0.0);
    for (int64_t t = L - 1; t >= 0; --t) {
      const double* P = &Ss[t * SS];
      const double* Sn = &Ss[(t + 1) * SS];
      // o_t = scale S_t^T q_t
      for (int64_t j = 0; j < G; ++j) {
        const int64_t hq = hk * G + j;
        const double* qt = &q[(t * c.Hq + hq) * Dk];
        const double* dot = &dO[(t * c.Hq + hq) * Dv];
        for (int64_t a = 0; a < Dk; ++a) {
          double acc = 0;
          for (int64_t y = 0; y < Dv; ++y) {
            acc += Sn[a * Dv + y] * dot[y];
            dS[a * Dv + y] += c.scale * qt[a] * dot[y];
          }
          dq[(t * c.Hq + hq) * Dk + a] = c.scale * acc;
        }
      }
      // S_t = e P - e b k u^T + b k v^T with u = P^T k
      const double* kt = &k[(t * c.Hkv + hk) * Dk];
      const double* vt = &v[(t * c.Hkv + hk) * Dv];
      const double e = std::exp(g[t * c.Hkv + hk]), b = beta[t * c.Hkv + hk];
      for (int64_t y = 0; y < Dv; ++y) {
        double au = 0, aw = 0;
        for (int64_t a = 0; a < Dk; ++a) au += kt[a] * P[a * Dv + y], aw += kt[a] * dS[a * Dv + y];
        u[y] = au, w[y] = aw;  // w = dS^T k
      }
      double de = 0, db = 0;
      for (int64_t a = 0; a < Dk; ++a)
        for (int64_t y = 0; y < Dv; ++y) de += dS[a * Dv + y] * (P[a * Dv + y] - b * kt[a] * u[y]);
      for (int64_t y = 0; y < Dv; ++y) {
        db += w[y] * (vt[y] - e * u[y]);
        dv[(t * c.Hkv + hk) * Dv + y] = b * w[y];
      }
      dg[t * c.Hkv + hk] = e * de;
      dbeta[t * c.Hkv + hk] = db;
      for (int64_t a = 0; a < Dk; ++a) {
        double acc = 0;
        for (int64_t y = 0; y < Dv; ++y)
          acc += b * dS[a * Dv + y] * (vt[y] - e * u[y]) - e * b * P[a * Dv + y] * w[y];
        dk[(t * c.Hkv + hk) * Dk + a] = acc;
      }
      for (int64_t a = 0; a < Dk; ++a)
        for (int64_t y = 0; y < Dv; ++y) dS[a * Dv + y] = e * dS[a * Dv + y] - e * b * kt[a] * w[y];
    }
    std::copy(dS.begin(), dS.end(), dh0.begin() + hk * SS);
  }
}

}  // namespace ref
