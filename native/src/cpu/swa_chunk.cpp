#include "swa_chunk.h"

#include <algorithm>
#include <cmath>

#include "attn_common.h"
#include "cpu_common.h"

namespace liger::cpu {

namespace {
// P = row-wise softmax of scale * Qr K^T restricted to each row's window (zeros elsewhere).
void probs(const SwaBlock& b, const float* Qr, float* P) {
  gemm(b.c, b.nk, b.D, Qr, b.D, b.KT, b.nk, P, b.nk, false);
  for (int64_t i = 0; i < b.c; ++i) {
    float* r = P + i * b.nk;
    const int64_t j0 = b.first(i), j1 = b.last(i) + 1;
    float m = -INFINITY;
    for (int64_t j = j0; j < j1; ++j) m = std::max(m, r[j] *= b.scale);
    std::fill(r, r + j0, 0.f);
    std::fill(r + j1, r + b.nk, 0.f);
    const float* src = r + j0;
    map16(src, r + j0, j1 - j0, [m](v16 x) { return exp16(x - m); });
    float s = 0.f;
    for (int64_t j = j0; j < j1; ++j) s += r[j];
    const float inv = 1.f / s;
    for (int64_t j = j0; j < j1; ++j) r[j] *= inv;
  }
}
}  // namespace

void swa_chunk_fwd(const SwaBlock& b, const float* Qr, float* P, float* out) {
  probs(b, Qr, P);
  gemm(b.c, b.D, b.nk, P, b.nk, b.V, b.D, out, b.D, false);
}

void swa_chunk_bwd(const SwaBlock& b, const float* Qr, const float* dOs, float* P, float* dP, float* T,
                   float* dQr, float* dK, float* dV) {
  probs(b, Qr, P);
  gemm(b.c, b.nk, b.D, dOs, b.D, b.VT, b.nk, dP, b.nk, false);
  // dS = P (dP - rowsum(P dP)) scale, kept in dP
  for (int64_t i = 0; i < b.c; ++i) {
    float* p = P + i * b.nk;
    float* d = dP + i * b.nk;
    const int64_t j0 = b.first(i), j1 = b.last(i) + 1;
    float Di = 0.f;
    for (int64_t j = j0; j < j1; ++j) Di += p[j] * d[j];
    for (int64_t j = 0; j < b.nk; ++j) d[j] = (j >= j0 && j < j1) ? p[j] * (d[j] - Di) * b.scale : 0.f;
  }
  gemm(b.c, b.D, b.nk, dP, b.nk, b.K, b.D, dQr, b.D, false);
  transpose(b.c, b.nk, dP, b.nk, T, b.c);
  gemm(b.nk, b.D, b.c, T, b.c, Qr, b.D, dK, b.D, true);
  transpose(b.c, b.nk, P, b.nk, T, b.c);
  gemm(b.nk, b.D, b.c, T, b.c, dOs, b.D, dV, b.D, true);
}

}  // namespace liger::cpu
