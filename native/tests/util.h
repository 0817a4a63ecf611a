// Test utilities: host tensors of either dtype with arbitrary strides, random data, parameter
// builders, error metrics.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstring>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "liger/liger.h"
#include "reference.h"

namespace tu {

inline float bf16_round(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  u += 0x7fffu + ((u >> 16) & 1u);
  u &= 0xffff0000u;
  float r;
  std::memcpy(&r, &u, 4);
  return r;
}

struct Rng {
  std::mt19937_64 g;
  explicit Rng(uint64_t seed) : g(seed) {}
  double normal() { return std::normal_distribution<double>(0.0, 1.0)(g); }
  double uniform(double a, double b) { return std::uniform_real_distribution<double>(a, b)(g); }
};

// A host tensor [d0, d1, d2, d3] (trailing dims 1 when ndim < 4) with element strides.
struct Buf {
  int32_t dtype = LIGER_F32;
  int ndim = 4;
  int64_t shape[4] = {1, 1, 1, 1}, stride[4] = {0, 0, 0, 0};
  std::vector<float> f;
  std::vector<uint16_t> h;
  std::vector<int64_t> i64;

  static Buf make(int32_t dtype, std::vector<int64_t> shp, std::vector<int64_t> strides = {}) {
    Buf b;
    b.dtype = dtype;
    b.ndim = int(shp.size());
    for (int i = 0; i < b.ndim; ++i) b.shape[i] = shp[size_t(i)];
    if (strides.empty()) {
      int64_t s = 1;
      for (int i = b.ndim - 1; i >= 0; --i) b.stride[i] = s, s *= b.shape[i];
    } else {
      for (int i = 0; i < b.ndim; ++i) b.stride[i] = strides[size_t(i)];
    }
    int64_t n = 1;
    for (int i = 0; i < b.ndim; ++i) n += (b.shape[i] - 1) * b.stride[i];
    if (dtype == LIGER_F32) b.f.assign(size_t(n), 0.f);
    else if (dtype == LIGER_BF16) b.h.assign(size_t(n), 0);
    else b.i64.assign(size_t(n), 0);
    return b;
  }
  int64_t numel() const {
    int64_t n = 1;
    for (int i = 0; i < ndim; ++i) n *= shape[i];
    return n;
  }
  int64_t off(int64_t a, int64_t b = 0, int64_t c = 0, int64_t d = 0) const {
    return a * stride[0] + (ndim > 1 ? b * stride[1] : 0) + (ndim > 2 ? c * stride[2] : 0) + (ndim > 3 ? d * stride[3] : 0);
  }
  double get(int64_t a, int64_t b = 0, int64_t c = 0, int64_t d = 0) const {
    int64_t o = off(a, b, c, d);
    if (dtype == LIGER_F32) return f[size_t(o)];
    uint32_t u = uint32_t(h[size_t(o)]) << 16;
    float x;
    std::memcpy(&x, &u, 4);
    return x;
  }
  void set(double v, int64_t a, int64_t b = 0, int64_t c = 0, int64_t d = 0) {
    int64_t o = off(a, b, c, d);
    if (dtype == LIGER_F32) {
      f[size_t(o)] = float(v);
    } else {
      float x = bf16_round(float(v));
      uint32_t u;
      std::memcpy(&u, &x, 4);
      h[size_t(o)] = uint16_t(u >> 16);
    }
  }
  void poison() {
    for (auto& x : f) x = std::numeric_limits<float>::quiet_NaN();
    for (auto& x : h) x = 0x7fc0;
  }
  void* data() {
    if (dtype == LIGER_F32) return f.data();
    if (dtype == LIGER_BF16) return h.data();
    return i64.data();
  }
  liger_tensor view() {
    liger_tensor t{};
    t.data = data();
    t.dtype = dtype;
    t.ndim = ndim;
    for (int i = 0; i < 4; ++i) t.shape[i] = i < ndim ? shape[i] : 1, t.stride[i] = i < ndim ? stride[i] : 0;
    return t;
  }
  // Random fill (values rounded to the dtype), scale * N(0, 1) + shift.
  void randn(Rng& r, double scale = 1, double shift = 0) {
    for (int64_t a = 0; a < shape[0]; ++a)
      for (int64_t b = 0; b < shape[1]; ++b)
        for (int64_t c = 0; c < shape[2]; ++c)
          for (int64_t d = 0; d < shape[3]; ++d) set(shift + scale * r.normal(), a, b, c, d);
  }
  // Rows [t0, t0 + L) of batch b as a reference array [L][H][D].
  ref::Vec seq(int64_t b, int64_t t0, int64_t L) const {
    ref::Vec out(size_t(L * shape[2] * shape[3]));
    for (int64_t t = 0; t < L; ++t)
      for (int64_t hh = 0; hh < shape[2]; ++hh)
        for (int64_t d = 0; d < shape[3]; ++d) out[size_t((t * shape[2] + hh) * shape[3] + d)] = get(b, t0 + t, hh, d);
    return out;
  }
};

// ||a - b|| / ||b|| over rows [t0, t0+L) of batch b; NaN anywhere gives +inf.
// `floor` bounds the denominator from below, for a reference that can vanish (dg at T = 1 without h0).
inline double rel_err(const Buf& a, int64_t b, int64_t t0, int64_t L, const ref::Vec& r, double floor = 0) {
  double num = 0, den = 0;
  const int64_t H = a.shape[2], D = a.shape[3];
  for (int64_t t = 0; t < L; ++t)
    for (int64_t hh = 0; hh < H; ++hh)
      for (int64_t d = 0; d < D; ++d) {
        double x = a.get(b, t0 + t, hh, d), y = r[size_t((t * H + hh) * D + d)];
        if (!std::isfinite(x)) return INFINITY;
        num += (x - y) * (x - y);
        den += y * y;
      }
  return std::sqrt(num / std::max({den, floor * floor, 1e-300}));
}
inline double rel_err_vec(const ref::Vec& a, const ref::Vec& r) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(a[i])) return INFINITY;
    num += (a[i] - r[i]) * (a[i] - r[i]);
    den += r[i] * r[i];
  }
  return std::sqrt(num / std::max(den, 1e-300));
}
// Exact equality of two buffers' logical contents (same shape).
inline double max_abs_diff(const Buf& a, const Buf& b) {
  double m = 0;
  for (int64_t i = 0; i < a.shape[0]; ++i)
    for (int64_t j = 0; j < a.shape[1]; ++j)
      for (int64_t k = 0; k < a.shape[2]; ++k)
        for (int64_t l = 0; l < a.shape[3]; ++l) {
          double x = a.get(i, j, k, l), y = b.get(i, j, k, l);
          if (!std::isfinite(x) || !std::isfinite(y)) return INFINITY;
          m = std::max(m, std::fabs(x - y));
        }
  return m;
}

inline ref::RopeTab make_rope(int64_t P, int64_t D, double base = 10000.0) {
  ref::RopeTab r;
  r.P = P;
  r.half = D / 2;
  r.cos.resize(size_t(P * r.half));
  r.sin.resize(size_t(P * r.half));
  for (int64_t p = 0; p < P; ++p)
    for (int64_t j = 0; j < r.half; ++j) {
      double a = double(p) * std::pow(base, -2.0 * double(j) / double(D));
      r.cos[size_t(p * r.half + j)] = float(std::cos(a));
      r.sin[size_t(p * r.half + j)] = float(std::sin(a));
    }
  return r;
}
inline liger_tensor rope_view(ref::RopeTab& r, bool cos) {
  liger_tensor t{};
  t.data = cos ? r.cos.data() : r.sin.data();
  t.dtype = LIGER_F32;
  t.ndim = 2;
  t.shape[0] = r.P, t.shape[1] = r.half, t.shape[2] = t.shape[3] = 1;
  t.stride[0] = r.half, t.stride[1] = 1;
  return t;
}

}  // namespace tu
