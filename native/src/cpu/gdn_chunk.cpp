// Gated delta rule on the CPU (DESIGN.md 1.1 Liger-GDN, section 2): chunked forward in the UT/WY
// form, the backward, and the decode step.
//
//   S_t = exp(g_t) (I - beta_t k_t k_t^T) S_{t-1} + beta_t k_t v_t^T,   o_t = scale S_t^T q_t
//
// Forward, per chunk of c <= 64 rows with chunk-start state h and G the inclusive cumulative sum of
// g inside the chunk (kept in double: a gate of -1e4 next to gates near 0 would otherwise lose the
// small differences G_i - G_j):
//   Gamma_ij = exp(G_i - G_j) for j <= i only (exponent <= 0; pairs j > i are never exponentiated)
//   A  = strict_tril(diag(beta) K K^T * Gamma),  T = (I + A)^-1 (unit lower triangular, forward
//        substitution)
//   W  = T diag(beta) (K * exp(G)),  U = T diag(beta) V,  V' = U - W h
//   o  = scale ((Q * exp(G)) h + tril(Q K^T * Gamma) V')
//   h <- exp(G_last) h + (K * exp(G_last - G))^T V'
// The columns of the state evolve independently, so the forward splits Dv into tiles when there are
// fewer (sequence, KV head) items than threads.
//
// Backward, per chunk from the last, with dH the gradient w.r.t. the chunk-end state (h recomputed by
// a forward state pass):
//   dV' = (K * exp(G_last - G)) dH + P^T dO          (P = tril(scale Q K^T * Gamma), per query head)
//   dh  = exp(G_last) dH + (scale Q * exp(G))^T dO - W^T dV'
//   dW  = -dV' h^T, dU = dV';  dR = T^T d(W|U), dT = dW R1^T + dU R2^T, dA = -T^T dT T^T
// then dq, dk, dv, dbeta from the products, and dG (w.r.t. the cumulative gate) from every factor
// exp(G_a - G_b) as +x at a and -x at b; dg is its reverse cumulative sum inside the chunk (each
// chunk restarts G, and the cross-chunk part travels in dh).
#include <algorithm>
#include <cmath>
#include <memory>
#include <new>
#include <vector>

#include "backend.h"
#include "cpu_common.h"

namespace liger::cpu {

namespace {

constexpr int64_t C = 64;  // chunk length

struct Seqs {
  const liger_tensor* cu;
  int64_t T;
  SeqSpan get(int64_t n) const {
    SeqSpan s = seq_span(*cu, n);
    if (s.len < 0) s.len = T;
    return s;
  }
};

int64_t num_seqs(const liger_gdn_params& p) { return p.cu_seqlens.data ? p.cu_seqlens.shape[0] - 1 : p.B; }

// A view whose element 0 of the last dimension is element d0 of v (value tiles).
View4 shifted(View4 v, int64_t d0) {
  if (v.base) v.base += d0 * v.s3 * int64_t(v.esize());
  return v;
}

float read1(const View4& v, int64_t b, int64_t t, int64_t h) {
  float x;
  v.read(b, t, h, 1, &x);
  return x;
}

inline int64_t pad16(int64_t n) { return (n + 15) / 16 * 16; }

// Scratch of one forward work item: a value tile of width dv of one (sequence, KV head).
struct FwdBufs {
  float *K, *KT, *KdT, *V, *gam, *A, *Tm, *R1, *R2, *Wn, *U, *Q, *QK, *O, *h;
  static int64_t floats(int64_t Dk, int64_t dv) {
    return 6 * C * pad16(Dk) + 4 * C * pad16(dv) + 4 * C * C + pad16(Dk) * pad16(dv) + 64;
  }
  void bind(float* m, int64_t Dk, int64_t dv) {
    const int64_t k = C * pad16(Dk), v = C * pad16(dv);
    K = m, m += k;
    KT = m, m += k;
    KdT = m, m += k;
    V = m, m += v;
    gam = m, m += C * C;
    A = m, m += C * C;
    Tm = m, m += C * C;
    R1 = m, m += k;
    Wn = m, m += k;
    R2 = m, m += v;
    U = m, m += v;
    Q = m, m += k;
    QK = m, m += C * C;
    O = m, m += v;
    h = m;
  }
};

struct Ctx {
  const liger_gdn_params* p;
  Seqs seqs;
  int64_t Dk, Dv, G;
  View4 q, k, v, g, beta, o;
};

// Per-chunk scalars: cumulative log-gate (double), exp(G_i), exp(G_last - G_i), beta.
struct ChunkScalars {
  int64_t c = 0;
  double Gd[C];
  float eG[C], fL[C], bt[C];
};

// Loads chunk rows [c0, c0 + c) of one KV head (values: the tile vv of width dv) and computes Gamma,
// KT, A, T, R1 = -diag(beta) (K * exp(G)), R2 = diag(beta) V, Wn = T R1 = -W and U = T R2. KK, when
// given, receives K K^T before masking.
void prepare_chunk(const Ctx& x, FwdBufs& f, ChunkScalars& cs, const SeqSpan& s, int64_t hk, const View4& vv,
                   int64_t dv, int64_t c0, int64_t c, float* KK) {
  const int64_t Dk = x.Dk;
  float row[C];
  cs.c = c;
  double acc = 0;
  for (int64_t i = 0; i < c; ++i) {
    const int64_t t = s.t0 + c0 + i;
    x.k.read(s.b, t, hk, Dk, f.K + i * Dk);
    vv.read(s.b, t, hk, dv, f.V + i * dv);
    acc += double(read1(x.g, s.b, t, hk));
    cs.Gd[i] = acc;
    cs.bt[i] = read1(x.beta, s.b, t, hk);
  }
  for (int64_t i = 0; i < c; ++i) {
    cs.eG[i] = float(std::exp(cs.Gd[i]));
    cs.fL[i] = float(std::exp(cs.Gd[c - 1] - cs.Gd[i]));
  }
  // Gamma, lower triangle only
  for (int64_t i = 0; i < c; ++i) {
    float* gr = f.gam + i * C;
    for (int64_t j = 0; j <= i; ++j) row[j] = float(cs.Gd[i] - cs.Gd[j]);
    vexp(row, gr, i + 1);
    std::fill(gr + i + 1, gr + c, 0.f);
  }
  transpose(c, Dk, f.K, Dk, f.KT, C);
  // A = strict_tril(diag(beta) K K^T * Gamma)
  gemm(c, c, Dk, f.K, Dk, f.KT, C, f.A, C, false);
  if (KK)
    for (int64_t i = 0; i < c; ++i) std::copy(f.A + i * C, f.A + i * C + c, KK + i * C);
  for (int64_t i = 0; i < c; ++i) {
    float* a = f.A + i * C;
    const float* gr = f.gam + i * C;
    for (int64_t j = 0; j < i; ++j) a[j] *= cs.bt[i] * gr[j];
    std::fill(a + i, a + c, 0.f);
  }
  // T = (I + A)^-1 by forward substitution: row i = e_i - sum_{m < i} A_im T_m
  for (int64_t i = 0; i < c; ++i) {
    float* tr = f.Tm + i * C;
    std::fill(tr, tr + c, 0.f);
    tr[i] = 1.f;
    const float* a = f.A + i * C;
    for (int64_t m = 0; m < i; ++m)
      if (a[m] != 0.f) axpy(-a[m], f.Tm + m * C, tr, m + 1);
  }
  for (int64_t i = 0; i < c; ++i) {
    const float sk = -cs.bt[i] * cs.eG[i];
    for (int64_t d = 0; d < Dk; ++d) f.R1[i * Dk + d] = sk * f.K[i * Dk + d];
    for (int64_t e = 0; e < dv; ++e) f.R2[i * dv + e] = cs.bt[i] * f.V[i * dv + e];
  }
  gemm(c, Dk, c, f.Tm, C, f.R1, Dk, f.Wn, Dk, false);
  gemm(c, dv, c, f.Tm, C, f.R2, dv, f.U, dv, false);
}

// Runs the chunked forward of one (sequence n, KV head hk, value columns [v0, v0 + dv)). With
// write_o the outputs of the group's query heads are written; states (optional) receives the
// chunk-boundary states (row d of boundary ci at states + ci * sstride + d * sld; the last one is
// the final state); h holds the initial state on entry and the final state on return.
void forward_item(const Ctx& x, FwdBufs& f, int64_t n, int64_t hk, int64_t v0, int64_t dv, bool write_o,
                  float* states, int64_t sld = 0, int64_t sstride = 0) {
  const int64_t Dk = x.Dk, S = Dk * dv;
  const SeqSpan s = x.seqs.get(n);
  const View4 vv = shifted(x.v, v0), oo = shifted(x.o, v0);
  const float scale = x.p->scale;
  float* h = f.h;
  int64_t ci = 0;
  ChunkScalars cs;
  auto store = [&](int64_t at) {
    for (int64_t d = 0; d < Dk; ++d) std::copy(h + d * dv, h + (d + 1) * dv, states + at * sstride + d * sld);
  };
  for (int64_t c0 = 0; c0 < s.len; c0 += C, ++ci) {
    if (states) store(ci);
    const int64_t c = std::min(C, s.len - c0);
    prepare_chunk(x, f, cs, s, hk, vv, dv, c0, c, nullptr);
    // rows are far apart in [B, T, H, D] layouts: prefetch the next chunk's k and v
    const int64_t cn = std::min(C, s.len - c0 - C);
    if (cn > 0) x.k.prefetch(s.b, s.t0 + c0 + C, cn, hk, Dk), vv.prefetch(s.b, s.t0 + c0 + C, cn, hk, dv);
    // V' = U - W h (in U)
    gemm(c, dv, Dk, f.Wn, Dk, h, dv, f.U, dv, true);
    if (write_o) {
      for (int64_t j = 0; j < x.G; ++j) {
        const int64_t hq = hk * x.G + j;
        if (j + 1 < x.G) x.q.prefetch(s.b, s.t0 + c0, c, hq + 1, Dk);
        else if (cn > 0) x.q.prefetch(s.b, s.t0 + c0 + C, cn, hk * x.G, Dk);
        for (int64_t i = 0; i < c; ++i) x.q.read(s.b, s.t0 + c0 + i, hq, Dk, f.Q + i * Dk);
        gemm(c, c, Dk, f.Q, Dk, f.KT, C, f.QK, C, false);
        for (int64_t i = 0; i < c; ++i) {
          float* a = f.QK + i * C;
          const float* gr = f.gam + i * C;
          for (int64_t jj = 0; jj <= i; ++jj) a[jj] *= scale * gr[jj];
          std::fill(a + i + 1, a + c, 0.f);
          const float se = scale * cs.eG[i];
          for (int64_t d = 0; d < Dk; ++d) f.Q[i * Dk + d] *= se;
        }
        gemm(c, dv, Dk, f.Q, Dk, h, dv, f.O, dv, false);
        gemm(c, dv, c, f.QK, C, f.U, dv, f.O, dv, true);
        for (int64_t i = 0; i < c; ++i) oo.write(s.b, s.t0 + c0 + i, hq, dv, f.O + i * dv);
      }
    }
    // h <- exp(G_last) h + (K * exp(G_last - G))^T V'
    const float gl = cs.eG[c - 1];
    for (int64_t e = 0; e < S; ++e) h[e] *= gl;
    for (int64_t d = 0; d < Dk; ++d)
      for (int64_t i = 0; i < c; ++i) f.KdT[d * C + i] = f.KT[d * C + i] * cs.fL[i];
    gemm(Dk, dv, c, f.KdT, C, f.U, dv, h, dv, true);
  }
  if (states) store(ci);
}

Ctx make_ctx(const liger_gdn_params& p) {
  Ctx x{&p, Seqs{&p.cu_seqlens, p.T}, p.Dk, p.Dv, p.Hq / p.Hkv, View4(p.q), View4(p.k), View4(p.v),
        View4(p.g), View4(p.beta), View4(p.o)};
  return x;
}

}  // namespace

liger_status gdn_forward(const liger_gdn_params& p) {
  const Ctx x = make_ctx(p);
  const int64_t N = num_seqs(p), Dk = p.Dk, Dv = p.Dv, items = N * p.Hkv;
  const int threads = resolve_threads(p.num_threads);
  // value tiles (multiples of 16 columns) when the items alone cannot occupy the threads
  int64_t tile = Dv;
  if (items < threads && Dv > 16) {
    const int64_t want = std::min<int64_t>((threads + items - 1) / items, (Dv + 15) / 16);
    tile = pad16((Dv + want - 1) / want);
  }
  const int64_t ntile = (Dv + tile - 1) / tile;
  const int64_t per = FwdBufs::floats(Dk, tile);
  const float* h0 = static_cast<const float*>(p.h0.data);
  float* ht = static_cast<float*>(p.ht.data);
  parallel_for(items * ntile, threads, [&](int64_t it, int) {
    const int64_t item = it / ntile, v0 = (it % ntile) * tile, dv = std::min(tile, Dv - v0);
    const int64_t n = item / p.Hkv, hk = item % p.Hkv;
    FwdBufs f;
    f.bind(thread_scratch(per), Dk, dv);
    for (int64_t d = 0; d < Dk; ++d) {
      float* hr = f.h + d * dv;
      if (h0) std::copy(h0 + (item * Dk + d) * Dv + v0, h0 + (item * Dk + d) * Dv + v0 + dv, hr);
      else std::fill(hr, hr + dv, 0.f);
    }
    forward_item(x, f, n, hk, v0, dv, true, nullptr);
    if (ht)
      for (int64_t d = 0; d < Dk; ++d) std::copy(f.h + d * dv, f.h + (d + 1) * dv, ht + (item * Dk + d) * Dv + v0);
  });
  return LIGER_OK;
}

liger_status gdn_decode(const liger_gdn_params& p) {
  const int64_t Dk = p.Dk, Dv = p.Dv, G = p.Hq / p.Hkv, S = Dk * Dv;
  const int threads = resolve_threads(p.num_threads);
  const View4 q(p.q), k(p.k), v(p.v), g(p.g), beta(p.beta), o(p.o);
  const float* h0 = static_cast<const float*>(p.h0.data);
  float* ht = static_cast<float*>(p.ht.data);
  const int64_t per = (G + 1) * pad16(Dk) + (G + 2) * pad16(Dv) + 64;
  parallel_for(p.B * p.Hkv, threads, [&](int64_t item, int) {
    const int64_t n = item / p.Hkv, hk = item % p.Hkv;
    float* m = thread_scratch(per);
    float *kk = m, *qq = kk + pad16(Dk), *vv = qq + G * pad16(Dk), *u = vv + pad16(Dv), *oo = u + pad16(Dv);
    const float* src = h0 + item * S;
    float* dst = ht + item * S;  // may be src: every row is read before it is written
    k.read(n, 0, hk, Dk, kk);
    v.read(n, 0, hk, Dv, vv);
    for (int64_t j = 0; j < G; ++j) q.read(n, 0, hk * G + j, Dk, qq + j * pad16(Dk));
    const float e = float(std::exp(double(read1(g, n, 0, hk)))), b = read1(beta, n, 0, hk);
    // u = S^T k; then row by row S_d <- e S_d + k_d beta (v - e u) and o_j += scale q_jd S_d: two
    // passes over the state (decode is memory bound)
    std::fill(u, u + Dv, 0.f);
    for (int64_t d = 0; d < Dk; ++d) axpy(kk[d], src + d * Dv, u, Dv);
    for (int64_t c = 0; c < Dv; ++c) u[c] = b * (vv[c] - e * u[c]);
    std::fill(oo, oo + G * pad16(Dv), 0.f);
    for (int64_t d = 0; d < Dk; ++d) {
      const float* sr = src + d * Dv;
      float* hr = dst + d * Dv;
      for (int64_t c = 0; c < Dv; ++c) hr[c] = e * sr[c] + kk[d] * u[c];
      for (int64_t j = 0; j < G; ++j) axpy(p.scale * qq[j * pad16(Dk) + d], hr, oo + j * pad16(Dv), Dv);
    }
    for (int64_t j = 0; j < G; ++j) o.write(n, 0, hk * G + j, Dv, oo + j * pad16(Dv));
  });
  return LIGER_OK;
}

namespace {

// Scratch of the backward of one chunk (besides FwdBufs).
struct BwdBufs {
  float *hT, *dHT, *KK, *P, *PT, *dP, *dPT, *TT, *dT, *tmp, *dA, *M, *Kd, *dK, *dQ, *QeT, *WnT, *dWn, *dR1, *VpT,
      *dVp, *dOc, *dR2, *R2T, *dVo, *dHn;
  static int64_t floats(int64_t Dk, int64_t Dv) {
    return 3 * pad16(Dk * Dv) + 10 * C * C + 7 * C * pad16(Dk) + 6 * C * pad16(Dv) + 64;
  }
  void bind(float* m, int64_t Dk, int64_t Dv) {
    auto take = [&](int64_t k) {
      float* r = m;
      m += k;
      return r;
    };
    const int64_t PS = pad16(Dk * Dv), CC = C * C, CK = C * pad16(Dk), CV = C * pad16(Dv);
    hT = take(PS), dHT = take(PS), dHn = take(PS);
    KK = take(CC), P = take(CC), PT = take(CC), dP = take(CC), dPT = take(CC), TT = take(CC), dT = take(CC);
    tmp = take(CC), dA = take(CC), M = take(CC);
    Kd = take(CK), dK = take(CK), dQ = take(CK), QeT = take(CK), WnT = take(CK), dWn = take(CK), dR1 = take(CK);
    VpT = take(CV), dVp = take(CV), dOc = take(CV), dR2 = take(CV), R2T = take(CV), dVo = take(CV);
  }
};

struct GradViews {
  View4 dO, dq, dk, dv, dg, dbeta;
};

// P = tril(scale Q K^T * Gamma) of one query head (rows c, leading dimension C).
void scores(const FwdBufs& f, int64_t c, int64_t Dk, float scale, float* P) {
  gemm(c, c, Dk, f.Q, Dk, f.KT, C, P, C, false);
  for (int64_t i = 0; i < c; ++i) {
    float* a = P + i * C;
    const float* gr = f.gam + i * C;
    for (int64_t j = 0; j <= i; ++j) a[j] *= scale * gr[j];
    std::fill(a + i + 1, a + c, 0.f);
  }
}

// Backward of chunk [c0, c0 + c) of (sequence s, KV head hk) from its start state h and dH, the
// gradient w.r.t. its end state: writes dq, dk, dv, dg, dbeta of its rows and, when dHn is given,
// the gradient w.r.t. the start state.
void chunk_backward(const Ctx& x, const GradViews& gv, FwdBufs& f, BwdBufs& w, const SeqSpan& s, int64_t hk,
                    int64_t c0, int64_t c, const float* h, const float* dH, float* dHn) {
  const int64_t Dk = x.Dk, Dv = x.Dv, G = x.G, S = Dk * Dv;
  const float scale = x.p->scale;
  ChunkScalars cs;
  double dG[C];
  float gout[C], bout[C];
  float* R1T = f.KdT;  // free in the backward
  prepare_chunk(x, f, cs, s, hk, x.v, Dv, c0, c, w.KK);
  float* Vp = f.U;
  gemm(c, Dv, Dk, f.Wn, Dk, h, Dv, Vp, Dv, true);  // V' = U - W h
  transpose(Dk, Dv, h, Dv, w.hT, Dk);
  transpose(c, Dv, Vp, Dv, w.VpT, C);
  transpose(Dk, Dv, dH, Dv, w.dHT, Dk);
  for (int64_t i = 0; i < c; ++i)
    for (int64_t d = 0; d < Dk; ++d) w.Kd[i * Dk + d] = f.K[i * Dk + d] * cs.fL[i];
  std::fill(dG, dG + c, 0.0);
  // state update h' = exp(G_last) h + Kd^T V':  dV' = Kd dH, dKd = V' dH^T, dh = exp(G_last) dH
  gemm(c, Dv, Dk, w.Kd, Dk, dH, Dv, w.dVp, Dv, false);
  gemm(c, Dk, Dv, Vp, Dv, w.dHT, Dk, w.dK, Dk, false);
  const float gl = cs.eG[c - 1];
  double dlast = double(gl) * double(dot(dH, h, S));
  for (int64_t i = 0; i < c; ++i) {
    const double t = dot(w.dK + i * Dk, w.Kd + i * Dk, Dk);
    dG[i] -= t;
    dlast += t;
    for (int64_t d = 0; d < Dk; ++d) w.dK[i * Dk + d] *= cs.fL[i];
  }
  dG[c - 1] += dlast;
  if (dHn)
    for (int64_t e = 0; e < S; ++e) dHn[e] = gl * dH[e];
  // query heads: o = (scale Q exp(G)) h + P V'
  if (c0 >= C) x.k.prefetch(s.b, s.t0 + c0 - C, C, hk, Dk), x.v.prefetch(s.b, s.t0 + c0 - C, C, hk, Dv);
  for (int64_t j = 0; j < G; ++j) {
    const int64_t hq = hk * G + j;
    if (j + 1 < G) x.q.prefetch(s.b, s.t0 + c0, c, hq + 1, Dk), gv.dO.prefetch(s.b, s.t0 + c0, c, hq + 1, Dv);
    for (int64_t i = 0; i < c; ++i) {
      x.q.read(s.b, s.t0 + c0 + i, hq, Dk, f.Q + i * Dk);
      gv.dO.read(s.b, s.t0 + c0 + i, hq, Dv, w.dOc + i * Dv);
    }
    scores(f, c, Dk, scale, w.P);
    transpose(c, c, w.P, C, w.PT, C);
    gemm(c, Dv, c, w.PT, C, w.dOc, Dv, w.dVp, Dv, true);  // dV' += P^T dO
    // inter-chunk part: dQ = scale exp(G) dO h^T, dh += (scale Q exp(G))^T dO
    gemm(c, Dk, Dv, w.dOc, Dv, w.hT, Dk, w.dQ, Dk, false);
    for (int64_t i = 0; i < c; ++i) {
      const float se = scale * cs.eG[i];
      float* r = w.dQ + i * Dk;
      dG[i] += double(se) * double(dot(r, f.Q + i * Dk, Dk));
      for (int64_t d = 0; d < Dk; ++d) r[d] *= se;
      if (dHn)
        for (int64_t d = 0; d < Dk; ++d) w.QeT[d * C + i] = se * f.Q[i * Dk + d];
    }
    if (dHn) gemm(Dk, Dv, c, w.QeT, C, w.dOc, Dv, dHn, Dv, true);
    // intra-chunk part: dP = dO V'^T on the lower triangle
    gemm(c, c, Dv, w.dOc, Dv, w.VpT, C, w.dP, C, false);
    for (int64_t i = 0; i < c; ++i) {
      float* a = w.dP + i * C;
      const float* pr = w.P + i * C;
      const float* gr = f.gam + i * C;
      for (int64_t jj = 0; jj <= i; ++jj) {
        const double t = double(a[jj]) * pr[jj];
        dG[i] += t;
        dG[jj] -= t;
        a[jj] *= scale * gr[jj];  // now the gradient w.r.t. (Q K^T)_ij
      }
      std::fill(a + i + 1, a + c, 0.f);
    }
    gemm(c, Dk, c, w.dP, C, f.K, Dk, w.dQ, Dk, true);
    transpose(c, c, w.dP, C, w.dPT, C);
    gemm(c, Dk, c, w.dPT, C, f.Q, Dk, w.dK, Dk, true);
    for (int64_t i = 0; i < c; ++i) gv.dq.write(s.b, s.t0 + c0 + i, hq, Dk, w.dQ + i * Dk);
  }
  // V' = U + Wn h:  dh += Wn^T dV', dWn = dV' h^T, dU = dV'
  if (dHn) {
    transpose(c, Dk, f.Wn, Dk, w.WnT, C);
    gemm(Dk, Dv, c, w.WnT, C, w.dVp, Dv, dHn, Dv, true);
  }
  gemm(c, Dk, Dv, w.dVp, Dv, w.hT, Dk, w.dWn, Dk, false);
  // Wn = T R1, U = T R2:  dR = T^T dX, dT = dWn R1^T + dU R2^T, dA = -T^T dT T^T
  transpose(c, c, f.Tm, C, w.TT, C);
  gemm(c, Dk, c, w.TT, C, w.dWn, Dk, w.dR1, Dk, false);
  gemm(c, Dv, c, w.TT, C, w.dVp, Dv, w.dR2, Dv, false);
  transpose(c, Dk, f.R1, Dk, R1T, C);
  transpose(c, Dv, f.R2, Dv, w.R2T, C);
  gemm(c, c, Dk, w.dWn, Dk, R1T, C, w.dT, C, false);
  gemm(c, c, Dv, w.dVp, Dv, w.R2T, C, w.dT, C, true);
  gemm(c, c, c, w.TT, C, w.dT, C, w.tmp, C, false);
  gemm(c, c, c, w.tmp, C, w.TT, C, w.dA, C, false);  // dA = -this
  // R1 = -beta K exp(G), R2 = beta V
  for (int64_t i = 0; i < c; ++i) {
    const float* r1 = w.dR1 + i * Dk;
    const float* ki = f.K + i * Dk;
    double db = -double(cs.eG[i]) * dot(r1, ki, Dk) + dot(w.dR2 + i * Dv, f.V + i * Dv, Dv);
    dG[i] += dot(r1, f.R1 + i * Dk, Dk);
    axpy(-cs.bt[i] * cs.eG[i], r1, w.dK + i * Dk, Dk);
    for (int64_t e = 0; e < Dv; ++e) w.dVo[i * Dv + e] = cs.bt[i] * w.dR2[i * Dv + e];
    // A_ij = beta_i (K K^T)_ij Gamma_ij, j < i
    const float* gr = f.gam + i * C;
    float* mr = w.M + i * C;
    for (int64_t jj = 0; jj < i; ++jj) {
      const float a = -w.dA[i * C + jj];
      db += double(a) * w.KK[i * C + jj] * gr[jj];
      const double t = double(a) * f.A[i * C + jj];
      dG[i] += t;
      dG[jj] -= t;
      mr[jj] = a * cs.bt[i] * gr[jj];
    }
    bout[i] = float(db);
  }
  // dK += (dKK + dKK^T) K with dKK strictly lower
  for (int64_t i = 0; i < c; ++i) {
    w.M[i * C + i] = 0.f;
    for (int64_t jj = i + 1; jj < c; ++jj) w.M[i * C + jj] = w.M[jj * C + i];
  }
  gemm(c, Dk, c, w.M, C, f.K, Dk, w.dK, Dk, true);
  // dg: reverse cumulative sum of dG inside the chunk
  double acc = 0;
  for (int64_t i = c - 1; i >= 0; --i) acc += dG[i], gout[i] = float(acc);
  for (int64_t i = 0; i < c; ++i) {
    const int64_t t = s.t0 + c0 + i;
    gv.dk.write(s.b, t, hk, Dk, w.dK + i * Dk);
    gv.dv.write(s.b, t, hk, Dv, w.dVo + i * Dv);
    gv.dg.write(s.b, t, hk, 1, gout + i);
    gv.dbeta.write(s.b, t, hk, 1, bout + i);
  }
}

// Gradients w.r.t. the chunk-boundary states, value columns [v0, v0 + dv), from the last chunk
// back (the part of chunk_backward that carries dH): row d of boundary ci goes to
// dHs + ci * sstride + d * sld. dH holds dht's columns (or zeros) on entry; dHn is scratch.
void dstate_item(const Ctx& x, const View4& dO, FwdBufs& f, BwdBufs& w, const SeqSpan& s, int64_t hk, int64_t v0,
                 int64_t dv, float* dH, float* dHn, float* dHs, int64_t sld, int64_t sstride) {
  const int64_t Dk = x.Dk, S = Dk * dv, nch = (s.len + C - 1) / C;
  const View4 vv = shifted(x.v, v0), dOv = shifted(dO, v0);
  const float scale = x.p->scale;
  ChunkScalars cs;
  auto store = [&](int64_t at) {
    for (int64_t d = 0; d < Dk; ++d) std::copy(dH + d * dv, dH + (d + 1) * dv, dHs + at * sstride + d * sld);
  };
  for (int64_t ci = nch - 1; ci >= 0; --ci) {
    store(ci + 1);
    const int64_t c0 = ci * C, c = std::min(C, s.len - c0);
    prepare_chunk(x, f, cs, s, hk, vv, dv, c0, c, nullptr);
    for (int64_t i = 0; i < c; ++i)
      for (int64_t d = 0; d < Dk; ++d) w.Kd[i * Dk + d] = f.K[i * Dk + d] * cs.fL[i];
    gemm(c, dv, Dk, w.Kd, Dk, dH, dv, w.dVp, dv, false);  // dV' = Kd dH
    const float gl = cs.eG[c - 1];
    for (int64_t e = 0; e < S; ++e) dHn[e] = gl * dH[e];
    for (int64_t j = 0; j < x.G; ++j) {
      const int64_t hq = hk * x.G + j;
      for (int64_t i = 0; i < c; ++i) {
        x.q.read(s.b, s.t0 + c0 + i, hq, Dk, f.Q + i * Dk);
        dOv.read(s.b, s.t0 + c0 + i, hq, dv, w.dOc + i * dv);
      }
      scores(f, c, Dk, scale, w.P);
      transpose(c, c, w.P, C, w.PT, C);
      gemm(c, dv, c, w.PT, C, w.dOc, dv, w.dVp, dv, true);
      for (int64_t i = 0; i < c; ++i) {
        const float se = scale * cs.eG[i];
        for (int64_t d = 0; d < Dk; ++d) w.QeT[d * C + i] = se * f.Q[i * Dk + d];
      }
      gemm(Dk, dv, c, w.QeT, C, w.dOc, dv, dHn, dv, true);
    }
    transpose(c, Dk, f.Wn, Dk, w.WnT, C);
    gemm(Dk, dv, c, w.WnT, C, w.dVp, dv, dHn, dv, true);
    std::swap(dH, dHn);
  }
  store(0);
}

}  // namespace

// Backward: with at least as many (sequence, KV head) items as threads, each item runs its chunks
// backward in turn. With fewer, three passes spread the work: chunk-boundary states and their
// gradients per (item, value tile), then every chunk's gradients independently.
liger_status gdn_backward(const liger_gdn_params& p) {
  const Ctx x = make_ctx(p);
  const int64_t N = num_seqs(p), Dk = p.Dk, Dv = p.Dv, S = Dk * Dv, PS = pad16(S), items = N * p.Hkv;
  int64_t maxlen = 0;
  for (int64_t n = 0; n < N; ++n) maxlen = std::max(maxlen, x.seqs.get(n).len);
  const int64_t nch_max = (maxlen + C - 1) / C;
  const int threads = resolve_threads(p.num_threads);
  const GradViews gv{View4(p.do_), View4(p.dq), View4(p.dk), View4(p.dv), View4(p.dg), View4(p.dbeta)};
  const float* h0 = static_cast<const float*>(p.h0.data);
  const float* dht = static_cast<const float*>(p.dht.data);
  float* dh0 = static_cast<float*>(p.dh0.data);
  const int64_t fwd = FwdBufs::floats(Dk, Dv), bw = BwdBufs::floats(Dk, Dv);

  if (items >= threads || nch_max <= 1) {
    const int64_t per = fwd + bw + (nch_max + 1) * PS + PS + 64;
    parallel_for(items, threads, [&](int64_t item, int) {
      const int64_t n = item / p.Hkv, hk = item % p.Hkv;
      const SeqSpan s = x.seqs.get(n);
      const int64_t nch = (s.len + C - 1) / C;
      float* m = thread_scratch(per);
      FwdBufs f;
      f.bind(m, Dk, Dv);
      BwdBufs w;
      w.bind(m + fwd, Dk, Dv);
      float* hs = m + fwd + bw;
      float* dH = hs + (nch_max + 1) * PS;
      float* dHn = w.dHn;
      if (h0) std::copy(h0 + item * S, h0 + (item + 1) * S, f.h);
      else std::fill(f.h, f.h + S, 0.f);
      forward_item(x, f, n, hk, 0, Dv, false, hs, Dv, S);
      if (dht) std::copy(dht + item * S, dht + (item + 1) * S, dH);
      else std::fill(dH, dH + S, 0.f);
      for (int64_t ci = nch - 1; ci >= 0; --ci) {
        const int64_t c0 = ci * C;
        chunk_backward(x, gv, f, w, s, hk, c0, std::min(C, s.len - c0), hs + ci * S, dH, dHn);
        std::swap(dH, dHn);
      }
      if (dh0) std::copy(dH, dH + S, dh0 + item * S);
    });
    return LIGER_OK;
  }

  // Few items: boundary states and state gradients for all items, [item][boundary][Dk][Dv]
  const int64_t per_item = (nch_max + 1) * S;
  std::unique_ptr<float[]> hs_all(new (std::nothrow) float[size_t(2 * items * per_item)]);
  if (!hs_all) return fail(LIGER_ERR_RUNTIME, "liger_gdn_backward: cannot allocate %lld chunk states",
                           (long long)(2 * items * (nch_max + 1)));
  float* hs = hs_all.get();
  float* dhs = hs + items * per_item;
  int64_t tile = Dv;
  if (Dv > 16) {
    const int64_t want = std::min<int64_t>((threads + items - 1) / items, (Dv + 15) / 16);
    tile = pad16((Dv + want - 1) / want);
  }
  const int64_t ntile = (Dv + tile - 1) / tile;
  const int64_t per_t = FwdBufs::floats(Dk, tile) + BwdBufs::floats(Dk, tile) + 2 * pad16(Dk * tile) + 64;
  parallel_for(items * ntile, threads, [&](int64_t it, int) {
    const int64_t item = it / ntile, v0 = (it % ntile) * tile, dv = std::min(tile, Dv - v0);
    const int64_t n = item / p.Hkv, hk = item % p.Hkv;
    const SeqSpan s = x.seqs.get(n);
    float* m = thread_scratch(per_t);
    FwdBufs f;
    f.bind(m, Dk, dv);
    BwdBufs w;
    w.bind(m + FwdBufs::floats(Dk, tile), Dk, dv);
    float* dH = m + FwdBufs::floats(Dk, tile) + BwdBufs::floats(Dk, tile);
    float* dHn = dH + pad16(Dk * tile);
    for (int64_t d = 0; d < Dk; ++d) {
      const int64_t o = (item * Dk + d) * Dv + v0;
      if (h0) std::copy(h0 + o, h0 + o + dv, f.h + d * dv);
      else std::fill(f.h + d * dv, f.h + (d + 1) * dv, 0.f);
      if (dht) std::copy(dht + o, dht + o + dv, dH + d * dv);
      else std::fill(dH + d * dv, dH + (d + 1) * dv, 0.f);
    }
    forward_item(x, f, n, hk, v0, dv, false, hs + item * per_item + v0, Dv, S);
    dstate_item(x, gv.dO, f, w, s, hk, v0, dv, dH, dHn, dhs + item * per_item + v0, Dv, S);
  });
  if (dh0)
    for (int64_t item = 0; item < items; ++item)
      std::copy(dhs + item * per_item, dhs + item * per_item + S, dh0 + item * S);
  const int64_t per = fwd + bw + 64;
  parallel_for(items * nch_max, threads, [&](int64_t it, int) {
    const int64_t item = it / nch_max, ci = it % nch_max;
    const int64_t n = item / p.Hkv, hk = item % p.Hkv;
    const SeqSpan s = x.seqs.get(n);
    const int64_t c0 = ci * C;
    if (c0 >= s.len) return;
    float* m = thread_scratch(per);
    FwdBufs f;
    f.bind(m, Dk, Dv);
    BwdBufs w;
    w.bind(m + fwd, Dk, Dv);
    chunk_backward(x, gv, f, w, s, hk, c0, std::min(C, s.len - c0), hs + item * per_item + ci * S,
                   dhs + item * per_item + (ci + 1) * S, nullptr);
  });
  return LIGER_OK;
}

}  // namespace liger::cpu
