// Sliding-window softmax attention for one chunk of query rows, as GEMMs over the chunk's key
// block: query row i (sequence index t0 + i) sees keys u in [max(t0 + i - W + 1, lo), t0 + i]; the
// block holds keys lo .. t0 + c - 1 (nk rows). Scores outside a row's window are never exponentiated.
#pragma once
#include <cstdint>

namespace liger::cpu {

struct SwaBlock {
  int64_t c, nk, D, W, t0, lo;
  float scale;
  const float* K;   // [nk, D] RoPE'd keys
  const float* KT;  // [D, nk]
  const float* V;   // [nk, D]
  const float* VT;  // [D, nk] (backward only)
  int64_t first(int64_t i) const {  // first key (block index) of query row i
    int64_t u = t0 + i - W + 1;
    return (u > lo ? u : lo) - lo;
  }
  int64_t last(int64_t i) const { return t0 + i - lo; }
};

// Keys a chunk's block holds before the first window's start, so that each 16-row sub-block's key
// range (W + 15 keys) rounds up to a multiple of 16 and its products need no column tail.
inline int64_t swa_lead(int64_t W) { return (16 - (W + 15) % 16) % 16; }

// out = softmax(scale Qr K^T) V over each row's window. P: [c, nk] scratch (probabilities).
void swa_chunk_fwd(const SwaBlock& b, const float* Qr, float* P, float* out);
// Backward given dOs (already multiplied by the SWA mix weight): writes dQr [c, D] and accumulates
// dK [nk, D], dV [nk, D]. P, dP [c, nk] are scratch.
void swa_chunk_bwd(const SwaBlock& b, const float* Qr, const float* dOs, float* P, float* dP, float* dQr,
                   float* dK, float* dV);

}  // namespace liger::cpu
