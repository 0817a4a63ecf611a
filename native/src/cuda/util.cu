#include "util.cuh"

namespace liger {
namespace cuda {
namespace {

// (tok, h, d) of a packed index: 32-bit divisions when the whole range fits (the usual case).
__device__ __forceinline__ void split_index(int64_t i, int64_t H, int64_t D, int64_t n, int64_t& tok, int64_t& h,
                                            int64_t& d) {
  if (n < INT32_MAX) {
    const int ii = (int)i, r = ii / (int)D;
    d = ii - r * (int)D;
    tok = r / (int)H;
    h = r - (int)tok * (int)H;
  } else {
    d = i % D;
    const int64_t r = i / D;
    h = r % H;
    tok = r / H;
  }
}

__global__ void k_gather(float* dst, View src, int64_t T, int64_t H, int64_t D, int64_t n, float mul) {
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    int64_t tok, h, d;
    split_index(i, H, D, n, tok, h, d);
    dst[i] = mul * load_as_float(src, voff(src, tok, T, h, d));
  }
}

__global__ void k_scatter(View dst, const float* src, int64_t T, int64_t H, int64_t D, int64_t n, float mul) {
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    int64_t tok, h, d;
    split_index(i, H, D, n, tok, h, d);
    store_from_float(dst, voff(dst, tok, T, h, d), mul * src[i]);
  }
}

unsigned grid_for(int64_t n) {
  int64_t g = (n + 255) / 256;
  return (unsigned)(g > 65536 ? 65536 : (g < 1 ? 1 : g));
}

}  // namespace

liger_status gather(float* dst, const View& src, int64_t T, int64_t NT, int64_t H, int64_t D, float mul,
                    cudaStream_t st) {
  const int64_t n = NT * H * D;
  if (n == 0) return LIGER_OK;
  k_gather<<<grid_for(n), 256, 0, st>>>(dst, src, T, H, D, n, mul);
  LIGER_CK_LAUNCH("gather");
  return LIGER_OK;
}

liger_status scatter(const View& dst, const float* src, int64_t T, int64_t NT, int64_t H, int64_t D, float mul,
                     cudaStream_t st) {
  const int64_t n = NT * H * D;
  if (n == 0) return LIGER_OK;
  k_scatter<<<grid_for(n), 256, 0, st>>>(dst, src, T, H, D, n, mul);
  LIGER_CK_LAUNCH("scatter");
  return LIGER_OK;
}

}  // namespace cuda
}  // namespace liger
