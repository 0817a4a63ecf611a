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

// P [rows, keys] = softmax over each row's window of scale * Qr K^T (zeros outside the window).
void probs(const SwaBlock& b, const Sub& s, const float* Qr, float* P) {
  const int64_t nk = s.keys();
  gemm(s.rows(), nk, b.D, Qr + s.i0 * b.D, b.D, b.KT + s.j0, b.nk, P, nk, false);
  for (int64_t i = s.i0; i < s.i1; ++i) {
    float* r = P + (i - s.i0) * nk;
    const int64_t j0 = b.first(i) - s.j0, j1 = b.last(i) + 1 - s.j0;
    float m = -INFINITY;
    for (int64_t j = j0; j < j1; ++j) m = std::max(m, r[j] *= b.scale);
    std::fill(r, r + j0, 0.f);
    std::fill(r + j1, r + nk, 0.f);
    map16(r + j0, r + j0, j1 - j0, [m](v16 x) { return exp16(x - m); });
    float sum = 0.f;
    for (int64_t j = j0; j < j1; ++j) sum += r[j];
    const float inv = 1.f / sum;
    for (int64_t j = j0; j < j1; ++j) r[j] *= inv;
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
      const int64_t j0 = b.first(i) - s.j0, j1 = b.last(i) + 1 - s.j0;
      float Di = 0.f;
      for (int64_t j = j0; j < j1; ++j) Di += p[j] * d[j];
      for (int64_t j = 0; j < nk; ++j) d[j] = (j >= j0 && j < j1) ? p[j] * (d[j] - Di) * b.scale : 0.f;
    }
    gemm(m, b.D, nk, dP, nk, b.K + s.j0 * b.D, b.D, dQr + s.i0 * b.D, b.D, false);
    gemm_tn(nk, b.D, m, dP, nk, Qr + s.i0 * b.D, b.D, dK + s.j0 * b.D, b.D, true);
    gemm_tn(nk, b.D, m, P, nk, dOs + s.i0 * b.D, b.D, dV + s.j0 * b.D, b.D, true);
  }
}

}  // namespace liger::cpu
