// Fused Liger attention forward and backward on the CPU (DESIGN.md 1.1): feature maps and key gate
// from raw q/k, the chunked GRM with one state per KV head, sliding-window softmax attention over
// RoPE'd q/k, and the mix. Work items are (sequence, KV head): the group's query heads share the
// state, the RoPE'd keys and the key-side chunk tables.
#include <algorithm>
#include <vector>

#include "attn_common.h"
#include "backend.h"
#include "gla_core.h"
#include "swa_chunk.h"

namespace liger::cpu {

namespace {

inline int64_t pad(int64_t n) { return (n + 15) / 16 * 16; }

struct AttnSetup {
  int64_t N, D, G, W;
  bool grm_out, swa;
  KeyMap km;
  Rope rope;
  SeqSpan span(const liger_attn_params& p, int64_t n) const {
    SeqSpan s = seq_span(p.cu_seqlens, n);
    if (s.len < 0) s.len = p.T;
    return s;
  }
};

AttnSetup setup(const liger_attn_params& p) {
  AttnSetup a;
  a.N = p.cu_seqlens.data ? p.cu_seqlens.shape[0] - 1 : p.B;
  a.D = p.D;
  a.G = p.Hq / p.Hkv;
  a.W = p.window;
  a.grm_out = p.mix > 0.f;
  a.swa = p.mix < 1.f;
  a.km.variant = p.variant;
  a.km.gate = p.use_gate != 0;
  a.km.inv_norm = p.variant == LIGER_VARIANT_HGRN2 ? 1.f : 1.f / p.gate_norm;
  a.rope = {static_cast<const float*>(p.rope_cos.data), static_cast<const float*>(p.rope_sin.data),
            p.rope_cos.stride[0], p.rope_cos.ndim > 1 ? p.rope_cos.stride[1] : 1};
  return a;
}

}  // namespace

// The CPU forward keeps no chunk states for its backward (which recomputes them in its own pass): `saved` is ignored.
liger_status attn_saved_numel(const liger_attn_params&, int64_t& numel) {
  numel = 0;
  return LIGER_OK;
}

liger_status attn_forward(const liger_attn_params& p) {
  const AttnSetup a = setup(p);
  const int64_t D = a.D, S = D * D;
  const bool has_in = p.cache_in.state.data != nullptr;
  const bool out_state = p.cache_out.state.data != nullptr;
  const bool grm = a.grm_out || out_state;
  const bool win_cache_in = has_in && a.swa && a.W > 1;
  const bool win_cache_out = p.cache_out.win_k.data && a.swa && a.W > 1;
  const int64_t ring = a.W - 1;
  int64_t maxlen = 0;
  for (int64_t n = 0; n < a.N; ++n) maxlen = std::max(maxlen, a.span(p, n).len);
  const int64_t cache_rows = win_cache_in ? ring : 0;
  const int64_t krows = a.swa ? cache_rows + maxlen : 0;
  const int64_t nkmax = std::min<int64_t>(a.W - 1 + swa_lead(a.W) + kChunk, krows);  // keys of one chunk's windows
  const int threads = resolve_threads(p.num_threads);
  const int64_t fixed = GlaChunk::floats(D, D) + GlaHead::floats(D, D);
  const int64_t per = fixed + pad(S) + 2 * krows * D + 4 * kChunk * pad(D) + pad(nkmax) * (kChunk + D) + 64;
  std::vector<int64_t> p0s(size_t(a.N), 0);
  if (has_in)
    for (int64_t n = 0; n < a.N; ++n) p0s[size_t(n)] = static_cast<const int64_t*>(p.cache_in.pos.data)[n];
  View4 q(p.q), k(p.k), v(p.v), o(p.o);
  parallel_for(a.N * p.Hkv, threads, [&](int64_t item, int w) {
    const int64_t n = item / p.Hkv, hk = item % p.Hkv;
    const SeqSpan s = a.span(p, n);
    const int64_t p0 = p0s[size_t(n)];
    float* mem = thread_scratch(per);
    GlaChunk ch;
    ch.bind(mem, D, D);
    GlaHead hd;
    hd.bind(mem + GlaChunk::floats(D, D), D, D);
    float* h = mem + fixed;
    float* KR = h + pad(S);        // RoPE'd keys: cached window rows, then the sequence
    float* VR = KR + krows * D;
    float* kraw = VR + krows * D;  // [C, D]
    float* qraw = kraw + kChunk * pad(D);
    float* qr = qraw + kChunk * pad(D);
    float* osw = qr + kChunk * pad(D);
    float* P = osw + kChunk * pad(D);    // [C, nkmax]
    float* KT = P + kChunk * pad(nkmax);  // [D, nkmax]
    if (has_in) {
      const float* st = static_cast<const float*>(p.cache_in.state.data) + item * S;
      std::copy(st, st + S, h);
    } else {
      std::fill(h, h + S, 0.f);
    }
    const int64_t cl = win_cache_in ? std::min(p0, ring) : 0;  // cached window rows in use
    for (int64_t r = 0; r < cl; ++r) {
      const int64_t pos = p0 - cl + r, slot = pos % ring;
      const int64_t off = (item * ring + slot) * D;
      std::copy(static_cast<const float*>(p.cache_in.win_k.data) + off,
                static_cast<const float*>(p.cache_in.win_k.data) + off + D, KR + r * D);
      std::copy(static_cast<const float*>(p.cache_in.win_v.data) + off,
                static_cast<const float*>(p.cache_in.win_v.data) + off + D, VR + r * D);
    }
    for (int64_t c0 = 0; c0 < s.len; c0 += kChunk) {
      const int64_t c = std::min(kChunk, s.len - c0);
      ch.c = c;
      for (int64_t i = 0; i < c; ++i) {
        const int64_t t = s.t0 + c0 + i;
        k.read(s.b, t, hk, D, kraw + i * D);
        v.read(s.b, t, hk, D, ch.v + i * D);
        if (grm) key_features(a.km, kraw + i * D, ch.k + i * D, ch.G + i * D, D);
        if (a.swa) {
          const int64_t row = cl + c0 + i;
          a.rope.apply(kraw + i * D, KR + row * D, D, p0 + c0 + i);
          std::copy(ch.v + i * D, ch.v + (i + 1) * D, VR + row * D);
        }
      }
      if (grm) ch.prepare(a.grm_out, false, true);
      SwaBlock sb{};
      if (a.swa) {
        const int64_t lo = std::max(c0 - a.W + 1 - swa_lead(a.W), -cl);
        sb = SwaBlock{c, c0 + c - lo, D, a.W, c0, lo, p.swa_scale, KR + (cl + lo) * D, KT, VR + (cl + lo) * D, nullptr};
        transpose(sb.nk, D, sb.K, D, KT, sb.nk);
      }
      for (int64_t j = 0; j < a.G; ++j) {
        const int64_t hq = hk * a.G + j;
        for (int64_t i = 0; i < c; ++i) q.read(s.b, s.t0 + c0 + i, hq, D, qraw + i * D);
        if (j + 1 < a.G) {
          q.prefetch(s.b, s.t0 + c0, c, hq + 1, D);
        } else if (c0 + kChunk < s.len) {
          const int64_t cn = std::min(kChunk, s.len - c0 - kChunk);
          k.prefetch(s.b, s.t0 + c0 + kChunk, cn, hk, D);
          v.prefetch(s.b, s.t0 + c0 + kChunk, cn, hk, D);
          q.prefetch(s.b, s.t0 + c0 + kChunk, cn, hk * a.G, D);
        }
        if (a.grm_out) {
          for (int64_t i = 0; i < c; ++i) softmax_row(qraw + i * D, hd.q + i * D, D);
          gla_chunk_out(ch, hd, h, 1.f);
        }
        if (a.swa) {
          for (int64_t i = 0; i < c; ++i) a.rope.apply(qraw + i * D, qr + i * D, D, p0 + c0 + i);
          swa_chunk_fwd(sb, qr, P, osw);
        }
        for (int64_t i = 0; i < c; ++i) {
          float* out = osw + i * D;
          if (!a.swa) std::copy(hd.o + i * D, hd.o + (i + 1) * D, out);
          else if (a.grm_out)
            for (int64_t d = 0; d < D; ++d) out[d] = p.mix * hd.o[i * D + d] + (1.f - p.mix) * out[d];
          o.write(s.b, s.t0 + c0 + i, hq, D, out);
        }
      }
      if (grm) gla_chunk_state(ch, h);
    }
    if (out_state) std::copy(h, h + S, static_cast<float*>(p.cache_out.state.data) + item * S);
    if (win_cache_out) {
      // the last min(W-1, available) positions, each to its ring slot
      const int64_t total = cl + s.len;
      const int64_t keep = std::min(ring, total);
      // in place, rows that came from the cache are already in their slots
      const bool same = p.cache_out.win_k.data == p.cache_in.win_k.data;
      for (int64_t r = std::max(total - keep, same ? cl : int64_t(0)); r < total; ++r) {
        const int64_t pos = p0 - cl + r, slot = pos % ring;
        const int64_t off = (item * ring + slot) * D;
        std::copy(KR + r * D, KR + (r + 1) * D, static_cast<float*>(p.cache_out.win_k.data) + off);
        std::copy(VR + r * D, VR + (r + 1) * D, static_cast<float*>(p.cache_out.win_v.data) + off);
      }
    }
  });
  if (p.cache_out.pos.data) {
    int64_t* po = static_cast<int64_t*>(p.cache_out.pos.data);
    for (int64_t n = 0; n < a.N; ++n) po[n] = p0s[size_t(n)] + a.span(p, n).len;
  }
  return LIGER_OK;
}

liger_status attn_backward(const liger_attn_params& p) {
  const AttnSetup a = setup(p);
  const int64_t D = a.D, S = D * D;
  const bool grm = a.grm_out;
  int64_t maxlen = 0;
  for (int64_t n = 0; n < a.N; ++n) maxlen = std::max(maxlen, a.span(p, n).len);
  const int64_t nch_max = (maxlen + kChunk - 1) / kChunk;
  const int64_t nkmax = std::min<int64_t>(a.W - 1 + swa_lead(a.W) + kChunk, maxlen);
  const int threads = resolve_threads(p.num_threads);
  const int64_t fixed = GlaChunk::floats(D, D) + GlaHead::floats(D, D);
  const int64_t R = kChunk * pad(D);
  const int64_t L = maxlen * D;
  const int64_t NK = pad(nkmax) * std::max<int64_t>(kChunk, pad(D));
  const int64_t per = fixed + (nch_max + 1) * pad(S) + 4 * pad(S) + 9 * R + 5 * L + 4 * NK + pad(D) + 64;
  View4 q(p.q), k(p.k), v(p.v), dO(p.do_), dq(p.dq), dk(p.dk), dv(p.dv);
  const float mg = p.mix, ms = 1.f - p.mix;
  parallel_for(a.N * p.Hkv, threads, [&](int64_t item, int w) {
    const int64_t n = item / p.Hkv, hk = item % p.Hkv;
    const SeqSpan s = a.span(p, n);
    const int64_t nch = (s.len + kChunk - 1) / kChunk;
    float* mem = thread_scratch(per);
    GlaChunk ch;
    ch.bind(mem, D, D);
    GlaHead hd;
    hd.bind(mem + GlaChunk::floats(D, D), D, D);
    float* hs = mem + fixed;
    float* hT = hs + (nch_max + 1) * pad(S);
    float* dH = hT + pad(S);
    float* dHT = dH + pad(S);
    float* dHacc = dHT + pad(S);
    float* kraw = dHacc + pad(S);
    float* qraw = kraw + R;
    float* qr = qraw + R;
    float* dqc = qr + R;  // raw-q gradient of the chunk
    float* dOc = dqc + R;
    float* dkc = dOc + R;
    float* dvc = dkc + R;
    float* r = dvc + R;
    float* osw = r + R;
    float* KR = osw + R;   // [L, D] RoPE'd keys
    float* VR = KR + L;    // [L, D] values
    float* dKR = VR + L;   // gradient w.r.t. RoPE'd keys
    float* dV = dKR + L;   // gradient w.r.t. values
    float* dKg = dV + L;   // GRM part of the raw-key gradient
    float* P = dKg + L;  // [C, nkmax] each
    float* dP = P + NK;
    float* KT = dP + NK;  // [D, nkmax]
    float* VT = KT + NK;
    float* rs = VT + NK;
    std::fill(hs, hs + S, 0.f);
    std::fill(dKR, dKR + s.len * D, 0.f);
    std::fill(dV, dV + s.len * D, 0.f);
    std::fill(dKg, dKg + s.len * D, 0.f);
    auto load_chunk = [&](int64_t ci, bool intra) {
      const int64_t c0 = ci * kChunk, c = std::min(kChunk, s.len - c0);
      ch.c = c;
      for (int64_t i = 0; i < c; ++i) {
        const int64_t t = s.t0 + c0 + i;
        k.read(s.b, t, hk, D, kraw + i * D);
        v.read(s.b, t, hk, D, ch.v + i * D);
        key_features(a.km, kraw + i * D, ch.k + i * D, ch.G + i * D, D);
      }
      ch.prepare(intra, intra);
    };
    // forward pass: chunk-start states, RoPE'd keys and values
    for (int64_t ci = 0; ci < nch; ++ci) {
      const int64_t c0 = ci * kChunk, c = std::min(kChunk, s.len - c0);
      if (grm) {
        load_chunk(ci, false);
        gla_chunk_state(ch, hs + ci * pad(S), hs + (ci + 1) * pad(S));
      }
      if (a.swa)
        for (int64_t i = 0; i < c; ++i) {
          if (grm) {  // load_chunk has read the rows
            std::copy(ch.v + i * D, ch.v + (i + 1) * D, VR + (c0 + i) * D);
          } else {
            const int64_t t = s.t0 + c0 + i;
            k.read(s.b, t, hk, D, kraw + i * D);
            v.read(s.b, t, hk, D, VR + (c0 + i) * D);
          }
          a.rope.apply(kraw + i * D, KR + (c0 + i) * D, D, c0 + i);
        }
    }
    std::fill(dH, dH + S, 0.f);
    std::fill(rs, rs + D, 0.f);
    for (int64_t ci = nch - 1; ci >= 0; --ci) {
      const int64_t c0 = ci * kChunk, c = std::min(kChunk, s.len - c0);
      if (grm) {
        load_chunk(ci, true);
        transpose(D, D, hs + ci * pad(S), D, hT, D);
        transpose(D, D, dH, D, dHT, D);
        for (int64_t d = 0; d < D; ++d)
          for (int64_t e = 0; e < D; ++e) dHacc[d * D + e] = ch.gl[d] * dH[d * D + e];
        std::fill(dkc, dkc + c * D, 0.f);
        std::fill(dvc, dvc + c * D, 0.f);
        std::fill(r, r + c * D, 0.f);
      }
      SwaBlock sb{};
      if (a.swa) {
        const int64_t lo = std::max<int64_t>(c0 - a.W + 1 - swa_lead(a.W), 0);
        sb = SwaBlock{c, c0 + c - lo, D, a.W, c0, lo, p.swa_scale, KR + lo * D, KT, VR + lo * D, VT};
        transpose(sb.nk, D, sb.K, D, KT, sb.nk);
        transpose(sb.nk, D, sb.V, D, VT, sb.nk);
      }
      for (int64_t j = 0; j < a.G; ++j) {
        const int64_t hq = hk * a.G + j;
        for (int64_t i = 0; i < c; ++i) {
          q.read(s.b, s.t0 + c0 + i, hq, D, qraw + i * D);
          dO.read(s.b, s.t0 + c0 + i, hq, D, dOc + i * D);
        }
        if (j + 1 < a.G) {
          q.prefetch(s.b, s.t0 + c0, c, hq + 1, D);
          dO.prefetch(s.b, s.t0 + c0, c, hq + 1, D);
        }
        std::fill(dqc, dqc + c * D, 0.f);
        if (grm) {
          for (int64_t i = 0; i < c; ++i) softmax_row(qraw + i * D, hd.q + i * D, D);
          for (int64_t x = 0; x < c * D; ++x) hd.dO[x] = mg * dOc[x];
          gla_chunk_head_bwd(ch, hd, hT, 1.f, dkc, dvc, dHacc);
          for (int64_t x = 0; x < c * D; ++x) r[x] += hd.q[x] * hd.dq[x];
          for (int64_t i = 0; i < c; ++i) softmax_row_bwd(hd.q + i * D, hd.dq + i * D, dqc + i * D, D);
        }
        if (a.swa) {
          for (int64_t i = 0; i < c; ++i) a.rope.apply(qraw + i * D, qr + i * D, D, c0 + i);
          for (int64_t x = 0; x < c * D; ++x) dOc[x] *= ms;
          swa_chunk_bwd(sb, qr, dOc, P, dP, osw, dKR + sb.lo * D, dV + sb.lo * D);
          for (int64_t i = 0; i < c; ++i) a.rope.apply_t_add(osw + i * D, dqc + i * D, D, c0 + i);
        }
        for (int64_t i = 0; i < c; ++i) dq.write(s.b, s.t0 + c0 + i, hq, D, dqc + i * D);
      }
      if (grm) {
        gla_chunk_kv_bwd(ch, dH, dHT, dkc, dvc);
        for (int64_t x = 0; x < c * D; ++x) r[x] -= ch.k[x] * dkc[x];
        for (int64_t i = c - 1; i >= 0; --i)
          for (int64_t d = 0; d < D; ++d) {
            rs[d] += r[i * D + d];
            r[i * D + d] = rs[d];
          }
        for (int64_t i = 0; i < c; ++i) {
          key_features_bwd(a.km, kraw + i * D, ch.k + i * D, dkc + i * D, r + i * D,
                           dKg + (c0 + i) * D, D);
          float* dvr = dV + (c0 + i) * D;
          for (int64_t d = 0; d < D; ++d) dvr[d] += dvc[i * D + d];
        }
        std::swap(dH, dHacc);
      }
    }
    for (int64_t t = 0; t < s.len; ++t) {
      if (a.swa) a.rope.apply_t_add(dKR + t * D, dKg + t * D, D, t);
      dk.write(s.b, s.t0 + t, hk, D, dKg + t * D);
      dv.write(s.b, s.t0 + t, hk, D, dV + t * D);
    }
  });
  return LIGER_OK;
}

}  // namespace liger::cpu
