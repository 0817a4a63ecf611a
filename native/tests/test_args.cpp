// Every class of bad argument returns the right status and a message naming the argument.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "harness.h"
#include "liger/liger.h"
#include "util.h"

using tu::Buf;

namespace {

struct Fixture {
  int64_t B = 1, T = 10, Hq = 4, Hkv = 2, D = 16, W = 4;
  Buf q, k, v, o, dO, dq, dk, dv, st, wk, wv, pos, cu;
  ref::RopeTab rope;
  Fixture() {
    tu::Rng r(1);
    q = Buf::make(LIGER_F32, {B, T, Hq, D}), q.randn(r);
    k = Buf::make(LIGER_F32, {B, T, Hkv, D}), k.randn(r);
    v = Buf::make(LIGER_F32, {B, T, Hkv, D}), v.randn(r);
    o = Buf::make(LIGER_F32, {B, T, Hq, D});
    dO = Buf::make(LIGER_F32, {B, T, Hq, D}), dO.randn(r);
    dq = Buf::make(LIGER_F32, {B, T, Hq, D});
    dk = Buf::make(LIGER_F32, {B, T, Hkv, D});
    dv = Buf::make(LIGER_F32, {B, T, Hkv, D});
    st = Buf::make(LIGER_F32, {B, Hkv, D, D});
    wk = Buf::make(LIGER_F32, {B, Hkv, W - 1, D});
    wv = Buf::make(LIGER_F32, {B, Hkv, W - 1, D});
    pos = Buf::make(LIGER_I64, {B});
    cu = Buf::make(LIGER_I64, {3});
    cu.i64 = {0, 4, T};
    rope = tu::make_rope(T, D);
  }
  liger_attn_params p() {
    liger_attn_params a{};
    a.device = LIGER_CPU;
    a.B = B, a.T = T, a.Hq = Hq, a.Hkv = Hkv, a.D = D;
    a.gate_norm = 16, a.mix = 0.5f, a.window = int32_t(W), a.swa_scale = 0.25f, a.use_gate = 1;
    a.q = q.view(), a.k = k.view(), a.v = v.view(), a.o = o.view();
    a.rope_cos = tu::rope_view(rope, true), a.rope_sin = tu::rope_view(rope, false);
    a.do_ = dO.view(), a.dq = dq.view(), a.dk = dk.view(), a.dv = dv.view();
    return a;
  }
  liger_cache cache() {
    liger_cache c{};
    c.state = st.view(), c.win_k = wk.view(), c.win_v = wv.view(), c.pos = pos.view();
    return c;
  }
};

enum Op { FWD, BWD, DEC };
liger_status call(Op op, liger_attn_params& a) {
  return op == FWD ? liger_attn_forward(&a) : op == BWD ? liger_attn_backward(&a) : liger_attn_decode(&a);
}

void expect(Op op, liger_attn_params a, liger_status want, const char* needle, const char* what) {
  liger_status s = call(op, a);
  std::string msg = liger_last_error();
  CHECK(s == want && msg.find(needle) != std::string::npos, "%s: status %d (want %d), message '%s' (want '%s')",
        what, s, want, msg.c_str(), needle);
}

TEST(args, valid_calls_succeed) {
  Fixture f;
  for (Op op : {FWD, BWD}) {
    liger_attn_params a = f.p();
    CHECK(call(op, a) == LIGER_OK, "op %d: %s", int(op), liger_last_error());
  }
  Fixture d;
  d.T = 1;
  Fixture dd = d;
  dd = Fixture();
  // decode: one token, cache required
  Fixture g;
  g.T = 1;
  g.q = Buf::make(LIGER_F32, {1, 1, 4, 16}), g.k = Buf::make(LIGER_F32, {1, 1, 2, 16}),
  g.v = Buf::make(LIGER_F32, {1, 1, 2, 16}), g.o = Buf::make(LIGER_F32, {1, 1, 4, 16});
  liger_attn_params a = g.p();
  a.cache_in = g.cache();
  CHECK(liger_attn_decode(&a) == LIGER_OK, "decode: %s", liger_last_error());
}

TEST(args, null_pointers) {
  Fixture f;
  liger_attn_params a = f.p();
  a.q.data = nullptr;
  expect(FWD, a, LIGER_ERR_INVALID_ARGUMENT, "q is required", "null q");
  a = f.p();
  a.dk.data = nullptr;
  expect(BWD, a, LIGER_ERR_INVALID_ARGUMENT, "dk is required", "null dk");
  a = f.p();
  a.rope_sin.data = nullptr;
  expect(FWD, a, LIGER_ERR_INVALID_ARGUMENT, "rope_cos and rope_sin are required", "null rope");
  CHECK(liger_attn_forward(nullptr) == LIGER_ERR_INVALID_ARGUMENT, "null params");
  CHECK(liger_gla_backward(nullptr) == LIGER_ERR_INVALID_ARGUMENT, "null params");
}

TEST(args, shape_mismatch) {
  Fixture f;
  liger_attn_params a = f.p();
  a.k.shape[2] = 3;
  expect(FWD, a, LIGER_ERR_INVALID_ARGUMENT, "k.shape[2] = 3 but Hkv = 2", "k heads");
  a = f.p();
  a.o.shape[1] = 9;
  expect(FWD, a, LIGER_ERR_INVALID_ARGUMENT, "o.shape[1] = 9 but T = 10", "o length");
  a = f.p();
  a.v.ndim = 3;
  expect(FWD, a, LIGER_ERR_INVALID_ARGUMENT, "v.ndim = 3", "v ndim");
  a = f.p();
  a.rope_cos.shape[1] = 7;
  expect(FWD, a, LIGER_ERR_INVALID_ARGUMENT, "rope_cos.shape[1] = 7 but D/2 = 8", "rope width");
  a = f.p();
  a.T = 3;
  a.q.shape[1] = a.k.shape[1] = a.v.shape[1] = a.o.shape[1] = 3;
  a.rope_cos.shape[0] = a.rope_sin.shape[0] = 2;
  expect(FWD, a, LIGER_ERR_INVALID_ARGUMENT, "uses position 2", "rope too short");
  a = f.p();
  a.q.stride[1] = -a.q.stride[1];
  expect(FWD, a, LIGER_ERR_INVALID_ARGUMENT, "q.stride[1]", "negative stride");
}

TEST(args, heads_sizes_values) {
  Fixture f;
  liger_attn_params a = f.p();
  a.Hkv = 3;
  expect(FWD, a, LIGER_ERR_INVALID_ARGUMENT, "Hq = 4 is not a multiple of Hkv = 3", "Hq % Hkv");
  a = f.p();
  a.T = 0;
  expect(FWD, a, LIGER_ERR_INVALID_ARGUMENT, "T = 0 must be >= 1", "T = 0");
  a = f.p();
  a.window = 0;
  expect(FWD, a, LIGER_ERR_INVALID_ARGUMENT, "window = 0", "window");
  a = f.p();
  a.mix = 1.5f;
  expect(FWD, a, LIGER_ERR_INVALID_ARGUMENT, "mix = 1.5", "mix");
  a = f.p();
  a.gate_norm = 0.f;
  expect(FWD, a, LIGER_ERR_INVALID_ARGUMENT, "gate_norm = 0", "gate_norm");
  a = f.p();
  a.variant = 7;
  expect(FWD, a, LIGER_ERR_INVALID_ARGUMENT, "variant = 7", "variant");
  a = f.p();
  a.f16_mode = 3;
  expect(FWD, a, LIGER_ERR_INVALID_ARGUMENT, "f16_mode = 3", "f16_mode");
  a = f.p();
  a.f16_mode = -1;
  expect(BWD, a, LIGER_ERR_INVALID_ARGUMENT, "f16_mode = -1", "f16_mode");
  a = f.p();
  a.num_threads = -1;
  expect(FWD, a, LIGER_ERR_INVALID_ARGUMENT, "num_threads = -1", "threads");
  CHECK(liger_set_num_threads(-2) == LIGER_ERR_INVALID_ARGUMENT, "set_num_threads(-2)");
}

// f16_mode concerns fp16 on CUDA only: on the CPU every mode computes the same output, bit for bit.
TEST(args, f16_mode_on_cpu) {
  Fixture f;
  std::vector<float> first;
  for (int32_t mode : {LIGER_F16_DEFAULT, LIGER_F16_ACCURATE, LIGER_F16_FAST}) {
    liger_attn_params a = f.p();
    a.f16_mode = mode;
    std::fill(f.o.f.begin(), f.o.f.end(), std::nanf(""));
    CHECK(call(FWD, a) == LIGER_OK, "mode %d: %s", int(mode), liger_last_error());
    if (first.empty()) first = f.o.f;
    CHECK(std::memcmp(first.data(), f.o.f.data(), first.size() * sizeof(float)) == 0 && !std::isnan(first[0]),
          "mode %d: the CPU output differs from mode 0's", int(mode));
  }
}

// liger_attn_params.saved: the CPU keeps no chunk states (numel 0) and ignores a buffer, bit for bit; the dispatcher
// still checks one that is given (F32, one contiguous dimension, not in decode, not beside cache_in, not overlapping
// the inputs).
TEST(args, saved_states_on_cpu) {
  Fixture f;
  liger_attn_params a = f.p();
  int64_t n = -1;
  CHECK(liger_attn_saved_numel(&a, &n) == LIGER_OK && n == 0, "CPU numel %lld: %s", (long long)n, liger_last_error());
  a.o = liger_tensor{};  // the query takes a forward's inputs; o may be absent
  CHECK(liger_attn_saved_numel(&a, &n) == LIGER_OK && n == 0, "numel without o: %s", liger_last_error());
  CHECK(liger_attn_saved_numel(&a, nullptr) == LIGER_ERR_INVALID_ARGUMENT, "null numel pointer");
  Buf sv = Buf::make(LIGER_F32, {64});
  std::vector<float> plain[2], kept[2];
  for (int keep = 0; keep < 2; ++keep) {
    a = f.p();
    if (keep) a.saved = sv.view();
    CHECK(call(FWD, a) == LIGER_OK, "forward keep=%d: %s", keep, liger_last_error());
    CHECK(call(BWD, a) == LIGER_OK, "backward keep=%d: %s", keep, liger_last_error());
    (keep ? kept : plain)[0] = f.o.f;
    (keep ? kept : plain)[1] = f.dq.f;
  }
  CHECK(plain[0] == kept[0] && plain[1] == kept[1], "the CPU's outputs with saved differ from those without");
  a = f.p();
  a.saved = sv.view();
  a.saved.dtype = LIGER_BF16;
  expect(FWD, a, LIGER_ERR_INVALID_ARGUMENT, "saved.dtype = BF16", "saved dtype");
  a = f.p();
  a.saved = f.st.view();  // four dimensions
  expect(BWD, a, LIGER_ERR_INVALID_ARGUMENT, "saved.ndim = 4", "saved rank");
  a = f.p();
  a.saved = sv.view();
  a.saved.stride[0] = 2;
  expect(FWD, a, LIGER_ERR_INVALID_ARGUMENT, "saved must be contiguous", "saved stride");
  a = f.p();
  a.saved = sv.view();
  a.cache_in = f.cache();
  expect(FWD, a, LIGER_ERR_INVALID_ARGUMENT, "saved must be absent with cache_in", "saved beside cache_in");
  a = f.p();
  a.saved = f.q.view();
  a.saved.ndim = 1;
  a.saved.shape[0] = 8;
  a.saved.stride[0] = 1;
  expect(FWD, a, LIGER_ERR_INVALID_ARGUMENT, "saved overlaps input q", "saved (written by the forward) overlapping q");
}

TEST(args, dtypes) {
  Fixture f;
  liger_attn_params a = f.p();
  a.q.dtype = LIGER_F16;
  expect(FWD, a, LIGER_ERR_INVALID_ARGUMENT, "q.dtype = F16", "F16 on CPU");
  a = f.p();
  a.k.dtype = LIGER_BF16;
  expect(FWD, a, LIGER_ERR_INVALID_ARGUMENT, "k.dtype = BF16", "mixed dtypes");
  a = f.p();
  a.rope_cos.dtype = LIGER_BF16;
  expect(FWD, a, LIGER_ERR_INVALID_ARGUMENT, "rope_cos.dtype = BF16", "rope dtype");
  a = f.p();
  a.cu_seqlens = f.cu.view();
  a.cu_seqlens.dtype = LIGER_F32;
  expect(FWD, a, LIGER_ERR_INVALID_ARGUMENT, "cu_seqlens.dtype = F32", "cu_seqlens dtype");
}

TEST(args, cu_seqlens_contents) {
  Fixture f;
  liger_attn_params a = f.p();
  a.cu_seqlens = f.cu.view();
  CHECK(liger_attn_forward(&a) == LIGER_OK, "valid varlen: %s", liger_last_error());
  f.cu.i64 = {1, 4, 10};
  expect(FWD, a, LIGER_ERR_INVALID_ARGUMENT, "cu_seqlens[0] = 1", "start");
  f.cu.i64 = {0, 6, 5};
  expect(FWD, a, LIGER_ERR_INVALID_ARGUMENT, "cu_seqlens decreases", "decreasing");
  f.cu.i64 = {0, 4, 9};
  expect(BWD, a, LIGER_ERR_INVALID_ARGUMENT, "cu_seqlens[N] = 9 but T = 10", "end");
}

TEST(args, caches) {
  Fixture f;
  liger_attn_params a = f.p();
  a.cache_out = f.cache();
  CHECK(liger_attn_forward(&a) == LIGER_OK, "valid cache_out: %s", liger_last_error());
  a.cache_out.state.shape[3] = 8;
  expect(FWD, a, LIGER_ERR_INVALID_ARGUMENT, "cache_out.state.shape[3] = 8 but D = 16", "state shape");
  a = f.p();
  a.cache_out = f.cache();
  a.cache_out.win_k.shape[2] = 4;
  expect(FWD, a, LIGER_ERR_INVALID_ARGUMENT, "cache_out.win_k.shape[2] = 4 but window - 1 = 3", "window shape");
  a = f.p();
  a.cache_in = f.cache();
  a.cache_in.pos.data = nullptr;
  expect(FWD, a, LIGER_ERR_INVALID_ARGUMENT, "cache_in.pos is required", "pos missing");
  a = f.p();
  a.cache_in = f.cache();
  f.pos.i64[0] = -3;
  expect(FWD, a, LIGER_ERR_INVALID_ARGUMENT, "cache_in.pos[0] = -3", "negative pos");
  f.pos.i64[0] = 5;  // positions 5..14 exceed the 10-entry rope table
  expect(FWD, a, LIGER_ERR_INVALID_ARGUMENT, "uses position 14", "rope vs cache pos");
  f.pos.i64[0] = 0;
  a = f.p();
  a.cache_in = f.cache();
  expect(BWD, a, LIGER_ERR_INVALID_ARGUMENT, "cache_in must be absent", "backward with cache");
  a = f.p();
  expect(DEC, a, LIGER_ERR_INVALID_ARGUMENT, "T = 10 but decode takes one token", "decode T");
}

TEST(args, aliasing) {
  Fixture f;
  liger_attn_params a = f.p();
  a.o = f.q.view();
  expect(FWD, a, LIGER_ERR_INVALID_ARGUMENT, "output o overlaps input q", "o aliases q");
  a = f.p();
  a.dk = f.dq.view();
  a.dk.shape[2] = 2;
  expect(BWD, a, LIGER_ERR_INVALID_ARGUMENT, "overlap", "dq aliases dk");
  a = f.p();
  a.o.stride[2] = 0;
  expect(FWD, a, LIGER_ERR_INVALID_ARGUMENT, "output o has overlapping elements", "zero stride output");
}

TEST(args, unsupported_cuda_and_gla) {
  Fixture f;
  liger_attn_params a = f.p();
  a.device = LIGER_CUDA;
  if (!liger_has_cuda()) expect(FWD, a, LIGER_ERR_UNSUPPORTED, "no CUDA kernels", "cuda in a CPU build");
  // plain GLA: g dtype and Dk checks
  liger_gla_params g{};
  g.device = LIGER_CPU;
  g.B = 1, g.T = 10, g.Hq = 4, g.Hkv = 2, g.Dk = 16, g.Dv = 16, g.scale = 1;
  g.q = f.q.view(), g.k = f.k.view(), g.v = f.v.view(), g.o = f.o.view();
  Buf gg = Buf::make(LIGER_I64, {1, 10, 2, 16});
  g.g = gg.view();
  liger_status s = liger_gla_forward(&g);
  CHECK(s == LIGER_ERR_INVALID_ARGUMENT && std::string(liger_last_error()).find("g.dtype = I64") != std::string::npos,
        "gla g dtype: %d %s", s, liger_last_error());
  g.g = f.k.view();
  g.Dv = 0;
  s = liger_gla_forward(&g);
  CHECK(s == LIGER_ERR_INVALID_ARGUMENT && std::string(liger_last_error()).find("Dv = 0") != std::string::npos,
        "gla Dv: %d %s", s, liger_last_error());
}

// ---------------------------------------------------------------- gated delta rule entry points
struct GdnFixture {
  int64_t B = 1, T = 10, Hq = 4, Hkv = 2, Dk = 16, Dv = 8;
  Buf q, k, v, g, beta, o, h0, ht, dO, dht, dq, dk, dv, dg, dbeta, dh0, cu;
  GdnFixture() {
    tu::Rng r(2);
    q = Buf::make(LIGER_F32, {B, T, Hq, Dk}), q.randn(r);
    k = Buf::make(LIGER_F32, {B, T, Hkv, Dk}), k.randn(r, 0.2);
    v = Buf::make(LIGER_F32, {B, T, Hkv, Dv}), v.randn(r);
    g = Buf::make(LIGER_F32, {B, T, Hkv}), g.randn(r, 0.1, -0.5);
    beta = Buf::make(LIGER_F32, {B, T, Hkv}), beta.randn(r, 0.1, 0.5);
    o = Buf::make(LIGER_F32, {B, T, Hq, Dv});
    h0 = Buf::make(LIGER_F32, {B, Hkv, Dk, Dv}), h0.randn(r);
    ht = Buf::make(LIGER_F32, {B, Hkv, Dk, Dv});
    dO = Buf::make(LIGER_F32, {B, T, Hq, Dv}), dO.randn(r);
    dht = Buf::make(LIGER_F32, {B, Hkv, Dk, Dv}), dht.randn(r);
    dq = Buf::make(LIGER_F32, {B, T, Hq, Dk});
    dk = Buf::make(LIGER_F32, {B, T, Hkv, Dk});
    dv = Buf::make(LIGER_F32, {B, T, Hkv, Dv});
    dg = Buf::make(LIGER_F32, {B, T, Hkv});
    dbeta = Buf::make(LIGER_F32, {B, T, Hkv});
    dh0 = Buf::make(LIGER_F32, {B, Hkv, Dk, Dv});
    cu = Buf::make(LIGER_I64, {3});
    cu.i64 = {0, 4, T};
  }
  liger_gdn_params fwd() {
    liger_gdn_params p{};
    p.device = LIGER_CPU;
    p.B = B, p.T = T, p.Hq = Hq, p.Hkv = Hkv, p.Dk = Dk, p.Dv = Dv, p.scale = 0.25f;
    p.q = q.view(), p.k = k.view(), p.v = v.view(), p.g = g.view(), p.beta = beta.view(), p.o = o.view();
    p.h0 = h0.view(), p.ht = ht.view();
    return p;
  }
  liger_gdn_params bwd() {
    liger_gdn_params p = fwd();
    p.o = liger_tensor{}, p.ht = liger_tensor{};
    p.do_ = dO.view(), p.dht = dht.view(), p.dq = dq.view(), p.dk = dk.view(), p.dv = dv.view();
    p.dg = dg.view(), p.dbeta = dbeta.view(), p.dh0 = dh0.view();
    return p;
  }
};

liger_status gdn_call(Op op, const liger_gdn_params& p) {
  return op == FWD ? liger_gdn_forward(&p) : op == BWD ? liger_gdn_backward(&p) : liger_gdn_decode(&p);
}
void gdn_expect(Op op, const liger_gdn_params& p, liger_status want, const char* needle, const char* what) {
  liger_status s = gdn_call(op, p);
  std::string msg = liger_last_error();
  CHECK(s == want && msg.find(needle) != std::string::npos, "gdn %s: status %d (want %d), message '%s' (want '%s')",
        what, s, want, msg.c_str(), needle);
}

TEST(args, gdn_entry_points) {
  GdnFixture f;
  liger_gdn_params p = f.fwd();
  CHECK(liger_gdn_forward(&p) == LIGER_OK, "valid forward: %s", liger_last_error());
  p = f.bwd();
  CHECK(liger_gdn_backward(&p) == LIGER_OK, "valid backward: %s", liger_last_error());
  CHECK(liger_gdn_forward(nullptr) == LIGER_ERR_INVALID_ARGUMENT, "null params");
  CHECK(liger_gdn_decode(nullptr) == LIGER_ERR_INVALID_ARGUMENT, "null params");
  // missing / mismatched tensors
  p = f.fwd(), p.beta.data = nullptr;
  gdn_expect(FWD, p, LIGER_ERR_INVALID_ARGUMENT, "beta is required", "null beta");
  p = f.bwd(), p.dbeta.data = nullptr;
  gdn_expect(BWD, p, LIGER_ERR_INVALID_ARGUMENT, "dbeta is required", "null dbeta");
  p = f.fwd(), p.g.shape[2] = 3;
  gdn_expect(FWD, p, LIGER_ERR_INVALID_ARGUMENT, "g.shape[2] = 3 but Hkv = 2", "g heads");
  p = f.fwd(), p.v.shape[3] = 16;
  gdn_expect(FWD, p, LIGER_ERR_INVALID_ARGUMENT, "v.shape[3] = 16 but Dv = 8", "v width");
  p = f.fwd(), p.g.ndim = 4;
  gdn_expect(FWD, p, LIGER_ERR_INVALID_ARGUMENT, "g.ndim = 4", "g rank");
  p = f.fwd(), p.h0.shape[2] = 8;
  gdn_expect(FWD, p, LIGER_ERR_INVALID_ARGUMENT, "h0.shape[2] = 8 but Dk = 16", "h0 shape");
  p = f.fwd(), p.ht.stride[3] = 2, p.ht.stride[2] = 16;
  gdn_expect(FWD, p, LIGER_ERR_INVALID_ARGUMENT, "ht must be contiguous", "ht strides");
  // sizes, values, dtypes
  p = f.fwd(), p.Hkv = 3;
  gdn_expect(FWD, p, LIGER_ERR_INVALID_ARGUMENT, "Hq = 4 is not a multiple of Hkv = 3", "Hq % Hkv");
  p = f.fwd(), p.Dk = 0;
  gdn_expect(FWD, p, LIGER_ERR_INVALID_ARGUMENT, "Dk = 0", "Dk");
  p = f.fwd(), p.scale = INFINITY;
  gdn_expect(FWD, p, LIGER_ERR_INVALID_ARGUMENT, "scale is not finite", "scale");
  p = f.fwd(), p.q.dtype = LIGER_F16;
  gdn_expect(FWD, p, LIGER_ERR_INVALID_ARGUMENT, "q.dtype = F16", "F16 on CPU");
  p = f.fwd(), p.beta.dtype = LIGER_I64;
  gdn_expect(FWD, p, LIGER_ERR_INVALID_ARGUMENT, "beta.dtype = I64", "beta dtype");
  p = f.bwd(), p.dg.dtype = LIGER_BF16;
  gdn_expect(BWD, p, LIGER_ERR_INVALID_ARGUMENT, "dg.dtype = BF16", "dg dtype follows g");
  // varlen contents
  p = f.fwd(), p.cu_seqlens = f.cu.view(), p.h0.shape[0] = p.ht.shape[0] = 2;
  f.cu.i64 = {0, 11, 10};
  gdn_expect(FWD, p, LIGER_ERR_INVALID_ARGUMENT, "cu_seqlens", "cu_seqlens decreasing");
  // aliasing and gradient tensors in the wrong op
  p = f.fwd(), p.o = f.dq.view(), p.o.shape[3] = 8, p.q = f.dq.view();
  gdn_expect(FWD, p, LIGER_ERR_INVALID_ARGUMENT, "overlaps", "o aliases q");
  p = f.fwd(), p.ht = f.h0.view(), p.ht.shape[3] = 4;
  gdn_expect(FWD, p, LIGER_ERR_INVALID_ARGUMENT, "ht.shape[3] = 4", "ht shape");
  p = f.fwd(), p.dq = f.dq.view();
  gdn_expect(FWD, p, LIGER_ERR_INVALID_ARGUMENT, "gradient tensors must be absent", "grads in forward");
  p = f.bwd(), p.ht = f.ht.view();
  gdn_expect(BWD, p, LIGER_ERR_INVALID_ARGUMENT, "ht must be absent in backward", "ht in backward");
  // decode: one token, h0 and ht required
  p = f.fwd();
  gdn_expect(DEC, p, LIGER_ERR_INVALID_ARGUMENT, "T = 10 but decode takes one token", "decode T");
  liger_gdn_params q = f.fwd();
  q.T = 1;
  q.q.shape[1] = q.k.shape[1] = q.v.shape[1] = q.g.shape[1] = q.beta.shape[1] = q.o.shape[1] = 1;
  CHECK(liger_gdn_decode(&q) == LIGER_OK, "valid decode: %s", liger_last_error());
  q.ht = q.h0;
  CHECK(liger_gdn_decode(&q) == LIGER_OK, "in-place decode: %s", liger_last_error());
  q.ht.data = nullptr;
  gdn_expect(DEC, q, LIGER_ERR_INVALID_ARGUMENT, "ht is required", "decode without ht");
  q.ht = q.h0, q.h0.data = nullptr;
  gdn_expect(DEC, q, LIGER_ERR_INVALID_ARGUMENT, "h0 is required", "decode without h0");
  q = f.fwd(), q.T = 1;
  q.q.shape[1] = q.k.shape[1] = q.v.shape[1] = q.g.shape[1] = q.beta.shape[1] = q.o.shape[1] = 1;
  q.cu_seqlens = f.cu.view();
  gdn_expect(DEC, q, LIGER_ERR_INVALID_ARGUMENT, "cu_seqlens must be absent in decode", "decode varlen");
  if (!liger_has_cuda()) {
    p = f.fwd(), p.device = LIGER_CUDA;
    gdn_expect(FWD, p, LIGER_ERR_UNSUPPORTED, "no CUDA kernels", "cuda in a CPU build");
  }
}

}  // namespace

int main(int argc, char** argv) { return th::run_all(argc, argv); }
