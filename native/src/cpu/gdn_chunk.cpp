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
// Backward: the chunk-start states come from the chunked forward; inside each chunk, going backward,
// the per-token states are recomputed and the gradient of the per-token recurrence is applied token
// by token (dg is then directly the gradient w.r.t. the per-token log-gate).
#include <algorithm>
#include <cmath>
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
// chunk-start states [nch + 1][Dk][dv] (the last one is the final state); h holds the initial
// state on entry and the final state on return.
void forward_item(const Ctx& x, FwdBufs& f, int64_t n, int64_t hk, int64_t v0, int64_t dv, bool write_o,
                  float* states) {
  const int64_t Dk = x.Dk, S = Dk * dv;
  const SeqSpan s = x.seqs.get(n);
  const View4 vv = shifted(x.v, v0), oo = shifted(x.o, v0);
  const float scale = x.p->scale;
  float* h = f.h;
  int64_t ci = 0;
  ChunkScalars cs;
  for (int64_t c0 = 0; c0 < s.len; c0 += C, ++ci) {
    if (states) std::copy(h, h + S, states + ci * S);
    const int64_t c = std::min(C, s.len - c0);
    prepare_chunk(x, f, cs, s, hk, vv, dv, c0, c, nullptr);
    // V' = U - W h (in U)
    gemm(c, dv, Dk, f.Wn, Dk, h, dv, f.U, dv, true);
    if (write_o) {
      for (int64_t j = 0; j < x.G; ++j) {
        const int64_t hq = hk * x.G + j;
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
  if (states) std::copy(h, h + S, states + ci * S);
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
  const int64_t per = S + 2 * pad16(Dk) + 3 * pad16(Dv) + 64;
  parallel_for(p.B * p.Hkv, threads, [&](int64_t item, int) {
    const int64_t n = item / p.Hkv, hk = item % p.Hkv;
    float* m = thread_scratch(per);
    float *h = m, *kk = h + S, *qq = kk + pad16(Dk), *vv = qq + pad16(Dk), *u = vv + pad16(Dv), *oo = u + pad16(Dv);
    std::copy(h0 + item * S, h0 + (item + 1) * S, h);  // h0 may be ht: work on a copy
    k.read(n, 0, hk, Dk, kk);
    v.read(n, 0, hk, Dv, vv);
    const float e = float(std::exp(double(read1(g, n, 0, hk)))), b = read1(beta, n, 0, hk);
    // u = S^T k; S <- e S + k (beta (v - e u))^T
    std::fill(u, u + Dv, 0.f);
    for (int64_t d = 0; d < Dk; ++d) axpy(kk[d], h + d * Dv, u, Dv);
    for (int64_t c = 0; c < Dv; ++c) u[c] = b * (vv[c] - e * u[c]);
    for (int64_t d = 0; d < Dk; ++d) {
      float* hr = h + d * Dv;
      for (int64_t c = 0; c < Dv; ++c) hr[c] = e * hr[c] + kk[d] * u[c];
    }
    for (int64_t j = 0; j < G; ++j) {
      const int64_t hq = hk * G + j;
      q.read(n, 0, hq, Dk, qq);
      std::fill(oo, oo + Dv, 0.f);
      for (int64_t d = 0; d < Dk; ++d) axpy(p.scale * qq[d], h + d * Dv, oo, Dv);
      o.write(n, 0, hq, Dv, oo);
    }
    std::copy(h, h + S, ht + item * S);
  });
  return LIGER_OK;
}

liger_status gdn_backward(const liger_gdn_params& p) {
  const Ctx x = make_ctx(p);
  const int64_t N = num_seqs(p), Dk = p.Dk, Dv = p.Dv, G = p.Hq / p.Hkv, S = Dk * Dv, PS = pad16(S);
  int64_t maxlen = 0;
  for (int64_t n = 0; n < N; ++n) maxlen = std::max(maxlen, x.seqs.get(n).len);
  const int64_t nch_max = (maxlen + C - 1) / C;
  const int threads = resolve_threads(p.num_threads);
  const int64_t fwd = FwdBufs::floats(Dk, Dv), CK = C * pad16(Dk), CV = C * pad16(Dv), CC = C * C;
  // chunk-start states; dH, dHn, hT, dHT; C x C blocks; C x Dk blocks; C x Dv blocks
  const int64_t per = fwd + (nch_max + 1) * PS + 4 * PS + 10 * CC + 7 * CK + 6 * CV + 64;
  const View4 dO(p.do_), dq(p.dq), dk(p.dk), dv(p.dv), dg(p.dg), dbeta(p.dbeta);
  const float* h0 = static_cast<const float*>(p.h0.data);
  const float* dht = static_cast<const float*>(p.dht.data);
  float* dh0 = static_cast<float*>(p.dh0.data);
  const float scale = p.scale;
  parallel_for(N * p.Hkv, threads, [&](int64_t item, int) {
    const int64_t n = item / p.Hkv, hk = item % p.Hkv;
    const SeqSpan s = x.seqs.get(n);
    const int64_t nch = (s.len + C - 1) / C;
    float* m = thread_scratch(per);
    FwdBufs f;
    f.bind(m, Dk, Dv);
    m += fwd;
    auto take = [&](int64_t k) {
      float* r = m;
      m += k;
      return r;
    };
    float* hs = take((nch_max + 1) * PS);
    float *dH = take(PS), *dHn = take(PS), *hT = take(PS), *dHT = take(PS);
    float *KK = take(CC), *P = take(CC), *PT = take(CC), *dP = take(CC), *dPT = take(CC), *TT = take(CC),
          *dT = take(CC), *tmp = take(CC), *dA = take(CC), *M = take(CC);
    float *Kd = take(CK), *dK = take(CK), *dQ = take(CK), *QeT = take(CK), *WnT = take(CK), *dWn = take(CK),
          *dR1 = take(CK);
    float *VpT = take(CV), *dVp = take(CV), *dOc = take(CV), *dR2 = take(CV), *R2T = take(CV), *dVo = take(CV);
    float* R1T = f.KdT;  // free in the backward
    ChunkScalars cs;
    double dG[C];
    float gout[C], bout[C];

    if (h0) std::copy(h0 + item * S, h0 + (item + 1) * S, f.h);
    else std::fill(f.h, f.h + S, 0.f);
    forward_item(x, f, n, hk, 0, Dv, false, hs);
    if (dht) std::copy(dht + item * S, dht + (item + 1) * S, dH);
    else std::fill(dH, dH + S, 0.f);

    for (int64_t ci = nch - 1; ci >= 0; --ci) {
      const int64_t c0 = ci * C, c = std::min(C, s.len - c0);
      const float* h = hs + ci * S;
      prepare_chunk(x, f, cs, s, hk, x.v, Dv, c0, c, KK);
      float* Vp = f.U;
      gemm(c, Dv, Dk, f.Wn, Dk, h, Dv, Vp, Dv, true);  // V' = U - W h
      transpose(Dk, Dv, h, Dv, hT, Dk);
      transpose(c, Dv, Vp, Dv, VpT, C);
      transpose(Dk, Dv, dH, Dv, dHT, Dk);
      for (int64_t i = 0; i < c; ++i)
        for (int64_t d = 0; d < Dk; ++d) Kd[i * Dk + d] = f.K[i * Dk + d] * cs.fL[i];
      std::fill(dG, dG + c, 0.0);
      // state update h' = exp(G_last) h + Kd^T V':  dV' = Kd dH, dKd = V' dH^T, dh = exp(G_last) dH
      gemm(c, Dv, Dk, Kd, Dk, dH, Dv, dVp, Dv, false);
      gemm(c, Dk, Dv, Vp, Dv, dHT, Dk, dK, Dk, false);
      const float gl = cs.eG[c - 1];
      double dlast = double(gl) * double(dot(dH, h, S));
      for (int64_t i = 0; i < c; ++i) {
        const double t = dot(dK + i * Dk, Kd + i * Dk, Dk);
        dG[i] -= t;
        dlast += t;
        for (int64_t d = 0; d < Dk; ++d) dK[i * Dk + d] *= cs.fL[i];
      }
      dG[c - 1] += dlast;
      for (int64_t e = 0; e < S; ++e) dHn[e] = gl * dH[e];
      // query heads: o = (scale Q exp(G)) h + P V' with P = tril(scale Q K^T * Gamma)
      for (int64_t j = 0; j < G; ++j) {
        const int64_t hq = hk * G + j;
        for (int64_t i = 0; i < c; ++i) {
          x.q.read(s.b, s.t0 + c0 + i, hq, Dk, f.Q + i * Dk);
          dO.read(s.b, s.t0 + c0 + i, hq, Dv, dOc + i * Dv);
        }
        gemm(c, c, Dk, f.Q, Dk, f.KT, C, P, C, false);
        for (int64_t i = 0; i < c; ++i) {
          float* a = P + i * C;
          const float* gr = f.gam + i * C;
          for (int64_t jj = 0; jj <= i; ++jj) a[jj] *= scale * gr[jj];
          std::fill(a + i + 1, a + c, 0.f);
        }
        transpose(c, c, P, C, PT, C);
        gemm(c, Dv, c, PT, C, dOc, Dv, dVp, Dv, true);  // dV' += P^T dO
        // inter-chunk part: dQ = scale exp(G) dO h^T, dh += (scale Q exp(G))^T dO
        gemm(c, Dk, Dv, dOc, Dv, hT, Dk, dQ, Dk, false);
        for (int64_t i = 0; i < c; ++i) {
          const float se = scale * cs.eG[i];
          float* r = dQ + i * Dk;
          dG[i] += double(se) * double(dot(r, f.Q + i * Dk, Dk));
          for (int64_t d = 0; d < Dk; ++d) r[d] *= se, QeT[d * C + i] = se * f.Q[i * Dk + d];
        }
        gemm(Dk, Dv, c, QeT, C, dOc, Dv, dHn, Dv, true);
        // intra-chunk part: dP = dO V'^T on the lower triangle
        gemm(c, c, Dv, dOc, Dv, VpT, C, dP, C, false);
        for (int64_t i = 0; i < c; ++i) {
          float* a = dP + i * C;
          const float* pr = P + i * C;
          const float* gr = f.gam + i * C;
          for (int64_t jj = 0; jj <= i; ++jj) {
            const double t = double(a[jj]) * pr[jj];
            dG[i] += t;
            dG[jj] -= t;
            a[jj] *= scale * gr[jj];  // now the gradient w.r.t. (Q K^T)_ij
          }
          std::fill(a + i + 1, a + c, 0.f);
        }
        gemm(c, Dk, c, dP, C, f.K, Dk, dQ, Dk, true);
        transpose(c, c, dP, C, dPT, C);
        gemm(c, Dk, c, dPT, C, f.Q, Dk, dK, Dk, true);
        for (int64_t i = 0; i < c; ++i) dq.write(s.b, s.t0 + c0 + i, hq, Dk, dQ + i * Dk);
      }
      // V' = U + Wn h:  dh += Wn^T dV', dWn = dV' h^T, dU = dV'
      transpose(c, Dk, f.Wn, Dk, WnT, C);
      gemm(Dk, Dv, c, WnT, C, dVp, Dv, dHn, Dv, true);
      gemm(c, Dk, Dv, dVp, Dv, hT, Dk, dWn, Dk, false);
      // Wn = T R1, U = T R2:  dR = T^T dX, dT = dWn R1^T + dU R2^T, dA = -T^T dT T^T
      transpose(c, c, f.Tm, C, TT, C);
      gemm(c, Dk, c, TT, C, dWn, Dk, dR1, Dk, false);
      gemm(c, Dv, c, TT, C, dVp, Dv, dR2, Dv, false);
      transpose(c, Dk, f.R1, Dk, R1T, C);
      transpose(c, Dv, f.R2, Dv, R2T, C);
      gemm(c, c, Dk, dWn, Dk, R1T, C, dT, C, false);
      gemm(c, c, Dv, dVp, Dv, R2T, C, dT, C, true);
      gemm(c, c, c, TT, C, dT, C, tmp, C, false);
      gemm(c, c, c, tmp, C, TT, C, dA, C, false);  // dA = -this
      // R1 = -beta K exp(G), R2 = beta V
      for (int64_t i = 0; i < c; ++i) {
        const float* r1 = dR1 + i * Dk;
        const float* ki = f.K + i * Dk;
        double db = -double(cs.eG[i]) * dot(r1, ki, Dk) + dot(dR2 + i * Dv, f.V + i * Dv, Dv);
        dG[i] += dot(r1, f.R1 + i * Dk, Dk);
        axpy(-cs.bt[i] * cs.eG[i], r1, dK + i * Dk, Dk);
        for (int64_t e = 0; e < Dv; ++e) dVo[i * Dv + e] = cs.bt[i] * dR2[i * Dv + e];
        // A_ij = beta_i (K K^T)_ij Gamma_ij, j < i
        const float* gr = f.gam + i * C;
        float* mr = M + i * C;
        for (int64_t jj = 0; jj < i; ++jj) {
          const float a = -dA[i * C + jj];
          db += double(a) * KK[i * C + jj] * gr[jj];
          const double t = double(a) * f.A[i * C + jj];
          dG[i] += t;
          dG[jj] -= t;
          mr[jj] = a * cs.bt[i] * gr[jj];
        }
        bout[i] = float(db);
      }
      // dK += (dKK + dKK^T) K with dKK strictly lower
      for (int64_t i = 0; i < c; ++i) {
        M[i * C + i] = 0.f;
        for (int64_t jj = i + 1; jj < c; ++jj) M[i * C + jj] = M[jj * C + i];
      }
      gemm(c, Dk, c, M, C, f.K, Dk, dK, Dk, true);
      // dg: reverse cumulative sum of dG inside the chunk
      double acc = 0;
      for (int64_t i = c - 1; i >= 0; --i) acc += dG[i], gout[i] = float(acc);
      for (int64_t i = 0; i < c; ++i) {
        const int64_t t = s.t0 + c0 + i;
        dk.write(s.b, t, hk, Dk, dK + i * Dk);
        dv.write(s.b, t, hk, Dv, dVo + i * Dv);
        dg.write(s.b, t, hk, 1, gout + i);
        dbeta.write(s.b, t, hk, 1, bout + i);
      }
      std::swap(dH, dHn);
    }
    if (dh0) std::copy(dH, dH + S, dh0 + item * S);
  });
  return LIGER_OK;
}

}  // namespace liger::cpu
