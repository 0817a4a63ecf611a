// Chunked GLA building blocks (see gla_core.h for the stability argument).
#include "gla_core.h"

#include <algorithm>

#include "cpu_common.h"

namespace liger::cpu {

namespace {
constexpr int64_t kPairs = kSub * (kSub + 1) / 2;  // lower-triangular pairs of a diagonal block
constexpr int64_t kKgRows = kChunk * (kChunk / kSub - 1) / 2;  // 96
inline int64_t pair(int64_t ii, int64_t jj) { return ii * (ii + 1) / 2 + jj; }
inline int64_t pad16(int64_t n) { return (n + 15) / 16 * 16; }
}  // namespace

int64_t GlaChunk::floats(int64_t Dk, int64_t Dv) {
  int64_t dk = pad16(Dk), dv = pad16(Dv), m = std::max(dk, dv);
  return kChunk * dk * 7 + kChunk * dv * 2 + dk + kKgRows * dk * 3 +
         (kChunk / kSub) * kPairs * dk + dv * kChunk + kChunk * m;
}

void GlaChunk::bind(float* mem, int64_t Dk_, int64_t Dv_) {
  Dk = Dk_;
  Dv = Dv_;
  int64_t dk = pad16(Dk), dv = pad16(Dv), m = std::max(dk, dv);
  auto take = [&](int64_t n) { float* p = mem; mem += n; return p; };
  k = take(kChunk * dk);
  v = take(kChunk * dv);
  G = take(kChunk * dk);
  eG = take(kChunk * dk);
  fL = take(kChunk * dk);
  Kd = take(kChunk * dk);
  gl = take(dk);
  QF = take(kChunk * dk);
  KgF = take(kKgRows * dk);
  Kg = take(kKgRows * dk);
  KgT = take(kKgRows * dk);
  EG = take((kChunk / kSub) * kPairs * dk);
  vT = take(dv * kChunk);
  tmp = take(kChunk * m);
}

// Arrays are stored with row length Dk (k, G, ...) or Dv (v); the padding above is slack only.
void GlaChunk::prepare(bool need_intra, bool need_vT, bool fold_k) {
  k_in_EG = fold_k;
  // per-row decays exp(g), taken before g is summed in place (diagonal-block tables below)
  if (need_intra) vexp(G, tmp, c * Dk);
  // inclusive cumulative sum of the log-gates along rows
  for (int64_t i = 1; i < c; ++i) {
    float* r = G + i * Dk;
    const float* p = G + (i - 1) * Dk;
    for (int64_t d = 0; d < Dk; ++d) r[d] += p[d];
  }
  const float* Gl = G + (c - 1) * Dk;
  vexp(Gl, gl, Dk);
  if (need_intra) vexp(G, eG, c * Dk);  // a state-only pass does not need exp(G)
  for (int64_t j = 0; j < c; ++j) {
    float* f = fL + j * Dk;
    const float* g = G + j * Dk;
    for (int64_t d = 0; d < Dk; ++d) f[d] = Gl[d] - g[d];
  }
  vexp(fL, fL, c * Dk);
  for (int64_t i = 0; i < c * Dk; ++i) Kd[i] = k[i] * fL[i];
  if (need_vT) transpose(c, Dv, v, Dv, vT, c);
  if (!need_intra) return;
  int64_t nb = (c + kSub - 1) / kSub;
  for (int64_t b = 0; b < nb; ++b) {
    int64_t i0 = b * kSub, i1 = std::min(c, i0 + kSub);
    const float* Gr = G + i0 * Dk;
    for (int64_t i = i0; i < i1; ++i) {
      float* f = QF + i * Dk;
      const float* g = G + i * Dk;
      for (int64_t d = 0; d < Dk; ++d) f[d] = g[d] - Gr[d];
    }
    vexp(QF + i0 * Dk, QF + i0 * Dk, (i1 - i0) * Dk);
    if (b > 0) {
      float* F = KgF + kg_offset(b) * Dk;
      float* K = Kg + kg_offset(b) * Dk;
      for (int64_t j = 0; j < i0; ++j) {
        const float* g = G + j * Dk;
        for (int64_t d = 0; d < Dk; ++d) F[j * Dk + d] = Gr[d] - g[d];
      }
      vexp(F, F, i0 * Dk);
      for (int64_t x = 0; x < i0 * Dk; ++x) K[x] = k[x] * F[x];
      transpose(i0, Dk, K, Dk, KgT + kg_offset(b) * Dk, i0);
    }
    // exp(G_i - G_j) = exp(G_{i-1} - G_j) exp(g_i) for j < i: each row of pairs is the previous row
    // times row i's decays (at most 15 factors, all <= 1), and exp(G_i - G_i) = 1
    float* E = EG + b * kPairs * Dk;
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t ii = i - i0;
      const float* a = tmp + i * Dk;
      float* row = E + pair(ii, 0) * Dk;
      if (ii > 0) {
        const float* prev = E + pair(ii - 1, 0) * Dk;
        for (int64_t j = 0; j < ii; ++j)
          for (int64_t d = 0; d < Dk; ++d) row[j * Dk + d] = prev[j * Dk + d] * a[d];
      }
      if (fold_k) std::copy(k + i * Dk, k + (i + 1) * Dk, row + ii * Dk);  // the recurrence carries k_j
      else std::fill(row + ii * Dk, row + (ii + 1) * Dk, 1.f);
    }
  }
}

int64_t GlaHead::floats(int64_t Dk, int64_t Dv) {
  int64_t dk = pad16(Dk), dv = pad16(Dv);
  return kChunk * dk * 5 + kChunk * kChunk * 2 + kChunk * dv * 2;
}

void GlaHead::bind(float* mem, int64_t Dk, int64_t Dv) {
  int64_t dk = pad16(Dk), dv = pad16(Dv);
  auto take = [&](int64_t n) { float* p = mem; mem += n; return p; };
  q = take(kChunk * dk);
  Qe = take(kChunk * dk);
  Qg = take(kChunk * dk);
  dq = take(kChunk * dk);
  tmp = take(kChunk * dk);
  A = take(kChunk * kChunk);
  dA = take(kChunk * kChunk);
  o = take(kChunk * dv);
  dO = take(kChunk * dv);
}

namespace {
// A = scale * tril(q_i . (k_j exp(G_i - G_j))) for the chunk (zero above the diagonal); also fills
// hd.Qg and hd.Qe.
void intra_scores(const GlaChunk& ch, GlaHead& hd, float scale) {
  const int64_t c = ch.c, Dk = ch.Dk;
  for (int64_t x = 0; x < c * Dk; ++x) {
    hd.Qe[x] = scale * hd.q[x] * ch.eG[x];
    hd.Qg[x] = hd.q[x] * ch.QF[x];
  }
  int64_t nb = (c + kSub - 1) / kSub;
  for (int64_t i = 0; i < c; ++i) std::fill(hd.A + i * c, hd.A + (i + 1) * c, 0.f);
  for (int64_t b = 0; b < nb; ++b) {
    int64_t i0 = b * kSub, i1 = std::min(c, i0 + kSub);
    if (b > 0)
      gemm(i1 - i0, i0, Dk, hd.Qg + i0 * Dk, Dk, ch.KgT + GlaChunk::kg_offset(b) * Dk, i0,
           hd.A + i0 * c, c, false);
    const float* E = ch.EG + b * kPairs * Dk;
    for (int64_t i = i0; i < i1; ++i) {
      const float* qi = hd.q + i * Dk;
      for (int64_t j = i0; j <= i; ++j) {
        const float* e = E + pair(i - i0, j - i0) * Dk;
        if (ch.k_in_EG) {
          hd.A[i * c + j] = dot(qi, e, Dk);
          continue;
        }
        const float* kj = ch.k + j * Dk;
        v16 s{};
        int64_t d = 0;
        for (; d + 16 <= Dk; d += 16) s += load16(qi + d) * load16(kj + d) * load16(e + d);
        float t = hsum(s);
        for (; d < Dk; ++d) t += qi[d] * kj[d] * e[d];
        hd.A[i * c + j] = t;
      }
    }
  }
  for (int64_t x = 0; x < c * c; ++x) hd.A[x] *= scale;
}
}  // namespace

void gla_chunk_out(const GlaChunk& ch, GlaHead& hd, const float* h, float scale) {
  intra_scores(ch, hd, scale);
  gemm(ch.c, ch.Dv, ch.Dk, hd.Qe, ch.Dk, h, ch.Dv, hd.o, ch.Dv, false);
  // A is lower triangular: row block [i0, i1) needs only the first i1 rows of v
  for (int64_t i0 = 0; i0 < ch.c; i0 += kSub) {
    const int64_t i1 = std::min(ch.c, i0 + kSub);
    gemm(i1 - i0, ch.Dv, i1, hd.A + i0 * ch.c, ch.c, ch.v, ch.Dv, hd.o + i0 * ch.Dv, ch.Dv, true);
  }
}

void gla_chunk_state(const GlaChunk& ch, const float* h_in, float* h_out) {
  const int64_t Dk = ch.Dk, Dv = ch.Dv;
  for (int64_t d = 0; d < Dk; ++d) {
    const float a = ch.gl[d];
    const float* r = h_in + d * Dv;
    float* w = h_out + d * Dv;
    for (int64_t e = 0; e < Dv; ++e) w[e] = r[e] * a;
  }
  gemm_tn(Dk, Dv, ch.c, ch.Kd, Dk, ch.v, Dv, h_out, Dv, true);
}

void gla_chunk_state(const GlaChunk& ch, float* h) { gla_chunk_state(ch, h, h); }

void gla_chunk_head_bwd(const GlaChunk& ch, GlaHead& hd, const float* hT, float scale, float* dk,
                        float* dv, float* dHacc) {
  const int64_t c = ch.c, Dk = ch.Dk, Dv = ch.Dv;
  intra_scores(ch, hd, scale);
  // dA = scale * tril(dO v^T): row block [i0, i1) computes columns < i1 only (the rest is zeroed)
  for (int64_t i0 = 0; i0 < c; i0 += kSub) {
    const int64_t i1 = std::min(c, i0 + kSub);
    gemm(i1 - i0, i1, Dv, hd.dO + i0 * Dv, Dv, ch.vT, c, hd.dA + i0 * c, c, false);
  }
  for (int64_t i = 0; i < c; ++i) {
    float* r = hd.dA + i * c;
    for (int64_t j = 0; j <= i; ++j) r[j] *= scale;
    for (int64_t j = i + 1; j < c; ++j) r[j] = 0.f;
  }
  // inter: dq = scale * exp(G) * (dO h^T)
  gemm(c, Dk, Dv, hd.dO, Dv, hT, Dk, hd.dq, Dk, false);
  for (int64_t x = 0; x < c * Dk; ++x) hd.dq[x] *= scale * ch.eG[x];
  int64_t nb = (c + kSub - 1) / kSub;
  for (int64_t b = 0; b < nb; ++b) {
    int64_t i0 = b * kSub, i1 = std::min(c, i0 + kSub), n = i1 - i0;
    if (b > 0) {
      // off-diagonal: dq_i += exp(G_i - G_r) (dA[i, :i0] Kg); dk_j += exp(G_r - G_j) (dA[:, j]^T Qg)
      const float* Kg = ch.Kg + GlaChunk::kg_offset(b) * Dk;
      const float* KgF = ch.KgF + GlaChunk::kg_offset(b) * Dk;
      gemm(n, Dk, i0, hd.dA + i0 * c, c, Kg, Dk, hd.tmp, Dk, false);
      for (int64_t x = 0; x < n * Dk; ++x) hd.dq[i0 * Dk + x] += hd.tmp[x] * ch.QF[i0 * Dk + x];
      gemm_tn(i0, Dk, n, hd.dA + i0 * c, c, hd.Qg + i0 * Dk, Dk, hd.tmp, Dk, false);
      for (int64_t x = 0; x < i0 * Dk; ++x) dk[x] += hd.tmp[x] * KgF[x];
    }
    const float* E = ch.EG + b * kPairs * Dk;
    for (int64_t i = i0; i < i1; ++i) {
      const float* qi = hd.q + i * Dk;
      float* dqi = hd.dq + i * Dk;
      for (int64_t j = i0; j <= i; ++j) {
        float a = hd.dA[i * c + j];
        const float* e = E + pair(i - i0, j - i0) * Dk;
        const float* kj = ch.k + j * Dk;
        float* dkj = dk + j * Dk;
        int64_t d = 0;
        for (; d + 16 <= Dk; d += 16) {
          v16 ae = a * load16(e + d);
          store16(dqi + d, load16(dqi + d) + ae * load16(kj + d));
          store16(dkj + d, load16(dkj + d) + ae * load16(qi + d));
        }
        for (; d < Dk; ++d) {
          dqi[d] += a * e[d] * kj[d];
          dkj[d] += a * e[d] * qi[d];
        }
      }
    }
  }
  // dv += A^T dO; A is lower triangular: dv rows [j0, j1) need A's rows >= j0 only
  for (int64_t j0 = 0; j0 < c; j0 += kSub) {
    const int64_t j1 = std::min(c, j0 + kSub);
    gemm_tn(j1 - j0, Dv, c - j0, hd.A + j0 * c + j0, c, hd.dO + j0 * Dv, Dv, dv + j0 * Dv, Dv, true);
  }
  // dH_acc += Qe^T dO
  gemm_tn(Dk, Dv, c, hd.Qe, Dk, hd.dO, Dv, dHacc, Dv, true);
}

void gla_chunk_kv_bwd(const GlaChunk& ch, const float* dH, const float* dHT, float* dk, float* dv) {
  const int64_t c = ch.c, Dk = ch.Dk, Dv = ch.Dv;
  gemm(c, Dk, Dv, ch.v, Dv, dHT, Dk, ch.tmp, Dk, false);
  for (int64_t x = 0; x < c * Dk; ++x) dk[x] += ch.tmp[x] * ch.fL[x];
  gemm(c, Dv, Dk, ch.Kd, Dk, dH, Dv, dv, Dv, true);
}

}  // namespace liger::cpu
