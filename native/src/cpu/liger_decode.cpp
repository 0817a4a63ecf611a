// One-token Liger attention decode step on the CPU: per (sequence, KV head) item, update the GRM
// state in place, attend over the window ring buffer plus the new token, then store the new token's
// RoPE'd key and value in ring slot pos % (W-1). Positions advance after all items are done.
#include <algorithm>
#include <vector>

#include "attn_common.h"
#include "backend.h"

namespace liger::cpu {

liger_status attn_decode(const liger_attn_params& p) {
  const int64_t N = p.B, D = p.D, G = p.Hq / p.Hkv, W = p.window, ring = W - 1, S = D * D;
  const bool grm = p.mix > 0.f;
  const bool swa = p.mix < 1.f;
  KeyMap km{p.variant, p.use_gate != 0, p.variant == LIGER_VARIANT_HGRN2 ? 1.f : 1.f / p.gate_norm};
  Rope rope{static_cast<const float*>(p.rope_cos.data), static_cast<const float*>(p.rope_sin.data),
            p.rope_cos.stride[0], p.rope_cos.stride[1]};
  const liger_cache& cache = p.cache_in;
  int64_t* pos = static_cast<int64_t*>(cache.pos.data);
  float* state = static_cast<float*>(cache.state.data);
  float* wk = static_cast<float*>(cache.win_k.data);
  float* wv = static_cast<float*>(cache.win_v.data);
  const int threads = resolve_threads(p.num_threads);
  const int64_t Dp = (D + 15) / 16 * 16;
  int64_t maxpos = 0;
  for (int64_t n = 0; n < N; ++n) maxpos = std::max(maxpos, pos[n]);
  const int64_t per = 10 * Dp + 2 * G * Dp + std::min<int64_t>(W, maxpos + 1) + 64;
  View4 q(p.q), k(p.k), v(p.v), o(p.o);
  parallel_for(N * p.Hkv, threads, [&](int64_t item, int w) {
    const int64_t n = item / p.Hkv, hk = item % p.Hkv, t = pos[n];
    float* m = thread_scratch(per);
    float *kraw = m, *kf = m + Dp, *g = m + 2 * Dp, *vv = m + 3 * Dp, *kr = m + 4 * Dp;
    float *qraw = m + 5 * Dp, *qr = m + 7 * Dp , *os = m + 9 * Dp;
    float* QF = m + 10 * Dp;       // [G, Dp] query features
    float* OG = QF + G * Dp;       // [G, Dp] GRM outputs
    float* P = OG + G * Dp;
    k.read(n, 0, hk, D, kraw);
    v.read(n, 0, hk, D, vv);
    float* h = state + item * S;
    // S_t = diag(exp(g)) S_{t-1} + phi(k)^T v  (the state is kept even when mix == 0)
    key_features(km, kraw, kf, g, D);
    vexp(g, g, D);
    if (grm)
      for (int64_t j = 0; j < G; ++j) {
        q.read(n, 0, hk * G + j, D, qraw);
        softmax_row(qraw, QF + j * Dp, D);
        std::fill(OG + j * Dp, OG + j * Dp + D, 0.f);
      }
    // one pass over the state (memory-bound at large batch): update each row, then let every query
    // head of the group read it while it is in L1
    for (int64_t d = 0; d < D; ++d) {
      float* row = h + d * D;
      const float a = g[d], b = kf[d];
      for (int64_t e = 0; e < D; ++e) row[e] = a * row[e] + b * vv[e];
      if (grm)
        for (int64_t j = 0; j < G; ++j) axpy(QF[j * Dp + d], row, OG + j * Dp, D);
    }
    const int64_t nwin = swa ? std::min(ring, t) : 0;  // cached keys in the window
    if (swa) rope.apply(kraw, kr, D, t);
    for (int64_t j = 0; j < G; ++j) {
      const int64_t hq = hk * G + j;
      q.read(n, 0, hq, D, qraw);
      const float* og = OG + j * Dp;
      if (swa) {
        rope.apply(qraw, qr, D, t);
        // scores over positions t - nwin .. t (the last one is the new token)
        float mx = -INFINITY;
        for (int64_t r = 0; r < nwin; ++r) {
          const int64_t slot = (t - nwin + r) % ring;
          P[r] = p.swa_scale * dot(qr, wk + (item * ring + slot) * D, D);
          mx = std::max(mx, P[r]);
        }
        P[nwin] = p.swa_scale * dot(qr, kr, D);
        mx = std::max(mx, P[nwin]);
        float sum = 0.f;
        for (int64_t r = 0; r <= nwin; ++r) sum += (P[r] = exp1(P[r] - mx));
        std::fill(os, os + D, 0.f);
        for (int64_t r = 0; r < nwin; ++r) {
          const int64_t slot = (t - nwin + r) % ring;
          axpy(P[r] / sum, wv + (item * ring + slot) * D, os, D);
        }
        axpy(P[nwin] / sum, vv, os, D);
      }
      if (!swa) std::copy(og, og + D, os);
      else if (grm)
        for (int64_t d = 0; d < D; ++d) os[d] = p.mix * og[d] + (1.f - p.mix) * os[d];
      o.write(n, 0, hq, D, os);
    }
    if (swa && ring > 0) {
      const int64_t slot = t % ring;
      std::copy(kr, kr + D, wk + (item * ring + slot) * D);
      std::copy(vv, vv + D, wv + (item * ring + slot) * D);
    }
  });
  for (int64_t n = 0; n < N; ++n) pos[n] += 1;
  return LIGER_OK;
}

}  // namespace liger::cpu
