// Blocked sliding-window attention. The chunk's query rows are processed in sub-blocks of 16 so
// that each sub-block's key range (16 + W - 1 keys) wastes little work on masked scores.
#include "swa_chunk.h"

#include <algorithm>
#include <cmath>

#include "attn_common.h"
#include "cpu_common.h"

namespace liger::cpu {

namespace {

constexpr int64_t kRows = 16;

// Query rows [i0, i1) of the chunk and their key range [j0, j1) (block indices).
struct Sub {
  int64_t i0, i1, j0, j1;
  int64_t rows() const { return i1 - i0; }
  int64_t keys() const { return j1 - j0; }
};
// The key range starts earlier where the block allows, so that its length is a multiple of 16 (the
// extra keys are outside every row's window: zero probabilities).
Sub sub(const SwaBlock& b, int64_t i0) {
  const int64_t i1 = std::min(b.c, i0 + kRows);
  const int64_t j1 = b.last(i1 - 1) + 1, n = j1 - b.first(i0);
  return {i0, i1, std::max<int64_t>(0, j1 - (n + 15) / 16 * 16), j1};
}

const v16 kLane = {0.f, 1.f, 2.f, 3.f, 4.f, 5.f, 6.f, 7.f, 8.f, 9.f, 10.f, 11.f, 12.f, 13.f, 14.f, 15.f};

// P [rows, keys] = softmax over each row's window of scale * Qr K^T (zeros outside the window).
void probs(const SwaBlock& b, const Sub& s, const float* Qr, float* P) {
  const int64_t nk = s.keys();
  gemm(s.rows(), nk, b.D, Qr + s.i0 * b.D, b.D, b.KT + s.j0, b.nk, P, nk, false);
  for (int64_t i = s.i0; i < s.i1; ++i) {
    float* r = P + (i - s.i0) * nk;
    const int64_t j0 = b.first(i) - s.j0, j1 = b.last(i) + 1 - s.j0;
    // whole 16-wide vectors over the row, keys outside the window masked to -inf (exp16 gives 0)
    const v16 lo = splat(float(j0)), hi = splat(float(j1));
    v16 mv = splat(-INFINITY);
    int64_t j = 0;
    for (; j + 16 <= nk; j += 16) {
      const v16 idx = kLane + float(j), x = load16(r + j) * b.scale;
      const v16 y = (idx >= lo) & (idx < hi) ? x : splat(-INFINITY);
      store16(r + j, y);
      mv = y > mv ? y : mv;
    }
    float m = -INFINITY;
    for (int l = 0; l < 16; ++l) m = std::max(m, mv[l]);
    for (int64_t t = j; t < nk; ++t) {
      r[t] = t >= j0 && t < j1 ? r[t] * b.scale : -INFINITY;
      m = std::max(m, r[t]);
    }
    v16 sv{};
    for (j = 0; j + 16 <= nk; j += 16) {
      const v16 e = exp16(load16(r + j) - m);
      store16(r + j, e);
      sv += e;
    }
    float sum = hsum(sv);
    for (int64_t t = j; t < nk; ++t) sum += r[t] = t >= j0 && t < j1 ? exp1(r[t] - m) : 0.f;
    const float inv = 1.f / sum;
    for (j = 0; j + 16 <= nk; j += 16) store16(r + j, load16(r + j) * inv);
    for (int64_t t = j; t < nk; ++t) r[t] *= inv;
  }
}

}  // namespace

void swa_chunk_fwd(const SwaBlock& b, const float* Qr, float* P, float* out) {
  for (int64_t i0 = 0; i0 < b.c; i0 += kRows) {
    const Sub s = sub(b, i0);
    probs(b, s, Qr, P);
    gemm(s.rows(), b.D, s.keys(), P, s.keys(), b.V + s.j0 * b.D, b.D, out + s.i0 * b.D, b.D, false);
  }
}

void swa_chunk_bwd(const SwaBlock& b, const float* Qr, const float* dOs, float* P, float* dP, float* dQr,
                   float* dK, float* dV) {
  for (int64_t i0 = 0; i0 < b.c; i0 += kRows) {
    const Sub s = sub(b, i0);
    const int64_t nk = s.keys(), m = s.rows();
    probs(b, s, Qr, P);
    gemm(m, nk, b.D, dOs + s.i0 * b.D, b.D, b.VT + s.j0, b.nk, dP, nk, false);
    // dS = P (dP - rowsum(P dP)) scale, kept in dP
    for (int64_t i = s.i0; i < s.i1; ++i) {
      float* p = P + (i - s.i0) * nk;
      float* d = dP + (i - s.i0) * nk;
      // p is 0 outside the row's window: whole-row vector passes, masked to 0 there
      const int64_t j0 = b.first(i) - s.j0, j1 = b.last(i) + 1 - s.j0;
      const float Di = dot(p, d, nk);
      const v16 lo = splat(float(j0)), hi = splat(float(j1));
      int64_t j = 0;
      for (; j + 16 <= nk; j += 16) {
        const v16 idx = kLane + float(j), x = load16(p + j) * (load16(d + j) - Di) * b.scale;
        store16(d + j, (idx >= lo) & (idx < hi) ? x : splat(0.f));
      }
      for (; j < nk; ++j) d[j] = (j >= j0 && j < j1) ? p[j] * (d[j] - Di) * b.scale : 0.f;
    }
    gemm(m, b.D, nk, dP, nk, b.K + s.j0 * b.D, b.D, dQr + s.i0 * b.D, b.D, false);
    gemm_tn(nk, b.D, m, dP, nk, Qr + s.i0 * b.D, b.D, dK + s.j0 * b.D, b.D, true);
    gemm_tn(nk, b.D, m, P, nk, dOs + s.i0 * b.D, b.D, dV + s.j0 * b.D, b.D, true);
  }
}

}  // namespace liger::cpu
