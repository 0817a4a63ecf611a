// Chunked gated linear attention on one chunk of one KV head, fp32 contiguous buffers
// (DESIGN.md section 2). Shared by the plain GLA entry points and the fused Liger attention.
//
// Within a chunk of c <= 64 rows, G is the inclusive cumulative sum of the log-gates g (<= 0), so G
// is non-increasing along rows. Every factor exp(G_a - G_b) used has a >= b, hence exponent <= 0:
//  - inter-chunk: exp(G_i) (from the chunk start) and exp(G_last - G_j);
//  - intra-chunk, off-diagonal 16-row blocks: reference row r = first row of the query block,
//    q_i exp(G_i - G_r) and k_j exp(G_r - G_j) for j < r <= i (a GEMM);
//  - intra-chunk, diagonal blocks: exp(G_i - G_j) per pair j <= i, as the product of the decays
//    exp(g_t), t in (j, i] (at most 15 factors, each <= 1);
//  - masked pairs j > i are never exponentiated.
#pragma once
#include <cstdint>

namespace liger::cpu {

constexpr int64_t kChunk = 64;
constexpr int64_t kSub = 16;

// Per-chunk, per-KV-head quantities shared by all query heads of the group.
struct GlaChunk {
  int64_t Dk = 0, Dv = 0, c = 0;
  float* k;      // [C, Dk] feature-mapped keys
  float* v;      // [C, Dv]
  float* G;      // [C, Dk] in: log-gates g; after prepare(): inclusive cumsum
  float* eG;     // [C, Dk] exp(G_i)
  float* fL;     // [C, Dk] exp(G_last - G_j)
  float* Kd;     // [C, Dk] k_j exp(G_last - G_j)
  float* gl;     // [Dk] exp(G_last)
  float* QF;     // [C, Dk] exp(G_i - G_r(i))
  float* KgF;    // [3 * 2 * kSub... ] exp(G_r - G_j), blocks b = 1..3, rows j < 16b (96 rows)
  float* Kg;     // same layout, k_j exp(G_r - G_j)
  float* KgT;    // per block b: [Dk, 16b]
  float* EG;     // [4, 136, Dk] exp(G_i - G_j), i, j in one diagonal block, j <= i; times k_j
                 // when k_in_EG (a forward pass: the scores need only the product)
  bool k_in_EG = false;
  float* vT;     // [Dv, C]
  float* tmp;    // [C, max(Dk, Dv)]
  // prepare(): computes everything above from k, v, G(=g). need_intra: the block tables (not
  // needed for a state-only pass). fold_k: store k_j exp(G_i - G_j) in EG (forward only; the
  // backward needs exp(G_i - G_j) alone).
  void prepare(bool need_intra, bool need_vT, bool fold_k = false);
  static int64_t floats(int64_t Dk, int64_t Dv);
  void bind(float* mem, int64_t Dk, int64_t Dv);
  static int64_t kg_offset(int64_t b) { return (b * (b - 1) / 2) * kSub; }  // rows before block b
};

// Per-query-head scratch.
struct GlaHead {
  float* q;    // [C, Dk] feature-mapped queries
  float* Qe;   // [C, Dk] scale q exp(G)
  float* Qg;   // [C, Dk] q exp(G_i - G_r)
  float* A;    // [C, C] scaled intra-chunk scores (lower triangle, zero above)
  float* dA;   // [C, C]
  float* o;    // [C, Dv]
  float* dO;   // [C, Dv]
  float* dq;   // [C, Dk]
  float* tmp;  // [C, Dk]
  static int64_t floats(int64_t Dk, int64_t Dv);
  void bind(float* mem, int64_t Dk, int64_t Dv);
};

// o = scale * (q S_t) for the chunk's rows, from the chunk-start state h [Dk, Dv].
void gla_chunk_out(const GlaChunk& ch, GlaHead& hd, const float* h, float scale);
// h <- diag(exp(G_last)) h + Kd^T v
void gla_chunk_state(const GlaChunk& ch, float* h);
// h_out = diag(exp(G_last)) h_in + Kd^T v (h_out may equal h_in)
void gla_chunk_state(const GlaChunk& ch, const float* h_in, float* h_out);
// Backward of one query head on the chunk: writes hd.dq, accumulates dk [C,Dk], dv [C,Dv] and
// dH_acc [Dk,Dv] (+= (scale q exp(G))^T dO). hT = h^T [Dv, Dk].
void gla_chunk_head_bwd(const GlaChunk& ch, GlaHead& hd, const float* hT, float scale, float* dk,
                        float* dv, float* dHacc);
// KV-level backward terms from dH (gradient w.r.t. the chunk-end state): dk += (v dH^T) exp(G_last - G),
// dv += Kd dH. dHT = dH^T [Dv, Dk].
void gla_chunk_kv_bwd(const GlaChunk& ch, const float* dH, const float* dHT, float* dk, float* dv);

}  // namespace liger::cpu
