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
  double Gd[C];
  float eG[C], fL[C], bt[C], row[C];
  for (int64_t c0 = 0; c0 < s.len; c0 += C, ++ci) {
    if (states) std::copy(h, h + S, states + ci * S);
    const int64_t c = std::min(C, s.len - c0);
    double acc = 0;
    for (int64_t i = 0; i < c; ++i) {
      const int64_t t = s.t0 + c0 + i;
      x.k.read(s.b, t, hk, Dk, f.K + i * Dk);
      vv.read(s.b, t, hk, dv, f.V + i * dv);
      acc += double(read1(x.g, s.b, t, hk));
      Gd[i] = acc;
      bt[i] = read1(x.beta, s.b, t, hk);
    }
    for (int64_t i = 0; i < c; ++i) {
      eG[i] = float(std::exp(Gd[i]));
      fL[i] = float(std::exp(Gd[c - 1] - Gd[i]));
    }
    // Gamma, lower triangle only
    for (int64_t i = 0; i < c; ++i) {
      float* gr = f.gam + i * C;
      for (int64_t j = 0; j <= i; ++j) row[j] = float(Gd[i] - Gd[j]);
      vexp(row, gr, i + 1);
      std::fill(gr + i + 1, gr + c, 0.f);
    }
    transpose(c, Dk, f.K, Dk, f.KT, C);
    // A = strict_tril(diag(beta) K K^T * Gamma)
    gemm(c, c, Dk, f.K, Dk, f.KT, C, f.A, C, false);
    for (int64_t i = 0; i < c; ++i) {
      float* a = f.A + i * C;
      const float* gr = f.gam + i * C;
      for (int64_t j = 0; j < i; ++j) a[j] *= bt[i] * gr[j];
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
    // Wn = -W = T (-beta K exp(G)),  U = T (beta V)
    for (int64_t i = 0; i < c; ++i) {
      const float sk = -bt[i] * eG[i];
      for (int64_t d = 0; d < Dk; ++d) f.R1[i * Dk + d] = sk * f.K[i * Dk + d];
      for (int64_t e = 0; e < dv; ++e) f.R2[i * dv + e] = bt[i] * f.V[i * dv + e];
    }
    gemm(c, Dk, c, f.Tm, C, f.R1, Dk, f.Wn, Dk, false);
    gemm(c, dv, c, f.Tm, C, f.R2, dv, f.U, dv, false);
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
          const float se = scale * eG[i];
          for (int64_t d = 0; d < Dk; ++d) f.Q[i * Dk + d] *= se;
        }
        gemm(c, dv, Dk, f.Q, Dk, h, dv, f.O, dv, false);
        gemm(c, dv, c, f.QK, C, f.U, dv, f.O, dv, true);
        for (int64_t i = 0; i < c; ++i) oo.write(s.b, s.t0 + c0 + i, hq, dv, f.O + i * dv);
      }
    }
    // h <- exp(G_last) h + (K * exp(G_last - G))^T V'
    const float gl = eG[c - 1];
    for (int64_t e = 0; e < S; ++e) h[e] *= gl;
    for (int64_t d = 0; d < Dk; ++d)
      for (int64_t i = 0; i < c; ++i) f.KdT[d * C + i] = f.KT[d * C + i] * fL[i];
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
  const int64_t fwd = FwdBufs::floats(Dk, Dv);
  // chunk-start states, per-token states of one chunk, dS, per-chunk inputs and gradients
  const int64_t per = fwd + (nch_max + 1) * PS + (C + 1) * PS + PS + G * C * (pad16(Dk) + 2 * pad16(Dv)) +
                      G * C * pad16(Dk) + 2 * C * pad16(Dk) + 3 * C * pad16(Dv) + 4 * pad16(Dv) + 64;
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
    float* hs = m;
    m += (nch_max + 1) * PS;
    float* St = m;  // St + i * PS: state before token i of the chunk (i = 0..c)
    m += (C + 1) * PS;
    float* dS = m;
    m += PS;
    float* Qc = m;
    m += G * C * pad16(Dk);
    float* DOc = m;
    m += G * C * pad16(Dv);
    float* DQc = m;
    m += G * C * pad16(Dk);
    float* Kc = m;
    m += C * pad16(Dk);
    float* DKc = m;
    m += C * pad16(Dk);
    float* Vc = m;
    m += C * pad16(Dv);
    float* DVc = m;
    m += C * pad16(Dv);
    float* Rc = m;  // beta (v - e u) per token (the value written)
    m += C * pad16(Dv);
    float* u = m;
    m += pad16(Dv);
    float* w = m;
    m += pad16(Dv);
    float* r = m;
    m += pad16(Dv);
    float* sv = m;
    float eg[C], bt[C], gg[C], gb[C];

    if (h0) std::copy(h0 + item * S, h0 + (item + 1) * S, f.h);
    else std::fill(f.h, f.h + S, 0.f);
    forward_item(x, f, n, hk, 0, Dv, false, hs);
    if (dht) std::copy(dht + item * S, dht + (item + 1) * S, dS);
    else std::fill(dS, dS + S, 0.f);

    for (int64_t ci = nch - 1; ci >= 0; --ci) {
      const int64_t c0 = ci * C, c = std::min(C, s.len - c0);
      for (int64_t i = 0; i < c; ++i) {
        const int64_t t = s.t0 + c0 + i;
        x.k.read(s.b, t, hk, Dk, Kc + i * Dk);
        x.v.read(s.b, t, hk, Dv, Vc + i * Dv);
        eg[i] = float(std::exp(double(read1(x.g, s.b, t, hk))));
        bt[i] = read1(x.beta, s.b, t, hk);
        for (int64_t j = 0; j < G; ++j) {
          x.q.read(s.b, t, hk * G + j, Dk, Qc + (j * C + i) * Dk);
          dO.read(s.b, t, hk * G + j, Dv, DOc + (j * C + i) * Dv);
        }
      }
      // per-token states of the chunk: St[i + 1] = e St[i] + k (beta (v - e St[i]^T k))^T
      std::copy(hs + ci * S, hs + (ci + 1) * S, St);
      for (int64_t i = 0; i < c; ++i) {
        const float* P = St + i * PS;
        float* Sn = St + (i + 1) * PS;
        const float* kk = Kc + i * Dk;
        float* ri = Rc + i * Dv;
        std::fill(u, u + Dv, 0.f);
        for (int64_t d = 0; d < Dk; ++d) axpy(kk[d], P + d * Dv, u, Dv);
        for (int64_t e = 0; e < Dv; ++e) ri[e] = bt[i] * (Vc[i * Dv + e] - eg[i] * u[e]);
        for (int64_t d = 0; d < Dk; ++d) {
          const float* pr = P + d * Dv;
          float* sr = Sn + d * Dv;
          for (int64_t e = 0; e < Dv; ++e) sr[e] = eg[i] * pr[e] + kk[d] * ri[e];
        }
      }
      for (int64_t i = c - 1; i >= 0; --i) {
        const float* P = St + i * PS;
        const float* Sn = St + (i + 1) * PS;
        const float* kk = Kc + i * Dk;
        const float e = eg[i], b = bt[i];
        // outputs: dq = scale S_t dO, dS += scale q dO^T
        for (int64_t j = 0; j < G; ++j) {
          const float* qq = Qc + (j * C + i) * Dk;
          const float* dd = DOc + (j * C + i) * Dv;
          float* dqq = DQc + (j * C + i) * Dk;
          for (int64_t d = 0; d < Dk; ++d) {
            dqq[d] = scale * dot(Sn + d * Dv, dd, Dv);
            axpy(scale * qq[d], dd, dS + d * Dv, Dv);
          }
        }
        // u = P^T k, w = dS^T k, <dS, P>
        std::fill(u, u + Dv, 0.f);
        std::fill(w, w + Dv, 0.f);
        double dsp = 0;
        for (int64_t d = 0; d < Dk; ++d) {
          axpy(kk[d], P + d * Dv, u, Dv);
          axpy(kk[d], dS + d * Dv, w, Dv);
          dsp += dot(dS + d * Dv, P + d * Dv, Dv);
        }
        // S_t = e P + k r^T with r = b (v - e u)
        double db = 0, wu = 0;
        float* dvv = DVc + i * Dv;
        for (int64_t c2 = 0; c2 < Dv; ++c2) {
          dvv[c2] = b * w[c2];
          r[c2] = b * (Vc[i * Dv + c2] - e * u[c2]);
          db += double(w[c2]) * (Vc[i * Dv + c2] - e * u[c2]);
          wu += double(w[c2]) * u[c2];
          sv[c2] = -e * b * w[c2];  // gradient w.r.t. u
        }
        gb[i] = float(db);
        gg[i] = float(e * (dsp - b * wu));
        // dk = dS r + P du;  dP = e dS + k du^T
        float* dkk = DKc + i * Dk;
        for (int64_t d = 0; d < Dk; ++d) {
          float* dr = dS + d * Dv;
          dkk[d] = dot(dr, r, Dv) + dot(P + d * Dv, sv, Dv);
          for (int64_t c2 = 0; c2 < Dv; ++c2) dr[c2] = e * dr[c2] + kk[d] * sv[c2];
        }
      }
      for (int64_t i = 0; i < c; ++i) {
        const int64_t t = s.t0 + c0 + i;
        for (int64_t j = 0; j < G; ++j) dq.write(s.b, t, hk * G + j, Dk, DQc + (j * C + i) * Dk);
        dk.write(s.b, t, hk, Dk, DKc + i * Dk);
        dv.write(s.b, t, hk, Dv, DVc + i * Dv);
        dg.write(s.b, t, hk, 1, gg + i);
        dbeta.write(s.b, t, hk, 1, gb + i);
      }
    }
    if (dh0) std::copy(dS, dS + S, dh0 + item * S);
  });
  return LIGER_OK;
}

}  // namespace liger::cpu
