// Pieces of the fused Liger attention shared by the chunked forward/backward and the decode step:
// feature maps, key gate and RoPE.
#pragma once
#include <algorithm>
#include <cmath>

#include "cpu_common.h"

namespace liger::cpu {

// Applies f (v16 -> v16) to n elements; the tail goes through a padded buffer.
template <class F>
inline void map16(const float* x, float* y, int64_t n, F f) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) store16(y + i, f(load16(x + i)));
  if (i < n) {
    alignas(64) float b[16] = {0};
    for (int64_t j = i; j < n; ++j) b[j - i] = x[j];
    v16 r = f(load16(b));
    for (int64_t j = i; j < n; ++j) y[j] = r[j - i];
  }
}

// log1p(u) for u in [0, 1]: 2 atanh(u / (2 + u)), series to s^17 (relative error < 2e-9).
inline v16 log1p16_unit(v16 u) {
  v16 s = u / (2.0f + u), s2 = s * s;
  v16 p = splat(1.f / 17);
  p = p * s2 + 1.f / 15;
  p = p * s2 + 1.f / 13;
  p = p * s2 + 1.f / 11;
  p = p * s2 + 1.f / 9;
  p = p * s2 + 1.f / 7;
  p = p * s2 + 1.f / 5;
  p = p * s2 + 1.f / 3;
  p = p * s2 + 1.f;
  return 2.f * s * p;
}
inline v16 vabs(v16 x) { return x < 0.f ? -x : x; }
// logsigmoid(x) = min(x, 0) - log1p(exp(-|x|))
inline v16 logsigmoid16(v16 x) {
  v16 e = exp16(-vabs(x));
  return (x < 0.f ? x : splat(0.f)) - log1p16_unit(e);
}
// sigmoid(-x) = 1 - sigmoid(x), without cancellation
inline v16 sigmoid_neg16(v16 x) {
  v16 e = exp16(-vabs(x));
  return x >= 0.f ? e / (1.f + e) : 1.f / (1.f + e);
}

// y = softmax(x) over n elements (x and y may alias).
inline void softmax_row(const float* x, float* y, int64_t n) {
  int64_t i = 0;
  float m = x[0];
  if (n >= 16) {
    v16 mv = load16(x);
    for (i = 16; i + 16 <= n; i += 16) {
      v16 a = load16(x + i);
      mv = a > mv ? a : mv;
    }
    for (int l = 0; l < 16; ++l) m = std::max(m, mv[l]);
  }
  for (; i < n; ++i) m = std::max(m, x[i]);
  v16 sv{};
  for (i = 0; i + 16 <= n; i += 16) {
    v16 e = exp16(load16(x + i) - m);
    store16(y + i, e);
    sv += e;
  }
  float s = hsum(sv);
  if (i < n) {
    map16(x + i, y + i, n - i, [m](v16 a) { return exp16(a - m); });
    for (; i < n; ++i) s += y[i];
  }
  const v16 inv = splat(1.f / s);
  for (i = 0; i + 16 <= n; i += 16) store16(y + i, load16(y + i) * inv);
  for (; i < n; ++i) y[i] *= inv[0];
}
// dx = y (dy - y . dy)  (dx may alias dy)
inline void softmax_row_bwd(const float* y, const float* dy, float* dx, int64_t n) {
  const float s = dot(y, dy, n);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) store16(dx + i, load16(y + i) * (load16(dy + i) - s));
  for (; i < n; ++i) dx[i] = y[i] * (dy[i] - s);
}

struct KeyMap {
  int variant;  // liger_variant
  bool gate;
  float inv_norm;  // 1 / gate_norm for GLA, 1 for HGRN2
};
// Key feature map and log-gate of one raw key row.
inline void key_features(const KeyMap& km, const float* k, float* kf, float* g, int64_t D) {
  if (km.variant == LIGER_VARIANT_HGRN2) map16(k, kf, D, [](v16 x) { return sigmoid_neg16(x); });
  else softmax_row(k, kf, D);
  if (km.gate) {
    float s = km.inv_norm;
    map16(k, g, D, [s](v16 x) { return logsigmoid16(x) * s; });
  } else {
    std::fill(g, g + D, 0.f);
  }
}
// Raw-key gradient from the feature and gate gradients (dk_raw written, not accumulated).
inline void key_features_bwd(const KeyMap& km, const float* k, const float* kf, const float* dkf,
                             const float* dg, float* dk, int64_t D) {
  if (km.variant == LIGER_VARIANT_HGRN2) {
    for (int64_t d = 0; d < D; ++d) dk[d] = -dkf[d] * kf[d] * (1.f - kf[d]);  // kf = sigmoid(-k)
  } else {
    softmax_row_bwd(kf, dkf, dk, D);
  }
  if (km.gate) {
    alignas(64) float sn[16];
    int64_t d = 0;
    for (; d < D; d += 16) {
      int64_t n = std::min<int64_t>(16, D - d);
      map16(k + d, sn, n, [](v16 x) { return sigmoid_neg16(x); });
      for (int64_t i = 0; i < n; ++i) dk[d + i] += dg[d + i] * sn[i] * km.inv_norm;
    }
  }
}

struct Rope {
  const float* cos;
  const float* sin;
  int64_t s0, s1;
  // out = RoPE_p(x), rotate-half convention
  void apply(const float* x, float* out, int64_t D, int64_t p) const {
    const int64_t h = D / 2;
    const float* c = cos + p * s0;
    const float* s = sin + p * s0;
    int64_t j = 0;
    if (s1 == 1)
      for (; j + 16 <= h; j += 16) {
        v16 cj = load16(c + j), sj = load16(s + j), a = load16(x + j), b = load16(x + j + h);
        store16(out + j, a * cj - b * sj);
        store16(out + j + h, b * cj + a * sj);
      }
    for (; j < h; ++j) {
      float cj = c[j * s1], sj = s[j * s1], a = x[j], b = x[j + h];
      out[j] = a * cj - b * sj;
      out[j + h] = b * cj + a * sj;
    }
  }
  // dx += RoPE_p^T(dy)
  void apply_t_add(const float* dy, float* dx, int64_t D, int64_t p) const {
    const int64_t h = D / 2;
    const float* c = cos + p * s0;
    const float* s = sin + p * s0;
    int64_t j = 0;
    if (s1 == 1)
      for (; j + 16 <= h; j += 16) {
        v16 cj = load16(c + j), sj = load16(s + j), a = load16(dy + j), b = load16(dy + j + h);
        store16(dx + j, load16(dx + j) + a * cj + b * sj);
        store16(dx + j + h, load16(dx + j + h) + b * cj - a * sj);
      }
    for (; j < h; ++j) {
      float cj = c[j * s1], sj = s[j * s1], a = dy[j], b = dy[j + h];
      dx[j] += a * cj + b * sj;
      dx[j + h] += b * cj - a * sj;
    }
  }
};

}  // namespace liger::cpu
