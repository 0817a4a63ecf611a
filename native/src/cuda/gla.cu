// Plain chunked GLA entry points (liger_gla_forward / liger_gla_backward) on CUDA: gather the
// strided inputs into fp32 workspaces, run the chunked recurrence, scatter the results.
#include "gla_core.cuh"
#include "util.cuh"

namespace liger {
namespace cuda {
namespace {

// dg[t] = R[t] + RT[chunk of t], per chunk.
__global__ void k_scatter_dg(View dst, const float* R, const float* RT, const Chunk* chunks, int64_t T,
                             int64_t H, int64_t D) {
  const Chunk ch = chunks[blockIdx.x];
  for (int64_t i = threadIdx.x; i < (int64_t)ch.len * H * D; i += blockDim.x) {
    const int64_t d = i % D, r = i / D, h = r % H, t = r / H, tok = ch.start + t;
    const float v = R[(tok * H + h) * D + d] + RT[((int64_t)blockIdx.x * H + h) * D + d];
    store_from_float(dst, voff(dst, tok, T, h, d), v);
  }
}

liger_status check_gla(const liger_gla_params& p, bool backward) {
  if (p.Dk > kMaxD || p.Dv > kMaxD || p.Dk % 4 || p.Dv % 4)
    return fail(LIGER_ERR_UNSUPPORTED, "CUDA GLA kernels need Dk, Dv multiples of 4 and at most %d (got Dk=%lld, Dv=%lld)",
                kMaxD, (long long)p.Dk, (long long)p.Dv);
  if (p.Hkv <= 0 || p.Hq % p.Hkv) return fail(LIGER_ERR_INVALID_ARGUMENT, "Hq (%lld) must be a multiple of Hkv (%lld)",
                                               (long long)p.Hq, (long long)p.Hkv);
  LIGER_TRY(check_device_ptr(p.q.data, "q"));
  LIGER_TRY(check_device_ptr(p.k.data, "k"));
  LIGER_TRY(check_device_ptr(p.v.data, "v"));
  LIGER_TRY(check_device_ptr(p.g.data, "g"));
  LIGER_TRY(check_device_ptr(p.h0.data, "h0"));
  if (!backward) {
    LIGER_TRY(check_device_ptr(p.o.data, "o"));
    LIGER_TRY(check_device_ptr(p.ht.data, "ht"));
  } else {
    LIGER_TRY(check_device_ptr(p.do_.data, "do"));
    LIGER_TRY(check_device_ptr(p.dht.data, "dht"));
    LIGER_TRY(check_device_ptr(p.dq.data, "dq"));
    LIGER_TRY(check_device_ptr(p.dk.data, "dk"));
    LIGER_TRY(check_device_ptr(p.dv.data, "dv"));
    LIGER_TRY(check_device_ptr(p.dg.data, "dg"));
    LIGER_TRY(check_device_ptr(p.dh0.data, "dh0"));
  }
  return LIGER_OK;
}

struct GlaBuffers {
  size_t q, k, v, g, o, h, gl, chunks, seqs, dO, dh, dq, dk, dv, R, RT, ht;
};

liger_status gla_run(const liger_gla_params& p, bool backward) {
  LIGER_TRY(check_gla(p, backward));
  cudaStream_t st = static_cast<cudaStream_t>(p.stream);
  Plan plan;
  LIGER_TRY(make_plan(p.cu_seqlens, p.B, p.T, st, plan));
  const int64_t NT = plan.total, Np = NT + kChunk, nch = (int64_t)plan.chunks.size(), N = (int64_t)plan.seqs.size();
  const int64_t Hq = p.Hq, Hkv = p.Hkv, Dk = p.Dk, Dv = p.Dv;
  Workspace ws(st);
  GlaBuffers b{};
  b.q = ws.reserve_bytes(sizeof(float) * Np * Hq * Dk);
  b.k = ws.reserve_bytes(sizeof(float) * Np * Hkv * Dk);
  b.v = ws.reserve_bytes(sizeof(float) * Np * Hkv * Dv);
  b.g = ws.reserve_bytes(sizeof(float) * Np * Hkv * Dk);
  b.h = ws.reserve_bytes(sizeof(float) * (nch + 1) * Hkv * Dk * Dv);
  b.gl = ws.reserve_bytes(sizeof(float) * (nch + 1) * Hkv * Dk);
  b.chunks = ws.reserve_bytes(sizeof(Chunk) * (nch + 1));
  b.seqs = ws.reserve_bytes(sizeof(SeqInfo) * (N + 1));
  if (!backward) {
    b.o = ws.reserve_bytes(sizeof(float) * Np * Hq * Dv);
  } else {
    b.dO = ws.reserve_bytes(sizeof(float) * Np * Hq * Dv);
    b.dh = ws.reserve_bytes(sizeof(float) * (nch + 1) * Hkv * Dk * Dv);
    b.dq = ws.reserve_bytes(sizeof(float) * Np * Hq * Dk);
    b.dk = ws.reserve_bytes(sizeof(float) * Np * Hkv * Dk);
    b.dv = ws.reserve_bytes(sizeof(float) * Np * Hkv * Dv);
    b.R = ws.reserve_bytes(sizeof(float) * Np * Hkv * Dk);
    b.RT = ws.reserve_bytes(sizeof(float) * (nch + 1) * Hkv * Dk);
    if (p.dht.data) b.ht = ws.reserve_bytes(sizeof(float) * N * Hkv * Dk * Dv);
  }
  LIGER_TRY(ws.allocate());
  if (nch) LIGER_CK(cudaMemcpyAsync(ws.at<Chunk>(b.chunks), plan.chunks.data(), sizeof(Chunk) * nch, cudaMemcpyHostToDevice, st));
  if (N) LIGER_CK(cudaMemcpyAsync(ws.at<SeqInfo>(b.seqs), plan.seqs.data(), sizeof(SeqInfo) * N, cudaMemcpyHostToDevice, st));

  const float scale = p.scale;
  LIGER_TRY(gather(ws.at<float>(b.q), view_of(p.q), p.T, NT, Hq, Dk, scale, st));
  LIGER_TRY(gather(ws.at<float>(b.k), view_of(p.k), p.T, NT, Hkv, Dk, 1.f, st));
  LIGER_TRY(gather(ws.at<float>(b.v), view_of(p.v), p.T, NT, Hkv, Dv, 1.f, st));
  LIGER_TRY(gather(ws.at<float>(b.g), view_of(p.g), p.T, NT, Hkv, Dk, 1.f, st));

  Core c{};
  c.Hq = Hq; c.Hkv = Hkv; c.Dk = Dk; c.Dv = Dv;
  c.nchunks = (int)nch; c.nseq = (int)N;
  c.chunks = ws.at<Chunk>(b.chunks);
  c.seqs = ws.at<SeqInfo>(b.seqs);
  c.q = ws.at<float>(b.q); c.k = ws.at<float>(b.k); c.v = ws.at<float>(b.v); c.g = ws.at<float>(b.g);
  c.h = ws.at<float>(b.h); c.gl = ws.at<float>(b.gl);
  c.h0 = static_cast<const float*>(p.h0.data);
  c.tc = p.q.dtype != LIGER_F32;
  c.ntok = NT;
  c.stream = st;
  if (!backward) {
    c.o = ws.at<float>(b.o);
    c.ht = static_cast<float*>(p.ht.data);
    LIGER_TRY(core_forward(c, true));
    LIGER_TRY(scatter(view_of(p.o), c.o, p.T, NT, Hq, Dv, 1.f, st));
    return LIGER_OK;
  }
  c.ht = p.dht.data ? ws.at<float>(b.ht) : nullptr;
  LIGER_TRY(core_forward(c, false));
  LIGER_TRY(gather(ws.at<float>(b.dO), view_of(p.do_), p.T, NT, Hq, Dv, 1.f, st));
  c.dO = ws.at<float>(b.dO);
  c.dh = ws.at<float>(b.dh);
  c.dq = ws.at<float>(b.dq);
  c.dk = ws.at<float>(b.dk);
  c.dv = ws.at<float>(b.dv);
  c.R = ws.at<float>(b.R);
  c.RT = ws.at<float>(b.RT);
  c.dht = static_cast<const float*>(p.dht.data);
  c.dh0 = static_cast<float*>(p.dh0.data);
  LIGER_CK(cudaMemsetAsync(c.dk, 0, sizeof(float) * NT * Hkv * Dk, st));
  LIGER_CK(cudaMemsetAsync(c.dv, 0, sizeof(float) * NT * Hkv * Dv, st));
  LIGER_TRY(core_backward(c));
  LIGER_TRY(scatter(view_of(p.dq), c.dq, p.T, NT, Hq, Dk, scale, st));
  LIGER_TRY(scatter(view_of(p.dk), c.dk, p.T, NT, Hkv, Dk, 1.f, st));
  LIGER_TRY(scatter(view_of(p.dv), c.dv, p.T, NT, Hkv, Dv, 1.f, st));
  if (nch) {
    k_scatter_dg<<<(unsigned)nch, 256, 0, st>>>(view_of(p.dg), c.R, c.RT, c.chunks, p.T, Hkv, Dk);
    LIGER_CK_LAUNCH("scatter_dg");
  }
  return LIGER_OK;
}

}  // namespace

liger_status gla_forward(const liger_gla_params& p) { return gla_run(p, false); }
liger_status gla_backward(const liger_gla_params& p) { return gla_run(p, true); }

}  // namespace cuda
}  // namespace liger
