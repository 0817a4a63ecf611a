/*
 * Liger kernels: C ABI.
 *
 * One parameter struct per kernel family (plain chunked GLA, gated delta rule, fused Liger attention), argument
 * checking and dispatch in one place (native/src/dispatch.cpp), per-device implementations behind it.
 * No libtorch dependency: tensors are raw pointers with explicit shapes and element strides.
 *
 * Conventions
 *  - Sequence tensors are [B, T, H, D] with arbitrary element strides (the innermost need not be 1,
 *    but a unit innermost stride is the fast path).
 *  - Grouped-query attention: Hq is a multiple of Hkv; query head i reads KV head i / (Hq / Hkv).
 *    Recurrent states are kept once per KV head: [N, Hkv, Dk, Dv], fp32, contiguous.
 *  - Variable-length batches: cu_seqlens (int64, N + 1 entries, cu_seqlens[0] = 0, non-decreasing,
 *    cu_seqlens[N] = T) packs N sequences along T of a B = 1 batch. States, windows and RoPE positions
 *    restart at every boundary. Without cu_seqlens, N = B.
 *  - Inputs q, k, v (and their gradients, and outputs o) share one dtype: F32 or BF16 on CPU
 *    (F16 too on CUDA). States, caches, RoPE tables and accumulation are fp32.
 *  - Every entry point validates all arguments before touching memory and returns a status; on
 *    failure liger_last_error() returns a readable message (thread-local, valid until the next call
 *    on the same thread). Nothing aborts.
 *
 * Rules the checks enforce (and the caller guarantees where memory cannot be checked)
 *  - Strides are in elements and non-negative; a view touches offsets 0 .. sum((shape[i]-1)*stride[i])
 *    and the caller's buffer must cover them. Sequence tensors ([B,T,H,D]) may have any such strides;
 *    states, caches and pos must be contiguous. ndim must equal the documented rank exactly.
 *  - An output never overlaps any input or another output, and no output writes one element twice
 *    (its strides make it injective). The only exception is a cache component given as the very
 *    same view in cache_in and cache_out (in-place update).
 *  - cu_seqlens may contain empty sequences (equal consecutive offsets).
 *  - On LIGER_CPU the contents of cu_seqlens and cache_in.pos are checked too (offsets as above,
 *    positions >= 0, RoPE table long enough for every position used); for LIGER_CUDA they are device
 *    memory and the CUDA backend checks them (liger_attn_decode on CUDA checks positions on the device
 *    without synchronising: a bad one makes that sequence's outputs NaN, leaves its cache unchanged,
 *    and is reported as LIGER_ERR_INVALID_ARGUMENT by a later liger_attn_decode call).
 *  - bf16 outputs and gradients are rounded to nearest even from the fp32 results.
 *  - CPU work runs on the calling thread plus a pool of std::threads (not OpenMP). Concurrent calls
 *    from several threads are safe; while one call uses the pool another runs on its own thread.
 *    Each thread keeps its scratch buffer between calls (released when a call needs over 256 MiB).
 */
#ifndef LIGER_LIGER_H
#define LIGER_LIGER_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The minor version changes with the layout of a parameter struct (0.2: liger_attn_params.f16_mode appended; 0.3:
 * liger_attn_params.saved appended, liger_attn_saved_numel added);
 * liger_version() returns "MAJOR.MINOR" of the library a caller loaded. */
#define LIGER_VERSION_MAJOR 0
#define LIGER_VERSION_MINOR 3

typedef enum liger_status {
  LIGER_OK = 0,
  LIGER_ERR_INVALID_ARGUMENT = 1, /* null pointer, shape/stride/dtype mismatch, bad value */
  LIGER_ERR_UNSUPPORTED = 2,      /* valid request this build or device does not implement */
  LIGER_ERR_RUNTIME = 3           /* allocation failure, CUDA error, ... */
} liger_status;

typedef enum liger_dtype { LIGER_F32 = 0, LIGER_BF16 = 1, LIGER_F16 = 2, LIGER_I64 = 3 } liger_dtype;

typedef enum liger_device { LIGER_CPU = 0, LIGER_CUDA = 1 } liger_device;

/* Recurrence flavour of the fused Liger attention (DESIGN.md 1.1). */
typedef enum liger_variant {
  LIGER_VARIANT_GLA = 0,  /* phi(k) = softmax(k), g = logsigmoid(k) / gate_norm */
  LIGER_VARIANT_HGRN2 = 1 /* k' = 1 - sigmoid(k), g = logsigmoid(k) (no normalizer) */
} liger_variant;

/*
 * How the CUDA forward and backward of the fused Liger attention take fp16 q, k, v (liger_attn_params.f16_mode;
 * ignored for other dtypes, by the decode step, which computes in fp32 from any input dtype, and on the CPU, whose
 * kernels do the same).
 */
typedef enum liger_f16_mode {
  LIGER_F16_DEFAULT = 0,  /* the process default: LIGER_F16_FAST when LIGER_CUDA_F16_FAST=1 is in the environment
                             (read once per process), else LIGER_F16_ACCURATE */
  LIGER_F16_ACCURATE = 1, /* fp32 tiles and tf32 products: fp16's accuracy (about 3e-4 from float64), about 16x
                             slower than bf16 at long lengths */
  LIGER_F16_FAST = 2      /* the bf16 kernels: fp16 rows rounded to bf16 in the tiles, so bf16's accuracy (about
                             3e-3) at bf16's speed */
} liger_f16_mode;

/* A strided tensor view. Unused trailing dims have shape 1. A tensor with data == NULL is absent. */
typedef struct liger_tensor {
  void* data;
  int32_t dtype;     /* liger_dtype */
  int32_t ndim;      /* 1..4 */
  int64_t shape[4];
  int64_t stride[4]; /* in elements */
} liger_tensor;

/*
 * Plain chunked gated linear attention (the GRM alone), caller-supplied feature-mapped q, k and
 * per-key-dimension log-gate g (<= 0). Usable for HGRN2 and the ablations.
 *
 *   S_t = diag(exp(g_t)) S_{t-1} + k_t^T v_t      o_t = scale * q_t S_t
 *
 * Forward (liger_gla_forward):  q [B,T,Hq,Dk], k [B,T,Hkv,Dk], v [B,T,Hkv,Dv], g [B,T,Hkv,Dk] (F32 or
 *   the input dtype) -> o [B,T,Hq,Dv]. Optional h0 (initial state) and ht (final state), [N,Hkv,Dk,Dv].
 * Backward (liger_gla_backward): given do (and optional dht), writes dq, dk, dv, dg (same shapes and
 *   dtypes as q, k, v, g) and optional dh0. States are recomputed, never stored between calls.
 */
typedef struct liger_gla_params {
  int32_t device;       /* liger_device */
  void* stream;         /* cudaStream_t for CUDA, ignored on CPU */
  int32_t num_threads;  /* CPU worker threads; 0 = library default */

  int64_t B, T, Hq, Hkv, Dk, Dv;
  float scale;

  liger_tensor q, k, v, g, o;
  liger_tensor cu_seqlens; /* optional, I64 [N+1] */
  liger_tensor h0, ht;     /* optional, F32 [N,Hkv,Dk,Dv] */

  /* backward only */
  liger_tensor do_, dht;          /* do_ required, dht optional */
  liger_tensor dq, dk, dv, dg, dh0; /* dh0 optional */
} liger_gla_params;

/*
 * Chunked gated delta rule (GDN; DESIGN.md 1.1 Liger-GDN and section 2), caller-supplied q and k (the
 * Liger-GDN layer L2-normalizes them first), a scalar log-gate g (<= 0, finite) and a write strength
 * beta per token and KV head:
 *
 *   S_t = exp(g_t) (I - beta_t k_t k_t^T) S_{t-1} + beta_t k_t v_t^T     S: [Dk, Dv], one per KV head
 *   o_t = scale * S_t^T q_t                                               (query head i reads KV head
 *                                                                           i / (Hq / Hkv))
 * Chunked in the UT/WY form: per chunk T = (I + strict_tril(diag(beta) K K^T * Gamma))^-1 with
 * Gamma_ij = exp(G_i - G_j), every exponent <= 0.
 *
 * Forward (liger_gdn_forward): q [B,T,Hq,Dk], k [B,T,Hkv,Dk], v [B,T,Hkv,Dv], g and beta [B,T,Hkv]
 *   (F32 or the input dtype) -> o [B,T,Hq,Dv]. Optional h0 / ht [N,Hkv,Dk,Dv] F32, may be the same
 *   tensor (in-place update of a cache). cu_seqlens as for GLA.
 * Backward (liger_gdn_backward): given do_ (and optional dht) writes dq, dk, dv, dg, dbeta (same shapes
 *   and dtypes as q, k, v, g, beta) and optional dh0. States are recomputed.
 * Decode (liger_gdn_decode): one token per sequence (T == 1, B == N, no cu_seqlens): reads h0, writes
 *   o and ht (both required; ht may be the very same tensor as h0). N decode steps equal one forward.
 */
typedef struct liger_gdn_params {
  int32_t device;
  void* stream;
  int32_t num_threads;

  int64_t B, T, Hq, Hkv, Dk, Dv;
  float scale;

  liger_tensor q, k, v, g, beta, o;
  liger_tensor cu_seqlens; /* optional, I64 [N+1] */
  liger_tensor h0, ht;     /* F32 [N,Hkv,Dk,Dv]; optional except in decode */

  /* backward only */
  liger_tensor do_, dht;                   /* do_ required, dht optional */
  liger_tensor dq, dk, dv, dg, dbeta, dh0; /* dh0 optional */
} liger_gdn_params;

/*
 * The recurrent cache of one layer for N sequences (DESIGN.md 1.3): constant size whatever the length.
 *   state  F32 [N, Hkv, D, D]      GRM states
 *   win_k  F32 [N, Hkv, W-1, D]    RoPE'd keys of the last W-1 tokens, ring slot = position % (W-1)
 *   win_v  F32 [N, Hkv, W-1, D]    their values
 *   pos    I64 [N]                 tokens consumed so far = RoPE position of the next token
 * win_k / win_v are absent when W == 1. All contiguous.
 */
typedef struct liger_cache {
  liger_tensor state, win_k, win_v, pos;
} liger_cache;

/*
 * Fused Liger attention (DESIGN.md 1.1): from raw (pre-feature-map, pre-RoPE) q, k, v computes
 * feature maps and key gate in-kernel, the per-KV-head GRM, sliding-window softmax attention over
 * RoPE'd q/k (RoPE applied in-kernel from the tables), and the mix
 *
 *   o = mix * o_grm + (1 - mix) * o_swa
 *
 * mix = 1 is GRM only, mix = 0 is SWA only; use_gate = 0 sets g = 0.
 * RoPE (Hugging Face rotate-half convention): for j < D/2 and position p,
 *   x'_j = x_j cos[p,j] - x_{j+D/2} sin[p,j],  x'_{j+D/2} = x_{j+D/2} cos[p,j] + x_j sin[p,j].
 * The caller computes cos/sin (F32 [P, D/2], any RoPE scaling) for positions 0..P-1.
 *
 * Forward (liger_attn_forward): q [B,T,Hq,D], k, v [B,T,Hkv,D] -> o [B,T,Hq,D].
 *   cache_in optional: continue from a cache (positions start at cache_in.pos); cache_out optional:
 *   write the cache after the last token. cache_in and cache_out may be the same tensors.
 * Backward (liger_attn_backward): given do_ writes dq, dk, dv (raw inputs' gradients). The backward
 *   starts from an empty cache (training); cache_in must be absent.
 * Decode (liger_attn_decode): one token per sequence, T == 1, B == N, no cu_seqlens; reads and
 *   updates cache_in in place (cache_out must be absent or identical to cache_in).
 *   N decode steps give the same outputs as one forward over the same N tokens.
 *
 * Cache details: a cache is given by state and pos (both required when any component is given);
 *   win_k/win_v are required when window > 1 and mix < 1, must be absent when window == 1, and are
 *   left untouched when mix == 1 (no SWA, no RoPE tables). Ring slot of position p is p % (W-1); only
 *   the last min(W-1, pos) positions are meaningful. cache_out.pos[n] = cache_in.pos[n] (or 0) + the
 *   sequence's length. The GRM state is kept even when mix == 0, so a cache can be continued.
 *   swa_scale is used as given (callers pass 1/sqrt(D) for the default).
 *
 * Saved chunk states (training): the backward recomputes the forward's chunk states unless given them. A caller that
 *   keeps them between the two calls asks liger_attn_saved_numel() for the size with the forward's parameters, passes
 *   an F32 [numel] contiguous buffer as `saved` to the forward (which writes the states into it) and the same buffer,
 *   unchanged, to the backward of the same inputs and parameters (which reads them instead of recomputing them; a
 *   backward whose inputs, sizes or f16_mode differ from the forward's would read states that are not its own). The
 *   gradients are the same either way. numel is 0 where the device's path keeps nothing (the CPU, and the CUDA paths
 *   other than the bf16 / fp16-fast kernels of D = 64 or 128 with mix < 1); `saved` is then ignored and may be
 *   absent. A forward with cache_in keeps nothing and refuses a `saved` (the backward starts from an empty cache).
 *   About Hkv * D * D * 2 bytes per 64-token chunk: 32 KB per chunk and KV head at D = 128.
 */
typedef struct liger_attn_params {
  int32_t device;
  void* stream;
  int32_t num_threads;

  int64_t B, T, Hq, Hkv, D;

  int32_t variant;    /* liger_variant */
  int32_t use_gate;   /* 0: g = 0 (no-gate ablation) */
  float gate_norm;    /* GLA gate normalizer N, default 16 */
  float mix;          /* a in [0, 1], default 0.5 */
  int32_t window;     /* W >= 1, default 64 */
  float swa_scale;    /* default 1 / sqrt(D) */

  liger_tensor q, k, v, o;
  liger_tensor rope_cos, rope_sin; /* F32 [P, D/2]; required when mix < 1 */
  liger_tensor cu_seqlens;         /* optional I64 [N+1] */
  liger_cache cache_in, cache_out; /* optional */

  /* backward only */
  liger_tensor do_;
  liger_tensor dq, dk, dv;

  int32_t f16_mode; /* liger_f16_mode: fp16 inputs on CUDA; 0 (zero-initialised) is LIGER_F16_DEFAULT */

  liger_tensor saved; /* optional F32 [liger_attn_saved_numel]: forward writes, backward reads; absent in decode */
} liger_attn_params;

const char* liger_last_error(void);
const char* liger_version(void);
/* Default CPU thread count for calls with num_threads = 0 (initially the hardware concurrency). */
liger_status liger_set_num_threads(int32_t n);
int32_t liger_get_num_threads(void);
/* 1 when this build has CUDA kernels compiled in. */
int32_t liger_has_cuda(void);

liger_status liger_gla_forward(const liger_gla_params* p);
liger_status liger_gla_backward(const liger_gla_params* p);

liger_status liger_attn_forward(const liger_attn_params* p);
liger_status liger_attn_backward(const liger_attn_params* p);
liger_status liger_attn_decode(const liger_attn_params* p);
/* *numel = the F32 elements of `saved` for a forward with these parameters (a forward's checks, with o and `saved`
 * optional), 0 where that path keeps no states. With cu_seqlens it reads the offsets back from the device. */
liger_status liger_attn_saved_numel(const liger_attn_params* p, int64_t* numel);

liger_status liger_gdn_forward(const liger_gdn_params* p);
liger_status liger_gdn_backward(const liger_gdn_params* p);
liger_status liger_gdn_decode(const liger_gdn_params* p);

#ifdef __cplusplus
}
#endif

#endif /* LIGER_LIGER_H */
