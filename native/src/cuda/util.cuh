// Elementwise moves between the caller's strided tensors and the packed fp32 workspaces.
#pragma once
#include "common.cuh"

namespace liger {
namespace cuda {

// dst[tok, h, d] (packed, contiguous) = mul * src(tok, h, d) for tok < NT.
liger_status gather(float* dst, const View& src, int64_t T, int64_t NT, int64_t H, int64_t D, float mul,
                    cudaStream_t st);
// dst(tok, h, d) = mul * src[tok, h, d].
liger_status scatter(const View& dst, const float* src, int64_t T, int64_t NT, int64_t H, int64_t D, float mul,
                     cudaStream_t st);

}  // namespace cuda
}  // namespace liger
