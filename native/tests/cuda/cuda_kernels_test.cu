// CUDA backend through the C ABI on device memory: plain GLA forward against a float64 host
// recurrence, decode steps against one prefill, and argument errors. Exits 77 (skipped) without a GPU.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "liger/liger.h"

namespace {

int failures = 0;

void expect(bool ok, const char* what) {
  std::printf("%s %s\n", ok ? "PASS" : "FAIL", what);
  if (!ok) ++failures;
}

#define CK(x)                                                                        \
  do {                                                                               \
    cudaError_t e_ = (x);                                                            \
    if (e_ != cudaSuccess) {                                                         \
      std::printf("CUDA error %s at %s:%d\n", cudaGetErrorString(e_), __FILE__, __LINE__); \
      std::exit(1);                                                                  \
    }                                                                                \
  } while (0)

struct Dev {
  void* p = nullptr;
  size_t n = 0;
  explicit Dev(size_t bytes) : n(bytes) { CK(cudaMalloc(&p, bytes)); }
  ~Dev() { cudaFree(p); }
  template <class T>
  void put(const std::vector<T>& v) { CK(cudaMemcpy(p, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice)); }
  template <class T>
  std::vector<T> get(size_t count) const {
    std::vector<T> v(count);
    CK(cudaMemcpy(v.data(), p, count * sizeof(T), cudaMemcpyDeviceToHost));
    return v;
  }
  void poison() { CK(cudaMemset(p, 0xff, n)); }  // all-ones bytes: NaN for floats
};

liger_tensor t4(void* data, int dtype, int64_t a, int64_t b, int64_t c, int64_t d) {
  liger_tensor t{};
  t.data = data;
  t.dtype = dtype;
  t.ndim = 4;
  int64_t sh[4] = {a, b, c, d};
  int64_t st = 1;
  for (int i = 3; i >= 0; --i) {
    t.shape[i] = sh[i];
    t.stride[i] = st;
    st *= sh[i];
  }
  return t;
}

liger_tensor t1(void* data, int dtype, int64_t n) {
  liger_tensor t{};
  t.data = data;
  t.dtype = dtype;
  t.ndim = 1;
  t.shape[0] = n;
  t.stride[0] = 1;
  for (int i = 1; i < 4; ++i) t.shape[i] = t.stride[i] = 1;
  return t;
}

liger_tensor t2(void* data, int64_t a, int64_t b) {
  liger_tensor t = t1(data, LIGER_F32, a);
  t.ndim = 2;
  t.shape[1] = b;
  t.stride[0] = b;
  return t;
}

double rel_err(const std::vector<float>& a, const std::vector<double>& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(a[i])) return INFINITY;
    num += (a[i] - b[i]) * (a[i] - b[i]);
    den += b[i] * b[i];
  }
  return std::sqrt(num / (den + 1e-300));
}

std::vector<float> randn(size_t n, std::mt19937& rng, float scale = 1.f) {
  std::normal_distribution<float> d(0.f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

void test_gla_forward(std::mt19937& rng) {
  const int64_t B = 2, T = 100, Hq = 4, Hkv = 2, D = 64, grp = Hq / Hkv;
  const float scale = 0.125f;
  auto q = randn(B * T * Hq * D, rng), k = randn(B * T * Hkv * D, rng), v = randn(B * T * Hkv * D, rng);
  auto h0 = randn(B * Hkv * D * D, rng);
  std::uniform_real_distribution<float> u(0.f, 0.5f);
  std::vector<float> g(B * T * Hkv * D);
  for (auto& x : g) x = -u(rng);
  Dev dq(q.size() * 4), dk(k.size() * 4), dv(v.size() * 4), dg(g.size() * 4), dh0(h0.size() * 4);
  Dev doo(B * T * Hq * D * 4), dht(h0.size() * 4);
  dq.put(q); dk.put(k); dv.put(v); dg.put(g); dh0.put(h0);
  doo.poison(); dht.poison();
  liger_gla_params p{};
  p.device = LIGER_CUDA;
  p.B = B; p.T = T; p.Hq = Hq; p.Hkv = Hkv; p.Dk = D; p.Dv = D; p.scale = scale;
  p.q = t4(dq.p, LIGER_F32, B, T, Hq, D);
  p.k = t4(dk.p, LIGER_F32, B, T, Hkv, D);
  p.v = t4(dv.p, LIGER_F32, B, T, Hkv, D);
  p.g = t4(dg.p, LIGER_F32, B, T, Hkv, D);
  p.o = t4(doo.p, LIGER_F32, B, T, Hq, D);
  p.h0 = t4(dh0.p, LIGER_F32, B, Hkv, D, D);
  p.ht = t4(dht.p, LIGER_F32, B, Hkv, D, D);
  liger_status st = liger_gla_forward(&p);
  if (st != LIGER_OK) std::printf("  %s\n", liger_last_error());
  expect(st == LIGER_OK, "gla forward status");
  CK(cudaDeviceSynchronize());
  std::vector<double> ro(B * T * Hq * D), rht(h0.size());
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < Hkv; ++h) {
      std::vector<double> S(h0.begin() + ((b * Hkv + h) * D * D), h0.begin() + ((b * Hkv + h + 1) * D * D));
      for (int64_t t = 0; t < T; ++t) {
        const int64_t kb = ((b * T + t) * Hkv + h) * D;
        for (int64_t i = 0; i < D; ++i)
          for (int64_t j = 0; j < D; ++j) S[i * D + j] = S[i * D + j] * std::exp((double)g[kb + i]) + (double)k[kb + i] * v[kb + j];
        for (int64_t r = 0; r < grp; ++r) {
          const int64_t qb = ((b * T + t) * Hq + h * grp + r) * D;
          for (int64_t j = 0; j < D; ++j) {
            double acc = 0;
            for (int64_t i = 0; i < D; ++i) acc += (double)q[qb + i] * S[i * D + j];
            ro[qb + j] = scale * acc;
          }
        }
      }
      std::copy(S.begin(), S.end(), rht.begin() + (b * Hkv + h) * D * D);
    }
  const double eo = rel_err(doo.get<float>(ro.size()), ro), eh = rel_err(dht.get<float>(rht.size()), rht);
  std::printf("  o rel err %.2e, ht rel err %.2e\n", eo, eh);
  expect(eo < 1e-4 && eh < 1e-4, "gla forward matches the float64 recurrence");
}

// Prefill T0 tokens with a cache, decode the next T1 one by one; compare with one forward over T0+T1.
void test_decode_equals_prefill(std::mt19937& rng) {
  const int64_t N = 2, T0 = 70, T1 = 6, T = T0 + T1, Hq = 8, Hkv = 2, D = 64;
  const int W = 16, half = (int)D / 2;
  auto q = randn(N * T * Hq * D, rng), k = randn(N * T * Hkv * D, rng), v = randn(N * T * Hkv * D, rng);
  std::vector<float> cs((T + 1) * half), sn((T + 1) * half);
  for (int64_t p = 0; p <= T; ++p)
    for (int j = 0; j < half; ++j) {
      const double a = p * std::pow(10000.0, -2.0 * j / D);
      cs[p * half + j] = (float)std::cos(a);
      sn[p * half + j] = (float)std::sin(a);
    }
  Dev dq(q.size() * 4), dk(k.size() * 4), dv(v.size() * 4), dcs(cs.size() * 4), dsn(sn.size() * 4);
  dq.put(q); dk.put(k); dv.put(v); dcs.put(cs); dsn.put(sn);
  Dev full(N * T * Hq * D * 4), step(N * Hq * D * 4);
  Dev state(N * Hkv * D * D * 4), wk(N * Hkv * (W - 1) * D * 4), wv(N * Hkv * (W - 1) * D * 4), pos(N * 8);
  full.poison(); state.poison(); wk.poison(); wv.poison();
  liger_attn_params p{};
  p.device = LIGER_CUDA;
  p.B = N; p.T = T; p.Hq = Hq; p.Hkv = Hkv; p.D = D;
  p.variant = LIGER_VARIANT_GLA; p.use_gate = 1; p.gate_norm = 16.f; p.mix = 0.5f; p.window = W;
  p.swa_scale = 1.f / std::sqrt((float)D);
  p.q = t4(dq.p, LIGER_F32, N, T, Hq, D);
  p.k = t4(dk.p, LIGER_F32, N, T, Hkv, D);
  p.v = t4(dv.p, LIGER_F32, N, T, Hkv, D);
  p.o = t4(full.p, LIGER_F32, N, T, Hq, D);
  p.rope_cos = t2(dcs.p, T + 1, half);
  p.rope_sin = t2(dsn.p, T + 1, half);
  liger_status st = liger_attn_forward(&p);
  expect(st == LIGER_OK, "attn forward over all tokens");
  // prefill: the first T0 tokens of each sequence (strided views of the same buffers)
  liger_attn_params pre = p;
  pre.T = T0;
  for (liger_tensor* t : {&pre.q, &pre.k, &pre.v}) t->shape[1] = T0;
  Dev o0(N * T0 * Hq * D * 4);
  pre.o = t4(o0.p, LIGER_F32, N, T0, Hq, D);
  pre.cache_out.state = t4(state.p, LIGER_F32, N, Hkv, D, D);
  pre.cache_out.win_k = t4(wk.p, LIGER_F32, N, Hkv, W - 1, D);
  pre.cache_out.win_v = t4(wv.p, LIGER_F32, N, Hkv, W - 1, D);
  pre.cache_out.pos = t1(pos.p, LIGER_I64, N);
  st = liger_attn_forward(&pre);
  if (st != LIGER_OK) std::printf("  %s\n", liger_last_error());
  expect(st == LIGER_OK, "prefill with cache_out");
  double worst = 0;
  auto ref = full.get<float>(N * T * Hq * D);
  for (int64_t t = T0; t < T; ++t) {
    liger_attn_params d = p;
    d.T = 1;
    const size_t offq = (size_t)t * Hq * D, offk = (size_t)t * Hkv * D;
    d.q = t4(static_cast<float*>(dq.p) + offq, LIGER_F32, N, 1, Hq, D);
    d.q.stride[0] = T * Hq * D;
    d.k = t4(static_cast<float*>(dk.p) + offk, LIGER_F32, N, 1, Hkv, D);
    d.k.stride[0] = T * Hkv * D;
    d.v = t4(static_cast<float*>(dv.p) + offk, LIGER_F32, N, 1, Hkv, D);
    d.v.stride[0] = T * Hkv * D;
    step.poison();
    d.o = t4(step.p, LIGER_F32, N, 1, Hq, D);
    d.cache_in = pre.cache_out;
    st = liger_attn_decode(&d);
    if (st != LIGER_OK) { std::printf("  %s\n", liger_last_error()); break; }
    auto o = step.get<float>(N * Hq * D);
    std::vector<double> r(o.size());
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < Hq * D; ++i) r[n * Hq * D + i] = ref[(n * T + t) * Hq * D + i];
    worst = std::fmax(worst, rel_err(o, r));
  }
  std::printf("  decode vs prefill worst rel err %.2e\n", worst);
  expect(st == LIGER_OK && worst < 1e-4, "decode steps equal one forward");
  auto pv = pos.get<int64_t>(N);
  expect(pv[0] == T && pv[1] == T, "cache position advanced to T");
}

void test_errors() {
  const int64_t T = 10, H = 2, D = 64;
  Dev q(T * H * D * 4), o(T * H * D * 4), cu(4 * 8);
  std::vector<int64_t> bad = {0, 6, 3, 10};
  cu.put(bad);
  liger_gla_params p{};
  p.device = LIGER_CUDA;
  p.B = 1; p.T = T; p.Hq = H; p.Hkv = H; p.Dk = D; p.Dv = D; p.scale = 1.f;
  p.q = p.k = p.v = p.g = t4(q.p, LIGER_F32, 1, T, H, D);
  p.o = t4(o.p, LIGER_F32, 1, T, H, D);
  p.cu_seqlens = t1(cu.p, LIGER_I64, 4);
  liger_status st = liger_gla_forward(&p);
  std::printf("  -> %s\n", liger_last_error());
  expect(st == LIGER_ERR_INVALID_ARGUMENT, "decreasing cu_seqlens is rejected");
  std::vector<float> host(T * H * D, 0.f);
  p.cu_seqlens = liger_tensor{};
  p.q.data = host.data();
  st = liger_gla_forward(&p);
  std::printf("  -> %s\n", liger_last_error());
  expect(st == LIGER_ERR_INVALID_ARGUMENT, "host pointer for a CUDA call is rejected");
}

}  // namespace

int main() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) {
    std::printf("no CUDA device: skipped\n");
    return 77;
  }
  std::mt19937 rng(std::random_device{}());
  test_gla_forward(rng);
  test_decode_equals_prefill(rng);
  test_errors();
  std::printf("%s (%d failures)\n", failures ? "FAILED" : "OK", failures);
  return failures ? 1 : 0;
}
