// Plain chunked GLA entry points (liger_gla_forward / liger_gla_backward) on the CPU: the caller
// gives feature-mapped q, k and the log-gates g. Work items are (sequence, KV head); every query
// head of the group reuses the chunk's key-side tables and the one shared state.
#include <algorithm>
#include <vector>

#include "backend.h"
#include "cpu_common.h"
#include "gla_core.h"

namespace liger::cpu {

namespace {

struct Seqs {
  int64_t N;
  const liger_tensor* cu;
  int64_t T;
  SeqSpan get(int64_t n) const {
    SeqSpan s = seq_span(*cu, n);
    if (s.len < 0) s.len = T;
    return s;
  }
};

inline int64_t pad(int64_t n) { return (n + 15) / 16 * 16; }

}  // namespace

liger_status gla_forward(const liger_gla_params& p) {
  const int64_t Dk = p.Dk, Dv = p.Dv, G = p.Hq / p.Hkv;
  const int64_t N = p.cu_seqlens.data ? p.cu_seqlens.shape[0] - 1 : p.B;
  Seqs seqs{N, &p.cu_seqlens, p.T};
  const int threads = resolve_threads(p.num_threads);
  const int64_t per = GlaChunk::floats(Dk, Dv) + GlaHead::floats(Dk, Dv) + pad(Dk * Dv) + 64;
  View4 q(p.q), k(p.k), v(p.v), g(p.g), o(p.o);
  parallel_for(N * p.Hkv, threads, [&](int64_t item, int w) {
    const int64_t n = item / p.Hkv, hk = item % p.Hkv;
    SeqSpan s = seqs.get(n);
    float* mem = thread_scratch(per);
    GlaChunk ch;
    ch.bind(mem, Dk, Dv);
    GlaHead hd;
    hd.bind(mem + GlaChunk::floats(Dk, Dv), Dk, Dv);
    float* h = mem + GlaChunk::floats(Dk, Dv) + GlaHead::floats(Dk, Dv);
    const float* h0 = static_cast<const float*>(p.h0.data);
    if (h0) std::copy(h0 + (n * p.Hkv + hk) * Dk * Dv, h0 + (n * p.Hkv + hk + 1) * Dk * Dv, h);
    else std::fill(h, h + Dk * Dv, 0.f);
    for (int64_t c0 = 0; c0 < s.len; c0 += kChunk) {
      const int64_t c = std::min(kChunk, s.len - c0);
      ch.c = c;
      for (int64_t i = 0; i < c; ++i) {
        int64_t t = s.t0 + c0 + i;
        k.read(s.b, t, hk, Dk, ch.k + i * Dk);
        g.read(s.b, t, hk, Dk, ch.G + i * Dk);
        v.read(s.b, t, hk, Dv, ch.v + i * Dv);
      }
      ch.prepare(true, false, true);
      for (int64_t j = 0; j < G; ++j) {
        const int64_t hq = hk * G + j;
        for (int64_t i = 0; i < c; ++i) q.read(s.b, s.t0 + c0 + i, hq, Dk, hd.q + i * Dk);
        gla_chunk_out(ch, hd, h, p.scale);
        for (int64_t i = 0; i < c; ++i) o.write(s.b, s.t0 + c0 + i, hq, Dv, hd.o + i * Dv);
      }
      gla_chunk_state(ch, h);
    }
    if (p.ht.data) {
      float* ht = static_cast<float*>(p.ht.data) + (n * p.Hkv + hk) * Dk * Dv;
      std::copy(h, h + Dk * Dv, ht);
    }
  });
  return LIGER_OK;
}

liger_status gla_backward(const liger_gla_params& p) {
  const int64_t Dk = p.Dk, Dv = p.Dv, G = p.Hq / p.Hkv, S = Dk * Dv;
  const int64_t N = p.cu_seqlens.data ? p.cu_seqlens.shape[0] - 1 : p.B;
  Seqs seqs{N, &p.cu_seqlens, p.T};
  int64_t maxlen = 0;
  for (int64_t n = 0; n < N; ++n) maxlen = std::max(maxlen, seqs.get(n).len);
  const int64_t nch_max = (maxlen + kChunk - 1) / kChunk;
  const int threads = resolve_threads(p.num_threads);
  const int64_t fixed = GlaChunk::floats(Dk, Dv) + GlaHead::floats(Dk, Dv);
  // + states per chunk, final state, hT, dH, dHT, dHacc, dk, dv, r, rs
  const int64_t per = fixed + (nch_max + 1) * pad(S) + 4 * pad(S) + 3 * kChunk * pad(std::max(Dk, Dv)) +
                      pad(Dk) + 64;
  View4 q(p.q), k(p.k), v(p.v), g(p.g), dO(p.do_), dq(p.dq), dk(p.dk), dv(p.dv), dg(p.dg);
  parallel_for(N * p.Hkv, threads, [&](int64_t item, int w) {
    const int64_t n = item / p.Hkv, hk = item % p.Hkv;
    SeqSpan s = seqs.get(n);
    const int64_t nch = (s.len + kChunk - 1) / kChunk;
    float* mem = thread_scratch(per);
    GlaChunk ch;
    ch.bind(mem, Dk, Dv);
    GlaHead hd;
    hd.bind(mem + GlaChunk::floats(Dk, Dv), Dk, Dv);
    float* hs = mem + fixed;  // chunk-start states, then the final state at index nch
    float* hT = hs + (nch_max + 1) * pad(S);
    float* dH = hT + pad(S);
    float* dHT = dH + pad(S);
    float* dHacc = dHT + pad(S);
    const int64_t R = kChunk * pad(std::max(Dk, Dv));
    float* dkc = dHacc + pad(S);
    float* dvc = dkc + R;
    float* r = dvc + R;
    float* rs = r + R;
    const float* h0 = static_cast<const float*>(p.h0.data);
    if (h0) std::copy(h0 + item * S, h0 + (item + 1) * S, hs);
    else std::fill(hs, hs + S, 0.f);
    auto load_chunk = [&](int64_t ci, bool intra) {
      const int64_t c0 = ci * kChunk, c = std::min(kChunk, s.len - c0);
      ch.c = c;
      for (int64_t i = 0; i < c; ++i) {
        int64_t t = s.t0 + c0 + i;
        k.read(s.b, t, hk, Dk, ch.k + i * Dk);
        g.read(s.b, t, hk, Dk, ch.G + i * Dk);
        v.read(s.b, t, hk, Dv, ch.v + i * Dv);
      }
      ch.prepare(intra, intra);
    };
    for (int64_t ci = 0; ci < nch; ++ci) {  // recompute the chunk-start states
      load_chunk(ci, false);
      gla_chunk_state(ch, hs + ci * pad(S), hs + (ci + 1) * pad(S));
    }
    const float* dht = static_cast<const float*>(p.dht.data);
    std::fill(rs, rs + Dk, 0.f);
    if (dht) {
      const float* hfin = hs + nch * pad(S);
      std::copy(dht + item * S, dht + (item + 1) * S, dH);
      for (int64_t d = 0; d < Dk; ++d) rs[d] = dot(hfin + d * Dv, dH + d * Dv, Dv);
    } else {
      std::fill(dH, dH + S, 0.f);
    }
    for (int64_t ci = nch - 1; ci >= 0; --ci) {
      load_chunk(ci, true);
      const int64_t c0 = ci * kChunk, c = ch.c;
      transpose(Dk, Dv, hs + ci * pad(S), Dv, hT, Dk);
      transpose(Dk, Dv, dH, Dv, dHT, Dk);
      for (int64_t d = 0; d < Dk; ++d)
        for (int64_t e = 0; e < Dv; ++e) dHacc[d * Dv + e] = ch.gl[d] * dH[d * Dv + e];
      std::fill(dkc, dkc + c * Dk, 0.f);
      std::fill(dvc, dvc + c * Dv, 0.f);
      std::fill(r, r + c * Dk, 0.f);
      for (int64_t j = 0; j < G; ++j) {
        const int64_t hq = hk * G + j;
        for (int64_t i = 0; i < c; ++i) {
          q.read(s.b, s.t0 + c0 + i, hq, Dk, hd.q + i * Dk);
          dO.read(s.b, s.t0 + c0 + i, hq, Dv, hd.dO + i * Dv);
        }
        gla_chunk_head_bwd(ch, hd, hT, p.scale, dkc, dvc, dHacc);
        for (int64_t x = 0; x < c * Dk; ++x) r[x] += hd.q[x] * hd.dq[x];
        for (int64_t i = 0; i < c; ++i) dq.write(s.b, s.t0 + c0 + i, hq, Dk, hd.dq + i * Dk);
      }
      gla_chunk_kv_bwd(ch, dH, dHT, dkc, dvc);
      for (int64_t x = 0; x < c * Dk; ++x) r[x] -= ch.k[x] * dkc[x];
      for (int64_t i = c - 1; i >= 0; --i) {  // dg: reverse cumulative sum
        for (int64_t d = 0; d < Dk; ++d) {
          rs[d] += r[i * Dk + d];
          r[i * Dk + d] = rs[d];
        }
      }
      for (int64_t i = 0; i < c; ++i) {
        int64_t t = s.t0 + c0 + i;
        dk.write(s.b, t, hk, Dk, dkc + i * Dk);
        dv.write(s.b, t, hk, Dv, dvc + i * Dv);
        dg.write(s.b, t, hk, Dk, r + i * Dk);
      }
      std::swap(dH, dHacc);
    }
    if (p.dh0.data) std::copy(dH, dH + S, static_cast<float*>(p.dh0.data) + item * S);
  });
  return LIGER_OK;
}

}  // namespace liger::cpu
