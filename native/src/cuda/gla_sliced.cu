// The chunked recurrence as independent slices of the key and value features (see CoreSlices in
// gla_core.cuh), for devices whose shared memory does not hold the fp32 kernels' tiles at full width.
// Each slice is a whole problem of its own: its inputs are copied into packed buffers of the slice's
// width, core_forward / core_backward run it unchanged, and its outputs are copied or added back.
// The chunk states of slice (a, b) live in the caller's h (and gl) at a fixed offset, so a backward
// finds the states its forward left.
#include "gla_core.cuh"

namespace liger {
namespace cuda {
namespace {

// Row r (w floats) of dst at dst + (r / din) * dso + (r % din) * dsi, of src likewise with sso, ssi;
// dst = src, or dst += src when add.
__global__ void k_copy_rows(float* dst, int64_t dso, int64_t dsi, const float* src, int64_t sso, int64_t ssi,
                            int64_t rows, int din, int w, bool add) {
  const int64_t n = rows * w;
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    const int64_t r = i / w, j = i - r * w;
    const int64_t ro = r / din, ri = r - ro * din;
    float* d = dst + ro * dso + ri * dsi + j;
    const float x = src[ro * sso + ri * ssi + j];
    *d = add ? *d + x : x;
  }
}

liger_status copy_rows(float* dst, int64_t dso, int64_t dsi, const float* src, int64_t sso, int64_t ssi,
                       int64_t rows, int din, int w, bool add, cudaStream_t st) {
  const int64_t n = rows * w;
  if (n == 0) return LIGER_OK;
  const int64_t blocks = (n + 255) / 256;
  k_copy_rows<<<(unsigned)(blocks > 65536 ? 65536 : blocks), 256, 0, st>>>(dst, dso, dsi, src, sso, ssi, rows, din,
                                                                            w, add);
  LIGER_CK_LAUNCH("copy_rows");
  return LIGER_OK;
}

// Per-token buffer [rows, D] (rows = tokens x heads): columns [c0, c0 + w) to or from a packed [rows, w].
liger_status cols_out(float* packed, const float* full, int64_t rows, int D, int c0, int w, cudaStream_t st) {
  return copy_rows(packed, w, 0, full + c0, D, 0, rows, 1, w, false, st);
}
liger_status cols_in(float* full, const float* packed, int64_t rows, int D, int c0, int w, bool add, cudaStream_t st) {
  return copy_rows(full + c0, D, 0, packed, w, 0, rows, 1, w, add, st);
}

// State [M, Dk, Dv] (M = sequences x heads): the block [k0, k0 + a) x [v0, v0 + b) to or from a packed
// [M, a, b].
liger_status block_out(float* packed, const float* full, int64_t M, int Dk, int Dv, int k0, int v0, int a, int b,
                       cudaStream_t st) {
  return copy_rows(packed, (int64_t)a * b, b, full + (int64_t)k0 * Dv + v0, (int64_t)Dk * Dv, Dv, M * a, a, b, false,
                   st);
}
liger_status block_in(float* full, const float* packed, int64_t M, int Dk, int Dv, int k0, int v0, int a, int b,
                      cudaStream_t st) {
  return copy_rows(full + (int64_t)k0 * Dv + v0, (int64_t)Dk * Dv, Dv, packed, (int64_t)a * b, b, M * a, a, b, false,
                   st);
}

// Where slice (ka, vb) keeps its chunk states in the caller's h and its chunk gate totals in gl.
float* slice_h(const Core& c, float* h, int ka, int vb, const CoreSlices& s) {
  const int nv = (int)(c.Dv / s.dv);
  return h + (int64_t)(ka * nv + vb) * (c.nchunks + 1) * c.Hkv * s.dk * s.dv;
}
float* slice_gl(const Core& c, int ka, const CoreSlices& s) {
  return c.gl + (int64_t)ka * (c.nchunks + 1) * c.Hkv * s.dk;
}

// Slice (ka, vb) of c as a problem of its own: its widths, packed copies of its columns of k, g (as they
// are now: raw before the forward, cumsums after it) and v in the given buffers, its place in h and gl.
liger_status slice_core(const Core& c, const CoreSlices& s, int ka, int vb, float* k, float* g, float* v, Core& x) {
  const int64_t rk = (c.ntok + kChunk) * c.Hkv;
  x = c;
  x.Dk = s.dk;
  x.Dv = s.dv;
  x.k = k;
  x.g = g;
  x.v = v;
  LIGER_TRY(cols_out(k, c.k, rk, (int)c.Dk, ka * s.dk, s.dk, c.stream));
  LIGER_TRY(cols_out(g, c.g, rk, (int)c.Dk, ka * s.dk, s.dk, c.stream));
  LIGER_TRY(cols_out(v, c.v, rk, (int)c.Dv, vb * s.dv, s.dv, c.stream));
  x.h = slice_h(c, c.h, ka, vb, s);
  x.gl = slice_gl(c, ka, s);
  return LIGER_OK;
}

liger_status check_slicable(const Core& c) {
  if (c.ntok <= 0 && c.nchunks > 0)
    return fail(LIGER_ERR_INVALID_ARGUMENT, "core: the sliced path needs the packed token count (Core.ntok)");
  if (c.bf16 || c.qchain)
    return fail(LIGER_ERR_INVALID_ARGUMENT, "core: the bf16 kernels are never sliced");
  return LIGER_OK;
}

}  // namespace

liger_status core_forward_sliced(const Core& c, bool with_output, const CoreSlices& s) {
  LIGER_TRY(check_slicable(c));
  cudaStream_t st = c.stream;
  const int Dk = (int)c.Dk, Dv = (int)c.Dv, a = s.dk, b = s.dv;
  const int64_t Np = c.ntok + kChunk, rq = Np * c.Hq, rk = Np * c.Hkv, M = (int64_t)c.nseq * c.Hkv;
  Workspace ws(st);
  const size_t oq = ws.reserve_bytes(sizeof(float) * (with_output ? rq * a : 0));
  const size_t ok = ws.reserve_bytes(sizeof(float) * rk * a);
  const size_t og = ws.reserve_bytes(sizeof(float) * rk * a);
  const size_t ov = ws.reserve_bytes(sizeof(float) * rk * b);
  const size_t oo = ws.reserve_bytes(sizeof(float) * (with_output ? rq * b : 0));
  const size_t o0 = ws.reserve_bytes(sizeof(float) * (c.h0 ? M * a * b : 0));
  const size_t ot = ws.reserve_bytes(sizeof(float) * (c.ht ? M * a * b : 0));
  LIGER_TRY(ws.allocate());
  for (int ka = 0; ka < Dk / a; ++ka) {
    for (int vb = 0; vb < Dv / b; ++vb) {
      // the raw gates every time: the state pass turns them into cumsums in place
      Core x;
      LIGER_TRY(slice_core(c, s, ka, vb, ws.at<float>(ok), ws.at<float>(og), ws.at<float>(ov), x));
      x.q = nullptr;  // the state pass reads k, g and v only
      x.o = nullptr;
      if (with_output) {
        x.q = ws.at<float>(oq);
        x.o = ws.at<float>(oo);
        LIGER_TRY(cols_out(x.q, c.q, rq, Dk, ka * a, a, st));
      }
      x.h0 = c.h0 ? ws.at<float>(o0) : nullptr;
      x.ht = c.ht ? ws.at<float>(ot) : nullptr;
      if (c.h0) LIGER_TRY(block_out(ws.at<float>(o0), c.h0, M, Dk, Dv, ka * a, vb * b, a, b, st));
      LIGER_TRY(core_forward(x, with_output));
      if (with_output) LIGER_TRY(cols_in(c.o, x.o, rq, Dv, vb * b, b, ka > 0, st));  // o sums over key slices
      if (c.ht) LIGER_TRY(block_in(c.ht, x.ht, M, Dk, Dv, ka * a, vb * b, a, b, st));
      // the caller's gates become cumsums too (the backward reads them), once every value slice has read them raw
      if (vb == Dv / b - 1) LIGER_TRY(cols_in(c.g, x.g, rk, Dk, ka * a, a, false, st));
    }
  }
  return LIGER_OK;
}

liger_status core_backward_sliced(const Core& c, const CoreSlices& s) {
  LIGER_TRY(check_slicable(c));
  cudaStream_t st = c.stream;
  const int Dk = (int)c.Dk, Dv = (int)c.Dv, a = s.dk, b = s.dv;
  const int64_t Np = c.ntok + kChunk, rq = Np * c.Hq, rk = Np * c.Hkv, M = (int64_t)c.nseq * c.Hkv;
  Workspace ws(st);
  const size_t oq = ws.reserve_bytes(sizeof(float) * rq * a);
  const size_t ok = ws.reserve_bytes(sizeof(float) * rk * a);
  const size_t og = ws.reserve_bytes(sizeof(float) * rk * a);
  const size_t ov = ws.reserve_bytes(sizeof(float) * rk * b);
  const size_t odo = ws.reserve_bytes(sizeof(float) * rq * b);
  const size_t odq = ws.reserve_bytes(sizeof(float) * rq * a);
  const size_t odk = ws.reserve_bytes(sizeof(float) * rk * a);
  const size_t odv = ws.reserve_bytes(sizeof(float) * rk * b);
  const size_t odt = ws.reserve_bytes(sizeof(float) * (c.dht ? M * a * b : 0));
  const size_t od0 = ws.reserve_bytes(sizeof(float) * (c.dh0 ? M * a * b : 0));
  LIGER_TRY(ws.allocate());
  for (int ka = 0; ka < Dk / a; ++ka) {
    for (int vb = 0; vb < Dv / b; ++vb) {
      Core x;  // g: the cumsums the forward left
      LIGER_TRY(slice_core(c, s, ka, vb, ws.at<float>(ok), ws.at<float>(og), ws.at<float>(ov), x));
      x.q = ws.at<float>(oq);
      x.dO = ws.at<float>(odo);
      x.dq = ws.at<float>(odq);
      x.dk = ws.at<float>(odk);
      x.dv = ws.at<float>(odv);
      LIGER_TRY(cols_out(x.q, c.q, rq, Dk, ka * a, a, st));
      LIGER_TRY(cols_out(x.dO, c.dO, rq, Dv, vb * b, b, st));
      LIGER_CK(cudaMemsetAsync(x.dk, 0, sizeof(float) * rk * a, st));  // the kernels add into dk, dv
      LIGER_CK(cudaMemsetAsync(x.dv, 0, sizeof(float) * rk * b, st));
      x.dh = slice_h(c, c.dh, ka, vb, s);
      x.dht = c.dht ? ws.at<float>(odt) : nullptr;
      x.dh0 = c.dh0 ? ws.at<float>(od0) : nullptr;
      if (c.dht) LIGER_TRY(block_out(ws.at<float>(odt), c.dht, M, Dk, Dv, ka * a, vb * b, a, b, st));
      x.ht = nullptr;
      x.R = nullptr;
      x.RT = nullptr;
      x.no_dg = true;  // the gate gradient needs the whole dq and dk: once, after every slice
      LIGER_TRY(core_backward(x));
      // k_chunk_dq writes dq (no pre-fill); dk and dv add into what the caller gave
      LIGER_TRY(cols_in(c.dq, x.dq, rq, Dk, ka * a, a, vb > 0, st));
      LIGER_TRY(cols_in(c.dk, x.dk, rk, Dk, ka * a, a, true, st));
      LIGER_TRY(cols_in(c.dv, x.dv, rk, Dv, vb * b, b, true, st));
      if (c.dh0) LIGER_TRY(block_in(c.dh0, x.dh0, M, Dk, Dv, ka * a, vb * b, a, b, st));
    }
  }
  return c.no_dg ? LIGER_OK : core_dg(c);
}

}  // namespace cuda
}  // namespace liger
