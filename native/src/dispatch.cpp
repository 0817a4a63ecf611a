// The C ABI: every argument check in one place, then routing to the device backend.
// Data-dependent checks (cu_seqlens contents, cache positions) read memory and so run only for
// LIGER_CPU; for LIGER_CUDA the pointers are device pointers and those checks belong to the CUDA
// backend.
#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <exception>
#include <initializer_list>
#include <new>
#include <string>
#include <vector>

#include "backend.h"
#include "liger/liger.h"

namespace liger {
namespace cpu {
void set_default_threads(int n);
int resolve_threads(int32_t requested);
}  // namespace cpu

namespace {
thread_local std::string g_error;
}

liger_status fail(liger_status status, const char* fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  g_error = buf;
  return status;
}

namespace {

#define LIGER_TRY(expr)                  \
  do {                                   \
    liger_status s_ = (expr);            \
    if (s_ != LIGER_OK) return s_;       \
  } while (0)

const char* dtype_name(int32_t d) {
  switch (d) {
    case LIGER_F32: return "F32";
    case LIGER_BF16: return "BF16";
    case LIGER_F16: return "F16";
    case LIGER_I64: return "I64";
    default: return "unknown";
  }
}
int64_t dtype_size(int32_t d) { return d == LIGER_F32 ? 4 : d == LIGER_I64 ? 8 : 2; }

enum : unsigned { kF32 = 1u << LIGER_F32, kBF16 = 1u << LIGER_BF16, kF16 = 1u << LIGER_F16, kI64 = 1u << LIGER_I64 };

struct Dim {
  int64_t value;
  const char* name;
};


// Shape, dtype and stride checks of one tensor view. An absent optional tensor passes.
liger_status check_tensor(const char* fn, const char* name, const liger_tensor& t, bool required,
                          std::initializer_list<Dim> dims, unsigned dtypes) {
  if (!t.data) {
    if (required) return fail(LIGER_ERR_INVALID_ARGUMENT, "%s: %s is required but its data is NULL", fn, name);
    return LIGER_OK;
  }
  const int64_t nd = int64_t(dims.size());
  if (t.ndim != nd)
    return fail(LIGER_ERR_INVALID_ARGUMENT, "%s: %s.ndim = %d, expected %lld", fn, name, t.ndim, (long long)nd);
  int i = 0;
  for (const Dim& d : dims) {
    if (t.shape[i] != d.value)
      return fail(LIGER_ERR_INVALID_ARGUMENT, "%s: %s.shape[%d] = %lld but %s = %lld", fn, name, i,
                  (long long)t.shape[i], d.name, (long long)d.value);
    if (t.stride[i] < 0)
      return fail(LIGER_ERR_INVALID_ARGUMENT, "%s: %s.stride[%d] = %lld is negative (strides must be >= 0)", fn,
                  name, i, (long long)t.stride[i]);
    if (t.stride[i] > (int64_t(1) << 40))
      return fail(LIGER_ERR_INVALID_ARGUMENT, "%s: %s.stride[%d] = %lld is too large", fn, name, i,
                  (long long)t.stride[i]);
    ++i;
  }
  if (t.dtype < 0 || t.dtype > LIGER_I64 || !((1u << t.dtype) & dtypes)) {
    std::string allowed;
    for (int d = 0; d <= LIGER_I64; ++d)
      if ((1u << d) & dtypes) allowed += std::string(allowed.empty() ? "" : " or ") + dtype_name(d);
    return fail(LIGER_ERR_INVALID_ARGUMENT, "%s: %s.dtype = %s is not supported here; expected %s", fn, name,
                dtype_name(t.dtype), allowed.c_str());
  }
  return LIGER_OK;
}

liger_status check_contiguous(const char* fn, const char* name, const liger_tensor& t) {
  if (!t.data) return LIGER_OK;
  int64_t expect = 1;
  for (int i = t.ndim - 1; i >= 0; --i) {
    if (t.shape[i] > 1 && t.stride[i] != expect)
      return fail(LIGER_ERR_INVALID_ARGUMENT, "%s: %s must be contiguous but stride[%d] = %lld (expected %lld)", fn,
                  name, i, (long long)t.stride[i], (long long)expect);
    expect *= t.shape[i];
  }
  return LIGER_OK;
}

// Byte range [lo, hi) the view can touch.
struct Extent {
  const char* name;
  uintptr_t lo, hi;
  const liger_tensor* t;
  bool cache;  // a cache component: may be the very same view as its counterpart (in place)
};
Extent extent(const char* name, const liger_tensor& t) {
  int64_t last = 0;
  for (int i = 0; i < t.ndim; ++i) last += (t.shape[i] - 1) * t.stride[i];
  uintptr_t lo = reinterpret_cast<uintptr_t>(t.data);
  return {name, lo, lo + uintptr_t((last + 1) * dtype_size(t.dtype)), &t, std::strncmp(name, "cache", 5) == 0};
}

// An output must not write one element twice: sorted by stride, each stride must exceed the span of
// the smaller dims.
liger_status check_injective(const char* fn, const char* name, const liger_tensor& t) {
  std::pair<int64_t, int64_t> ds[4];  // no heap allocation: every decode step passes here
  int n = 0;
  for (int i = 0; i < t.ndim && i < 4; ++i)
    if (t.shape[i] > 1) ds[n++] = {t.stride[i], t.shape[i]};
  std::sort(ds, ds + n);
  int64_t span = 0;
  for (int i = 0; i < n; ++i) {
    const auto& d = ds[i];
    if (d.first <= span)
      return fail(LIGER_ERR_INVALID_ARGUMENT, "%s: output %s has overlapping elements (stride %lld)", fn, name,
                  (long long)d.first);
    span += (d.second - 1) * d.first;
  }
  return LIGER_OK;
}

bool same_view(const liger_tensor& a, const liger_tensor& b) {
  if (a.data != b.data || a.ndim != b.ndim || a.dtype != b.dtype) return false;
  for (int i = 0; i < a.ndim; ++i)
    if (a.shape[i] != b.shape[i] || a.stride[i] != b.stride[i]) return false;
  return true;
}

// Outputs must not overlap inputs or each other. `allowed` pairs (identical views) are skipped.
liger_status check_aliasing(const char* fn, const std::vector<Extent>& in, const std::vector<Extent>& out) {
  for (size_t i = 0; i < out.size(); ++i) {
    LIGER_TRY(check_injective(fn, out[i].name, *out[i].t));
    for (const Extent& x : in) {
      if (x.cache && out[i].cache && same_view(*x.t, *out[i].t)) continue;  // cache in == cache out
      if (out[i].lo < x.hi && x.lo < out[i].hi)
        return fail(LIGER_ERR_INVALID_ARGUMENT, "%s: output %s overlaps input %s", fn, out[i].name, x.name);
    }
    for (size_t j = i + 1; j < out.size(); ++j)
      if (out[i].lo < out[j].hi && out[j].lo < out[i].hi)
        return fail(LIGER_ERR_INVALID_ARGUMENT, "%s: outputs %s and %s overlap", fn, out[i].name, out[j].name);
  }
  return LIGER_OK;
}

void add(std::vector<Extent>& v, const char* name, const liger_tensor& t) {
  if (t.data) v.push_back(extent(name, t));
}

liger_status check_device(const char* fn, int32_t device, int32_t num_threads) {
  if (device != LIGER_CPU && device != LIGER_CUDA)
    return fail(LIGER_ERR_INVALID_ARGUMENT, "%s: device = %d is not LIGER_CPU (0) or LIGER_CUDA (1)", fn, device);
  if (num_threads < 0)
    return fail(LIGER_ERR_INVALID_ARGUMENT, "%s: num_threads = %d is negative", fn, num_threads);
  return LIGER_OK;
}

liger_status check_sizes(const char* fn, int64_t B, int64_t T, int64_t Hq, int64_t Hkv) {
  if (B < 1) return fail(LIGER_ERR_INVALID_ARGUMENT, "%s: B = %lld must be >= 1", fn, (long long)B);
  if (T < 1) return fail(LIGER_ERR_INVALID_ARGUMENT, "%s: T = %lld must be >= 1", fn, (long long)T);
  if (Hq < 1) return fail(LIGER_ERR_INVALID_ARGUMENT, "%s: Hq = %lld must be >= 1", fn, (long long)Hq);
  if (Hkv < 1) return fail(LIGER_ERR_INVALID_ARGUMENT, "%s: Hkv = %lld must be >= 1", fn, (long long)Hkv);
  if (Hq % Hkv != 0)
    return fail(LIGER_ERR_INVALID_ARGUMENT, "%s: Hq = %lld is not a multiple of Hkv = %lld", fn, (long long)Hq,
                (long long)Hkv);
  const int64_t lim = int64_t(1) << 31;
  if (B > lim || T > lim || Hq > 65536)
    return fail(LIGER_ERR_INVALID_ARGUMENT, "%s: sizes B = %lld, T = %lld, Hq = %lld are too large", fn,
                (long long)B, (long long)T, (long long)Hq);
  return LIGER_OK;
}

// cu_seqlens: shape/dtype always; contents (0, non-decreasing, ends at T) on the CPU only.
// Returns N through *N.
liger_status check_seqlens(const char* fn, int32_t device, const liger_tensor& cu, int64_t B, int64_t T, int64_t* N) {
  if (!cu.data) {
    *N = B;
    return LIGER_OK;
  }
  if (cu.ndim != 1 || cu.shape[0] < 2)
    return fail(LIGER_ERR_INVALID_ARGUMENT, "%s: cu_seqlens must be 1-D with N + 1 >= 2 entries", fn);
  LIGER_TRY(check_tensor(fn, "cu_seqlens", cu, true, {{cu.shape[0], "N + 1"}}, kI64));
  if (B != 1)
    return fail(LIGER_ERR_INVALID_ARGUMENT, "%s: B = %lld but cu_seqlens requires B == 1", fn, (long long)B);
  *N = cu.shape[0] - 1;
  if (device == LIGER_CPU) {
    const int64_t* c = static_cast<const int64_t*>(cu.data);
    const int64_t s = cu.stride[0];
    if (c[0] != 0) return fail(LIGER_ERR_INVALID_ARGUMENT, "%s: cu_seqlens[0] = %lld, must be 0", fn, (long long)c[0]);
    for (int64_t i = 1; i <= *N; ++i)
      if (c[i * s] < c[(i - 1) * s])
        return fail(LIGER_ERR_INVALID_ARGUMENT, "%s: cu_seqlens decreases at index %lld (%lld < %lld)", fn,
                    (long long)i, (long long)c[i * s], (long long)c[(i - 1) * s]);
    if (c[*N * s] != T)
      return fail(LIGER_ERR_INVALID_ARGUMENT, "%s: cu_seqlens[N] = %lld but T = %lld", fn, (long long)c[*N * s],
                  (long long)T);
  }
  return LIGER_OK;
}

int64_t seq_len(const liger_tensor& cu, int64_t T, int64_t n) {
  if (!cu.data) return T;
  const int64_t* c = static_cast<const int64_t*>(cu.data);
  return c[(n + 1) * cu.stride[0]] - c[n * cu.stride[0]];
}

template <class F>
liger_status guarded(const char* fn, F f) {
  try {
    return f();
  } catch (const std::bad_alloc&) {
    return fail(LIGER_ERR_RUNTIME, "%s: out of memory", fn);
  } catch (const std::exception& e) {
    return fail(LIGER_ERR_RUNTIME, "%s: %s", fn, e.what());
  } catch (...) {
    return fail(LIGER_ERR_RUNTIME, "%s: unknown internal error", fn);
  }
}

#if defined(LIGER_WITH_CUDA)
#define LIGER_ROUTE(fn, name, p)                                  \
  ((p).device == LIGER_CPU ? liger::cpu::name(p) : liger::cuda::name(p))
#else
#define LIGER_ROUTE(fn, name, p)                                                                   \
  ((p).device == LIGER_CPU ? liger::cpu::name(p)                                                   \
                           : fail(LIGER_ERR_UNSUPPORTED, "%s: this build of liger has no CUDA kernels", fn))
#endif

unsigned input_dtypes(int32_t device) { return device == LIGER_CPU ? (kF32 | kBF16) : (kF32 | kBF16 | kF16); }

// ---------------------------------------------------------------- plain GLA
liger_status check_gla(const char* fn, const liger_gla_params& p, bool backward) {
  LIGER_TRY(check_device(fn, p.device, p.num_threads));
  LIGER_TRY(check_sizes(fn, p.B, p.T, p.Hq, p.Hkv));
  if (p.Dk < 1 || p.Dv < 1 || p.Dk > 4096 || p.Dv > 4096)
    return fail(LIGER_ERR_INVALID_ARGUMENT, "%s: Dk = %lld and Dv = %lld must be in [1, 4096]", fn,
                (long long)p.Dk, (long long)p.Dv);
  if (!std::isfinite(p.scale)) return fail(LIGER_ERR_INVALID_ARGUMENT, "%s: scale is not finite", fn);
  int64_t N = 0;
  LIGER_TRY(check_seqlens(fn, p.device, p.cu_seqlens, p.B, p.T, &N));
  const unsigned in = input_dtypes(p.device);
  const Dim B{p.B, "B"}, T{p.T, "T"}, Hq{p.Hq, "Hq"}, Hkv{p.Hkv, "Hkv"}, Dk{p.Dk, "Dk"}, Dv{p.Dv, "Dv"},
      Nd{N, "N"};
  LIGER_TRY(check_tensor(fn, "q", p.q, true, {B, T, Hq, Dk}, in));
  const unsigned gdt = kF32 | (1u << p.q.dtype);
  LIGER_TRY(check_tensor(fn, "k", p.k, true, {B, T, Hkv, Dk}, 1u << p.q.dtype));
  LIGER_TRY(check_tensor(fn, "v", p.v, true, {B, T, Hkv, Dv}, 1u << p.q.dtype));
  LIGER_TRY(check_tensor(fn, "g", p.g, true, {B, T, Hkv, Dk}, gdt));
  LIGER_TRY(check_tensor(fn, "h0", p.h0, false, {Nd, Hkv, Dk, Dv}, kF32));
  LIGER_TRY(check_contiguous(fn, "h0", p.h0));
  std::vector<Extent> ins, outs;
  add(ins, "q", p.q), add(ins, "k", p.k), add(ins, "v", p.v), add(ins, "g", p.g), add(ins, "h0", p.h0);
  add(ins, "cu_seqlens", p.cu_seqlens);
  if (!backward) {
    LIGER_TRY(check_tensor(fn, "o", p.o, true, {B, T, Hq, Dv}, 1u << p.q.dtype));
    LIGER_TRY(check_tensor(fn, "ht", p.ht, false, {Nd, Hkv, Dk, Dv}, kF32));
    LIGER_TRY(check_contiguous(fn, "ht", p.ht));
    add(outs, "o", p.o), add(outs, "ht", p.ht);
  } else {
    LIGER_TRY(check_tensor(fn, "do_", p.do_, true, {B, T, Hq, Dv}, 1u << p.q.dtype));
    LIGER_TRY(check_tensor(fn, "dht", p.dht, false, {Nd, Hkv, Dk, Dv}, kF32));
    LIGER_TRY(check_contiguous(fn, "dht", p.dht));
    LIGER_TRY(check_tensor(fn, "dq", p.dq, true, {B, T, Hq, Dk}, 1u << p.q.dtype));
    LIGER_TRY(check_tensor(fn, "dk", p.dk, true, {B, T, Hkv, Dk}, 1u << p.q.dtype));
    LIGER_TRY(check_tensor(fn, "dv", p.dv, true, {B, T, Hkv, Dv}, 1u << p.q.dtype));
    LIGER_TRY(check_tensor(fn, "dg", p.dg, true, {B, T, Hkv, Dk}, 1u << p.g.dtype));
    LIGER_TRY(check_tensor(fn, "dh0", p.dh0, false, {Nd, Hkv, Dk, Dv}, kF32));
    LIGER_TRY(check_contiguous(fn, "dh0", p.dh0));
    add(ins, "do_", p.do_), add(ins, "dht", p.dht);
    add(outs, "dq", p.dq), add(outs, "dk", p.dk), add(outs, "dv", p.dv), add(outs, "dg", p.dg);
    add(outs, "dh0", p.dh0);
  }
  return check_aliasing(fn, ins, outs);
}

// ---------------------------------------------------------------- fused attention
enum class AttnOp { Forward, Backward, Decode, SavedQuery };  // SavedQuery: a forward's inputs, o optional

liger_status check_cache(const char* fn, const char* name, const liger_cache& c, const liger_attn_params& p,
                         int64_t N, bool required, bool read) {
  const bool any = c.state.data || c.pos.data || c.win_k.data || c.win_v.data;
  if (!any) {
    if (required) return fail(LIGER_ERR_INVALID_ARGUMENT, "%s: %s is required but absent", fn, name);
    return LIGER_OK;
  }
  std::string s = std::string(name) + ".state", ps = std::string(name) + ".pos",
              wk = std::string(name) + ".win_k", wv = std::string(name) + ".win_v";
  const Dim Nd{N, "N"}, Hkv{p.Hkv, "Hkv"}, D{p.D, "D"}, R{int64_t(p.window) - 1, "window - 1"};
  LIGER_TRY(check_tensor(fn, s.c_str(), c.state, true, {Nd, Hkv, D, D}, kF32));
  LIGER_TRY(check_contiguous(fn, s.c_str(), c.state));
  LIGER_TRY(check_tensor(fn, ps.c_str(), c.pos, true, {Nd}, kI64));
  LIGER_TRY(check_contiguous(fn, ps.c_str(), c.pos));
  const bool need_window = p.window > 1 && p.mix < 1.f;
  if (p.window == 1 && (c.win_k.data || c.win_v.data))
    return fail(LIGER_ERR_INVALID_ARGUMENT, "%s: %s.win_k / win_v must be absent when window == 1", fn, name);
  if (p.window > 1) {
    LIGER_TRY(check_tensor(fn, wk.c_str(), c.win_k, need_window, {Nd, Hkv, R, D}, kF32));
    LIGER_TRY(check_tensor(fn, wv.c_str(), c.win_v, need_window || c.win_k.data, {Nd, Hkv, R, D}, kF32));
    if (!c.win_k.data && c.win_v.data)
      return fail(LIGER_ERR_INVALID_ARGUMENT, "%s: %s.win_k is required when win_v is given", fn, name);
    LIGER_TRY(check_contiguous(fn, wk.c_str(), c.win_k));
    LIGER_TRY(check_contiguous(fn, wv.c_str(), c.win_v));
  }
  if (read && p.device == LIGER_CPU) {  // a written cache's positions are outputs, not read
    const int64_t* pos = static_cast<const int64_t*>(c.pos.data);
    for (int64_t n = 0; n < N; ++n)
      if (pos[n] < 0 || pos[n] > (int64_t(1) << 40))
        return fail(LIGER_ERR_INVALID_ARGUMENT, "%s: %s.pos[%lld] = %lld is out of range", fn, name, (long long)n,
                    (long long)pos[n]);
  }
  return LIGER_OK;
}

liger_status check_attn(const char* fn, const liger_attn_params& p, AttnOp op) {
  LIGER_TRY(check_device(fn, p.device, p.num_threads));
  LIGER_TRY(check_sizes(fn, p.B, p.T, p.Hq, p.Hkv));
  if (p.D < 1 || p.D > 4096)
    return fail(LIGER_ERR_INVALID_ARGUMENT, "%s: D = %lld must be in [1, 4096]", fn, (long long)p.D);
  if (p.variant != LIGER_VARIANT_GLA && p.variant != LIGER_VARIANT_HGRN2)
    return fail(LIGER_ERR_INVALID_ARGUMENT, "%s: variant = %d is not GLA (0) or HGRN2 (1)", fn, p.variant);
  if (!(p.mix >= 0.f && p.mix <= 1.f))
    return fail(LIGER_ERR_INVALID_ARGUMENT, "%s: mix = %g must be in [0, 1]", fn, double(p.mix));
  if (!(p.gate_norm > 0.f) || !std::isfinite(p.gate_norm))
    return fail(LIGER_ERR_INVALID_ARGUMENT, "%s: gate_norm = %g must be > 0 and finite", fn, double(p.gate_norm));
  if (p.window < 1) return fail(LIGER_ERR_INVALID_ARGUMENT, "%s: window = %d must be >= 1", fn, p.window);
  if (!std::isfinite(p.swa_scale))
    return fail(LIGER_ERR_INVALID_ARGUMENT, "%s: swa_scale is not finite", fn);
  if (p.f16_mode != LIGER_F16_DEFAULT && p.f16_mode != LIGER_F16_ACCURATE && p.f16_mode != LIGER_F16_FAST)
    return fail(LIGER_ERR_INVALID_ARGUMENT, "%s: f16_mode = %d is not DEFAULT (0), ACCURATE (1) or FAST (2)", fn,
                p.f16_mode);
  const bool swa = p.mix < 1.f;
  if (swa && p.D % 2 != 0)
    return fail(LIGER_ERR_INVALID_ARGUMENT, "%s: D = %lld must be even for RoPE (mix < 1)", fn, (long long)p.D);
  int64_t N = 0;
  if (op == AttnOp::Decode) {
    if (p.T != 1) return fail(LIGER_ERR_INVALID_ARGUMENT, "%s: T = %lld but decode takes one token (T == 1)", fn,
                              (long long)p.T);
    if (p.cu_seqlens.data) return fail(LIGER_ERR_INVALID_ARGUMENT, "%s: cu_seqlens must be absent in decode", fn);
    N = p.B;
  } else {
    LIGER_TRY(check_seqlens(fn, p.device, p.cu_seqlens, p.B, p.T, &N));
  }
  const unsigned in = input_dtypes(p.device);
  const Dim B{p.B, "B"}, T{p.T, "T"}, Hq{p.Hq, "Hq"}, Hkv{p.Hkv, "Hkv"}, D{p.D, "D"};
  LIGER_TRY(check_tensor(fn, "q", p.q, true, {B, T, Hq, D}, in));
  const unsigned same = 1u << p.q.dtype;
  LIGER_TRY(check_tensor(fn, "k", p.k, true, {B, T, Hkv, D}, same));
  LIGER_TRY(check_tensor(fn, "v", p.v, true, {B, T, Hkv, D}, same));
  if (swa) {
    if (!p.rope_cos.data || !p.rope_sin.data)
      return fail(LIGER_ERR_INVALID_ARGUMENT, "%s: rope_cos and rope_sin are required when mix < 1", fn);
    const int64_t P = p.rope_cos.shape[0];
    if (P < 1) return fail(LIGER_ERR_INVALID_ARGUMENT, "%s: rope_cos.shape[0] = %lld must be >= 1", fn, (long long)P);
    LIGER_TRY(check_tensor(fn, "rope_cos", p.rope_cos, true, {{P, "P"}, {p.D / 2, "D/2"}}, kF32));
    LIGER_TRY(check_tensor(fn, "rope_sin", p.rope_sin, true, {{P, "rope_cos.shape[0]"}, {p.D / 2, "D/2"}}, kF32));
  }
  std::vector<Extent> ins, outs;
  ins.reserve(12), outs.reserve(12);  // one allocation each: the decode step passes here every token
  add(ins, "q", p.q), add(ins, "k", p.k), add(ins, "v", p.v), add(ins, "cu_seqlens", p.cu_seqlens);
  if (swa) add(ins, "rope_cos", p.rope_cos), add(ins, "rope_sin", p.rope_sin);
  auto add_cache = [](std::vector<Extent>& v, const liger_cache& c, bool in) {
    add(v, in ? "cache_in.state" : "cache_out.state", c.state);
    add(v, in ? "cache_in.win_k" : "cache_out.win_k", c.win_k);
    add(v, in ? "cache_in.win_v" : "cache_out.win_v", c.win_v);
    add(v, in ? "cache_in.pos" : "cache_out.pos", c.pos);
  };
  if (p.saved.data) {  // the saved chunk states: an opaque contiguous F32 buffer (its size is the backend's check)
    if (op == AttnOp::Decode) return fail(LIGER_ERR_INVALID_ARGUMENT, "%s: saved must be absent in decode", fn);
    LIGER_TRY(check_tensor(fn, "saved", p.saved, true, {{p.saved.ndim == 1 ? p.saved.shape[0] : -1, "numel"}}, kF32));
    LIGER_TRY(check_contiguous(fn, "saved", p.saved));
    if (p.saved.shape[0] < 1)
      return fail(LIGER_ERR_INVALID_ARGUMENT, "%s: saved.shape[0] = %lld must be >= 1 (or saved absent)", fn,
                  (long long)p.saved.shape[0]);
  }
  switch (op) {
    case AttnOp::Forward: {
      LIGER_TRY(check_tensor(fn, "o", p.o, true, {B, T, Hq, D}, same));
      LIGER_TRY(check_cache(fn, "cache_in", p.cache_in, p, N, false, true));
      LIGER_TRY(check_cache(fn, "cache_out", p.cache_out, p, N, false, false));
      const liger_cache &a = p.cache_in, &b = p.cache_out;
      const bool both = a.state.data && b.state.data;
      if (both) {
        // in place is allowed only component by component as the very same view
        const liger_tensor* pa[4] = {&a.state, &a.win_k, &a.win_v, &a.pos};
        const liger_tensor* pb[4] = {&b.state, &b.win_k, &b.win_v, &b.pos};
        for (int i = 0; i < 4; ++i)
          if (pa[i]->data && pb[i]->data && pa[i]->data == pb[i]->data && !same_view(*pa[i], *pb[i]))
            return fail(LIGER_ERR_INVALID_ARGUMENT, "%s: cache_in and cache_out share memory but not the same view",
                        fn);
      }
      if (a.state.data && p.saved.data)
        return fail(LIGER_ERR_INVALID_ARGUMENT, "%s: saved must be absent with cache_in (a forward that continues a "
                    "cache keeps no states for a backward)", fn);
      add_cache(ins, a, true);
      add(outs, "o", p.o);
      add_cache(outs, b, false);
      add(outs, "saved", p.saved);
      break;
    }
    case AttnOp::Backward: {
      if (p.cache_in.state.data || p.cache_in.pos.data || p.cache_in.win_k.data || p.cache_in.win_v.data)
        return fail(LIGER_ERR_INVALID_ARGUMENT, "%s: cache_in must be absent (backward starts from an empty cache)", fn);
      if (p.cache_out.state.data || p.cache_out.pos.data || p.cache_out.win_k.data || p.cache_out.win_v.data)
        return fail(LIGER_ERR_INVALID_ARGUMENT, "%s: cache_out must be absent in backward", fn);
      LIGER_TRY(check_tensor(fn, "do_", p.do_, true, {B, T, Hq, D}, same));
      LIGER_TRY(check_tensor(fn, "dq", p.dq, true, {B, T, Hq, D}, same));
      LIGER_TRY(check_tensor(fn, "dk", p.dk, true, {B, T, Hkv, D}, same));
      LIGER_TRY(check_tensor(fn, "dv", p.dv, true, {B, T, Hkv, D}, same));
      add(ins, "do_", p.do_), add(ins, "saved", p.saved);
      add(outs, "dq", p.dq), add(outs, "dk", p.dk), add(outs, "dv", p.dv);
      break;
    }
    case AttnOp::SavedQuery: {
      LIGER_TRY(check_tensor(fn, "o", p.o, false, {B, T, Hq, D}, same));
      LIGER_TRY(check_cache(fn, "cache_in", p.cache_in, p, N, false, true));
      break;
    }
    case AttnOp::Decode: {
      LIGER_TRY(check_tensor(fn, "o", p.o, true, {B, T, Hq, D}, same));
      LIGER_TRY(check_cache(fn, "cache_in", p.cache_in, p, N, true, true));
      const liger_cache &a = p.cache_in, &b = p.cache_out;
      if (b.state.data || b.pos.data || b.win_k.data || b.win_v.data) {
        if (!same_view(a.state, b.state) || !same_view(a.pos, b.pos) || !same_view(a.win_k, b.win_k) ||
            !same_view(a.win_v, b.win_v))
          return fail(LIGER_ERR_INVALID_ARGUMENT, "%s: cache_out must be absent or identical to cache_in", fn);
      }
      add(outs, "o", p.o);
      add_cache(outs, a, true);  // updated in place
      break;
    }
  }
  LIGER_TRY(check_aliasing(fn, ins, outs));
  // RoPE table length covers every position used (needs cache positions: CPU only)
  if (swa && p.device == LIGER_CPU) {
    const int64_t P = p.rope_cos.shape[0];
    const int64_t* pos = static_cast<const int64_t*>(p.cache_in.pos.data);
    for (int64_t n = 0; n < N; ++n) {
      const int64_t len = op == AttnOp::Decode ? 1 : seq_len(p.cu_seqlens, p.T, n);
      const int64_t last = (pos ? pos[n] : 0) + len - 1;
      if (len > 0 && last >= P)
        return fail(LIGER_ERR_INVALID_ARGUMENT,
                    "%s: rope_cos has %lld positions but sequence %lld uses position %lld", fn, (long long)P,
                    (long long)n, (long long)last);
    }
  }
  return LIGER_OK;
}

// ---------------------------------------------------------------- gated delta rule
enum class GdnOp { Forward, Backward, Decode };

liger_status check_gdn(const char* fn, const liger_gdn_params& p, GdnOp op) {
  LIGER_TRY(check_device(fn, p.device, p.num_threads));
  LIGER_TRY(check_sizes(fn, p.B, p.T, p.Hq, p.Hkv));
  if (p.Dk < 1 || p.Dv < 1 || p.Dk > 4096 || p.Dv > 4096)
    return fail(LIGER_ERR_INVALID_ARGUMENT, "%s: Dk = %lld and Dv = %lld must be in [1, 4096]", fn,
                (long long)p.Dk, (long long)p.Dv);
  if (!std::isfinite(p.scale)) return fail(LIGER_ERR_INVALID_ARGUMENT, "%s: scale is not finite", fn);
  int64_t N = 0;
  if (op == GdnOp::Decode) {
    if (p.T != 1) return fail(LIGER_ERR_INVALID_ARGUMENT, "%s: T = %lld but decode takes one token (T == 1)", fn,
                              (long long)p.T);
    if (p.cu_seqlens.data) return fail(LIGER_ERR_INVALID_ARGUMENT, "%s: cu_seqlens must be absent in decode", fn);
    N = p.B;
  } else {
    LIGER_TRY(check_seqlens(fn, p.device, p.cu_seqlens, p.B, p.T, &N));
  }
  const unsigned in = input_dtypes(p.device);
  const Dim B{p.B, "B"}, T{p.T, "T"}, Hq{p.Hq, "Hq"}, Hkv{p.Hkv, "Hkv"}, Dk{p.Dk, "Dk"}, Dv{p.Dv, "Dv"},
      Nd{N, "N"};
  LIGER_TRY(check_tensor(fn, "q", p.q, true, {B, T, Hq, Dk}, in));
  const unsigned same = 1u << p.q.dtype, gdt = kF32 | same;
  LIGER_TRY(check_tensor(fn, "k", p.k, true, {B, T, Hkv, Dk}, same));
  LIGER_TRY(check_tensor(fn, "v", p.v, true, {B, T, Hkv, Dv}, same));
  LIGER_TRY(check_tensor(fn, "g", p.g, true, {B, T, Hkv}, gdt));
  LIGER_TRY(check_tensor(fn, "beta", p.beta, true, {B, T, Hkv}, gdt));
  const bool decode = op == GdnOp::Decode;
  LIGER_TRY(check_tensor(fn, "h0", p.h0, decode, {Nd, Hkv, Dk, Dv}, kF32));
  LIGER_TRY(check_contiguous(fn, "h0", p.h0));
  std::vector<Extent> ins, outs;
  add(ins, "q", p.q), add(ins, "k", p.k), add(ins, "v", p.v), add(ins, "g", p.g), add(ins, "beta", p.beta);
  add(ins, "cu_seqlens", p.cu_seqlens);
  if (op != GdnOp::Backward) {
    LIGER_TRY(check_tensor(fn, "o", p.o, true, {B, T, Hq, Dv}, same));
    LIGER_TRY(check_tensor(fn, "ht", p.ht, decode, {Nd, Hkv, Dk, Dv}, kF32));
    LIGER_TRY(check_contiguous(fn, "ht", p.ht));
    add(outs, "o", p.o);
    // h0 == ht (the very same view) is an in-place state update; any other overlap is an error
    if (p.h0.data && p.ht.data && p.h0.data == p.ht.data) {
      if (!same_view(p.h0, p.ht))
        return fail(LIGER_ERR_INVALID_ARGUMENT, "%s: h0 and ht share memory but not the same view", fn);
      add(outs, "ht", p.ht);
    } else {
      add(ins, "h0", p.h0), add(outs, "ht", p.ht);
    }
    if (p.do_.data || p.dq.data || p.dk.data || p.dv.data || p.dg.data || p.dbeta.data || p.dh0.data || p.dht.data)
      return fail(LIGER_ERR_INVALID_ARGUMENT, "%s: gradient tensors must be absent outside backward", fn);
  } else {
    if (p.ht.data) return fail(LIGER_ERR_INVALID_ARGUMENT, "%s: ht must be absent in backward", fn);
    add(ins, "h0", p.h0);
    LIGER_TRY(check_tensor(fn, "do_", p.do_, true, {B, T, Hq, Dv}, same));
    LIGER_TRY(check_tensor(fn, "dht", p.dht, false, {Nd, Hkv, Dk, Dv}, kF32));
    LIGER_TRY(check_contiguous(fn, "dht", p.dht));
    LIGER_TRY(check_tensor(fn, "dq", p.dq, true, {B, T, Hq, Dk}, same));
    LIGER_TRY(check_tensor(fn, "dk", p.dk, true, {B, T, Hkv, Dk}, same));
    LIGER_TRY(check_tensor(fn, "dv", p.dv, true, {B, T, Hkv, Dv}, same));
    LIGER_TRY(check_tensor(fn, "dg", p.dg, true, {B, T, Hkv}, 1u << p.g.dtype));
    LIGER_TRY(check_tensor(fn, "dbeta", p.dbeta, true, {B, T, Hkv}, 1u << p.beta.dtype));
    LIGER_TRY(check_tensor(fn, "dh0", p.dh0, false, {Nd, Hkv, Dk, Dv}, kF32));
    LIGER_TRY(check_contiguous(fn, "dh0", p.dh0));
    add(ins, "do_", p.do_), add(ins, "dht", p.dht);
    add(outs, "dq", p.dq), add(outs, "dk", p.dk), add(outs, "dv", p.dv), add(outs, "dg", p.dg);
    add(outs, "dbeta", p.dbeta), add(outs, "dh0", p.dh0);
  }
  return check_aliasing(fn, ins, outs);
}

}  // namespace
}  // namespace liger

using liger::fail;

extern "C" {

const char* liger_last_error(void) { return liger::g_error.c_str(); }
#define LIGER_STR_(x) #x
#define LIGER_STR(x) LIGER_STR_(x)
const char* liger_version(void) { return LIGER_STR(LIGER_VERSION_MAJOR) "." LIGER_STR(LIGER_VERSION_MINOR); }

liger_status liger_set_num_threads(int32_t n) {
  if (n < 0) return fail(LIGER_ERR_INVALID_ARGUMENT, "liger_set_num_threads: n = %d is negative", n);
  liger::cpu::set_default_threads(n);
  return LIGER_OK;
}
int32_t liger_get_num_threads(void) { return liger::cpu::resolve_threads(0); }

int32_t liger_has_cuda(void) {
#if defined(LIGER_WITH_CUDA)
  return 1;
#else
  return 0;
#endif
}

#define LIGER_ENTRY(fn, check, name)                                                 \
  if (!p) return fail(LIGER_ERR_INVALID_ARGUMENT, "%s: params pointer is NULL", fn); \
  return liger::guarded(fn, [&]() -> liger_status {                                  \
    LIGER_TRY(check);                                                                \
    return LIGER_ROUTE(fn, name, *p);                                                \
  })

liger_status liger_gla_forward(const liger_gla_params* p) {
  LIGER_ENTRY("liger_gla_forward", liger::check_gla("liger_gla_forward", *p, false), gla_forward);
}
liger_status liger_gla_backward(const liger_gla_params* p) {
  LIGER_ENTRY("liger_gla_backward", liger::check_gla("liger_gla_backward", *p, true), gla_backward);
}
liger_status liger_attn_forward(const liger_attn_params* p) {
  LIGER_ENTRY("liger_attn_forward", liger::check_attn("liger_attn_forward", *p, liger::AttnOp::Forward),
              attn_forward);
}
liger_status liger_attn_backward(const liger_attn_params* p) {
  LIGER_ENTRY("liger_attn_backward", liger::check_attn("liger_attn_backward", *p, liger::AttnOp::Backward),
              attn_backward);
}
liger_status liger_attn_decode(const liger_attn_params* p) {
  LIGER_ENTRY("liger_attn_decode", liger::check_attn("liger_attn_decode", *p, liger::AttnOp::Decode),
              attn_decode);
}
liger_status liger_attn_saved_numel(const liger_attn_params* p, int64_t* numel) {
  const char* fn = "liger_attn_saved_numel";
  if (!numel) return fail(LIGER_ERR_INVALID_ARGUMENT, "%s: numel pointer is NULL", fn);
  *numel = 0;
  if (!p) return fail(LIGER_ERR_INVALID_ARGUMENT, "%s: params pointer is NULL", fn);
  return liger::guarded(fn, [&]() -> liger_status {
    LIGER_TRY(liger::check_attn(fn, *p, liger::AttnOp::SavedQuery));
    if (p->device == LIGER_CPU) return liger::cpu::attn_saved_numel(*p, *numel);
#if defined(LIGER_WITH_CUDA)
    return liger::cuda::attn_saved_numel(*p, *numel);
#else
    return fail(LIGER_ERR_UNSUPPORTED, "%s: this build of liger has no CUDA kernels", fn);
#endif
  });
}
liger_status liger_gdn_forward(const liger_gdn_params* p) {
  LIGER_ENTRY("liger_gdn_forward", liger::check_gdn("liger_gdn_forward", *p, liger::GdnOp::Forward), gdn_forward);
}
liger_status liger_gdn_backward(const liger_gdn_params* p) {
  LIGER_ENTRY("liger_gdn_backward", liger::check_gdn("liger_gdn_backward", *p, liger::GdnOp::Backward),
              gdn_backward);
}
liger_status liger_gdn_decode(const liger_gdn_params* p) {
  LIGER_ENTRY("liger_gdn_decode", liger::check_gdn("liger_gdn_decode", *p, liger::GdnOp::Decode), gdn_decode);
}

}  // extern "C"
