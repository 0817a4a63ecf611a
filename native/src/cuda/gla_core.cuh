// The chunked gated linear recurrence on fp32 packed workspaces, shared by the plain GLA entry
// points and the fused Liger attention.
//
// Layout: q [NT, Hq, Dk] (already scaled), k [NT, Hkv, Dk], v [NT, Hkv, Dv], g [NT, Hkv, Dk] raw
// log-gates (<= 0; the state pass turns them into in-chunk inclusive cumulative sums in place),
// o [NT, Hq, Dv]. Every per-token buffer has kChunk spare rows at the end so that a chunk may read
// a full tile. h [nchunks, Hkv, Dk, Dv] holds each chunk's incoming state, gl [nchunks, Hkv, Dk]
// each chunk's total log-gate.
#pragma once
#include "common.cuh"

namespace liger {
namespace cuda {

// The fused attention's dq epilogue (bf16 fast path): k_fdq chains its dq through the query feature
// map, adds the window branch's gradient through the transposed RoPE and writes the caller's dq; the
// query term of dg, sum over the group of phi(q) o dq_phi, goes to rq (then read by the dg pass).
struct DqChain {
  View q, cos, sin, dq;  // raw q [.., Hq, D], RoPE tables [P, D/2], output dq
  const __nv_bfloat16* dqr;  // [NT, Hq, D] window gradient w.r.t. the RoPE'd q (bf16), or null (no window)
  float* rq;             // [NT, Hkv, D], zeroed by the caller
  int64_t T;             // the views' T (the packed axis is B * T)
};

// The fused attention's dv epilogue (bf16 fast path): k_fdkv adds the window branch's dv of the next
// chunk's queries (dvp, where the chunk has a successor in its sequence) to the window dv in c.dv and its
// own, and writes the caller's dv (so no later pass reads c.dv and dvp).
struct DvChain {
  View dv;           // output dv [.., Hkv, D]
  const float* dvp;  // [NT, Hkv, D] window dv from the next chunk's queries
  int64_t T;         // the view's T (the packed axis is B * T)
};

struct Core {
  int64_t Hq, Hkv, Dk, Dv;
  int nchunks, nseq;
  const Chunk* chunks;   // device
  const SeqInfo* seqs;   // device
  float *q, *k, *v, *g, *h, *gl, *o;
  const float* h0;       // [N, Hkv, Dk, Dv] or null
  float* ht;             // [N, Hkv, Dk, Dv] or null
  // backward
  float *dO, *dh, *dq, *dk, *dv, *R, *RT;
  const __nv_bfloat16* qb;   // [NT, Hq, Dk] q in bf16 for the fast path (then q is unused by the backward)
  const __nv_bfloat16* dOb;  // [NT, Hq, Dv] dO in bf16: the fast path's dO (its tiles are bf16), dO unused then
  const __nv_bfloat16* vb;   // fast path, or null: [NT, Hkv, Dv] v in bf16, read by k_fdq / k_fdkv instead of v
  const __nv_bfloat16* hb;   // fast path, or null: bf16 entering states, read by k_fdq instead of h
  __nv_bfloat16* dhb;        // fast path, or null: the dstate scan writes the bf16 state gradients here
                             // (read by k_fdkv) instead of in place into dh
  const float* dht;      // or null
  float* dh0;            // or null
  bool tc;              // tensor-core (tf32) products: set for 16-bit inputs
  bool bf16;            // bf16 inputs whose tolerance allows bf16 tiles (the fused attention's fast path)
  bool qchain;          // fast path only: k_fdq runs the DqChain epilogue (c.dq unused), k_fdkv forms dg's R and
                        // RT from qc.rq (k_chunk_dg does not run)
  DqChain qc;
  bool dvchain;         // fast path only: k_fdkv runs the DvChain epilogue (c.dv is then read, not written)
  DvChain dvc;
  int64_t ntok;         // packed tokens NT (the per-token buffers hold NT + kChunk rows): the sliced
                        // path below copies them
  bool no_dg;           // core_backward leaves R, RT alone (a slice of a larger problem: see core_dg)
  cudaStream_t stream;
};

// The fp32 kernels' shared memory grows with Dk and Dv (fp32 tiles); where a kernel's need exceeds
// the device's limit (A100 at D = 128, sm_86 / sm_89 at D = 64), core_forward and core_backward run
// the problem as independent slices of the key and value features. The recurrence is separable: each
// key feature's state row evolves on its own (o sums over key slices) and value columns never mix (dq,
// dk sum over value slices). The slices are chosen from the device's limit alone, so the forward's
// state partition is the one its backward reads.
struct CoreSlices {
  int dk, dv;  // slice widths (Dk, Dv when the whole problem fits)
};
liger_status core_slices(const Core& c, CoreSlices& s);
// The largest dynamic shared memory of the fp32 kernels at these widths.
size_t core_general_smem(int Dk, int Dv, bool tc);
// The largest dynamic shared memory of the bf16 backward kernels (k_fdstate, k_fdq, k_fdkv) at D.
size_t core_fast_backward_smem(int D);
// The gate gradient (R, RT) of a whole problem whose dq, dk are complete.
liger_status core_dg(const Core& c);
liger_status core_forward_sliced(const Core& c, bool with_output, const CoreSlices& s);
liger_status core_backward_sliced(const Core& c, const CoreSlices& s);

// Chunk states (h, gl) and, when with_output, o.
liger_status core_forward(const Core& c, bool with_output);
// Only the scan: turns the increments in h (gl: chunk total log-gates) into each chunk's incoming
// state, from h0, and writes ht.
liger_status core_scan(const Core& c);
// Gradients dq (w.r.t. the scaled q), dk, dv (accumulated into: zero them or pre-fill them), R and
// RT (dg = R[t] + RT[chunk of t] after the call), dh0. Needs the gate cumsums in g and the chunk
// states in h: core_forward(c, false) on the same buffers, or (the fused attention's bf16 path) the
// prep's cumsums with k_fstate's states and core_scan. With qchain, k_fdq writes qc.dq instead of dq.
liger_status core_backward(const Core& c);

}  // namespace cuda
}  // namespace liger
