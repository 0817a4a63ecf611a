// The one-launch decode step of the fused Liger attention (liger_attn_decode's fast path).
// attn.cu checks the arguments and picks this path or its reference kernels (k_decode + k_advance).
#pragma once
#include "common.cuh"

namespace liger {
namespace cuda {

// One decode call: N sequences, one token each, the caller's cache updated in place.
struct DecodeArgs {
  View q, k, v, out;              // [N, 1, H, D]
  const float *cos, *sin;         // RoPE tables [P, D/2] (mix < 1 only)
  int64_t cs0, cs1, ss0, ss1, P;  // their strides and rows
  float *state, *wk, *wv;         // [N, Hkv, D, D], [N, Hkv, W-1, D] x 2 (contiguous, 16-byte aligned)
  int64_t* pos;                   // [N]
  DecodeFlag* flag;               // where a bad position is reported
  int N, Hq, Hkv, D, W;
  int variant, use_gate, rope;    // rope: the window branch runs (mix < 1)
  float gate_norm, mix, swa_scale;
};

// Launches the fast decode when it takes the shape (D 64 or 128, at most 8 query heads per KV head,
// a window whose rows fit in shared memory): one launch when the device runs thread-block clusters,
// Hkv <= 8 and the N clusters are resident at once (the cluster's barrier orders the position
// advance after every block of the sequence has read it) or Hkv == 1, else the same kernel and a
// position-advance launch. taken = false: not
// this shape, nothing launched (the caller runs the reference kernels).
liger_status decode_fast(const DecodeArgs& a, cudaStream_t st, bool& taken);

}  // namespace cuda
}  // namespace liger
