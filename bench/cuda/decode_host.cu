// Host time of one CUDA decode call, part by part (a measurement, not a test; bench/NOTES-cuda.md,
// "Decode host time, run 25d"). Shape of bench.py's decode: bf16 q/k/v, fp32 state and window ring,
// Hq 32, Hkv 8, D 128, W 64, positions from 5000, batch 1 / 16 / 64.
//
// It includes decode.cu to reach the launch helpers of its anonymous namespace, and links libliger.a
// for the rest: this file then defines decode_fast itself, so the archive's decode object stays out
// of the link and the library's attn_decode calls this same source.
//
// Each part is timed with steady_clock per call, in four states of the GPU:
//   idle  the stream drained before each call (one call alone),
//   burst 50 calls back to back after a drain (what bench.py's host_us measures),
//   spin  50 calls queued behind a 3 ms kernel that only waits (a busy queue, idle memory),
//   mem   50 calls queued behind ~3 ms of a kernel streaming device memory (a busy memory system).
// The GPU time of a step comes from events around the 50 calls queued behind the spin kernel (the
// host has queued them all before the spin ends: checked, else marked).
// Build (device): nvcc -O3 -std=c++17 -arch=sm_90a --use_fast_math -DLIGER_WITH_CUDA=1
//   -Inative/include -Inative/src bench/cuda/decode_host.cu build/libliger.a -o build/decode_host
#include "../../native/src/cuda/decode.cu"

#include <cuda.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

namespace dh {
using namespace liger::cuda;
using Clock = std::chrono::steady_clock;

#define CK(call)                                                                          \
  do {                                                                                    \
    cudaError_t e_ = (call);                                                              \
    if (e_ != cudaSuccess) {                                                              \
      std::fprintf(stderr, "%s failed: %s (line %d)\n", #call, cudaGetErrorString(e_), __LINE__); \
      std::exit(2);                                                                       \
    }                                                                                     \
  } while (0)
#define OK(call)                                                                          \
  do {                                                                                    \
    liger_status s_ = (call);                                                             \
    if (s_ != LIGER_OK) {                                                                 \
      std::fprintf(stderr, "%s: status %d: %s\n", #call, (int)s_, liger_last_error());    \
      std::exit(3);                                                                       \
    }                                                                                     \
  } while (0)

constexpr int Hq = 32, Hkv = 8, D = 128, W = 64, P = 1 << 17;
constexpr int64_t kPos0 = 5000;
constexpr int kBurst = 50, kReps = 10;

__device__ __forceinline__ unsigned long long gtime() {
  unsigned long long t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}
__global__ void k_spin(long long ns) {
  const unsigned long long t0 = gtime();
  while ((long long)(gtime() - t0) < ns) {
  }
}
// Streams `reps` times over a buffer (read and write): keeps the memory system busy.
__global__ void k_stream(float4* a, size_t n, int reps) {
  for (int r = 0; r < reps; ++r)
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
      float4 x = a[i];
      x.x += 1.f;
      a[i] = x;
    }
}
// Empty kernels: the launch alone, with the decode's argument block or one pointer.
__global__ void k_empty_args(const __grid_constant__ DecodeArgs a) {
  if (a.N < 0) a.pos[0] = 0;
}
__global__ void k_empty_small(int64_t* p, int n) {
  if (n < 0) p[0] = 0;
}

liger_tensor tensor(void* data, int dtype, std::vector<int64_t> shape) {
  liger_tensor t;
  std::memset(&t, 0, sizeof t);
  t.data = data;
  t.dtype = dtype;
  t.ndim = (int32_t)shape.size();
  int64_t s = 1;
  for (int i = t.ndim - 1; i >= 0; --i) {
    t.shape[i] = shape[i];
    t.stride[i] = s;
    s *= shape[i];
  }
  for (int i = t.ndim; i < 4; ++i) t.shape[i] = t.stride[i] = 1;
  return t;
}

template <class T>
T* upload(const std::vector<T>& h) {
  T* d = nullptr;
  CK(cudaMalloc(&d, h.size() * sizeof(T)));
  CK(cudaMemcpy(d, h.data(), h.size() * sizeof(T), cudaMemcpyHostToDevice));
  return d;
}

struct Setup {
  int N;
  liger_attn_params p;
  DecodeArgs d;
  size_t smem;
  int64_t* pos;
};

Setup make(int N, cudaStream_t st, const float* cosd, const float* sind, DecodeFlag* dflag) {
  std::mt19937 rng(1234 + N);
  std::normal_distribution<float> nd(0.f, 1.f);
  auto bf = [&](size_t n) {
    std::vector<__nv_bfloat16> h(n);
    for (auto& x : h) x = __float2bfloat16(nd(rng));
    return upload(h);
  };
  auto f32 = [&](size_t n, float sc) {
    std::vector<float> h(n);
    for (auto& x : h) x = sc * nd(rng);
    return upload(h);
  };
  Setup s;
  s.N = N;
  std::memset(&s.p, 0, sizeof s.p);
  liger_attn_params& p = s.p;
  p.device = LIGER_CUDA;
  p.stream = st;
  p.B = N; p.T = 1; p.Hq = Hq; p.Hkv = Hkv; p.D = D;
  p.variant = LIGER_VARIANT_GLA; p.use_gate = 1; p.gate_norm = 16.f; p.mix = 0.5f; p.window = W;
  p.swa_scale = 1.f / std::sqrt((float)D);
  p.q = tensor(bf((size_t)N * Hq * D), LIGER_BF16, {N, 1, Hq, D});
  p.k = tensor(bf((size_t)N * Hkv * D), LIGER_BF16, {N, 1, Hkv, D});
  p.v = tensor(bf((size_t)N * Hkv * D), LIGER_BF16, {N, 1, Hkv, D});
  p.o = tensor(bf((size_t)N * Hq * D), LIGER_BF16, {N, 1, Hq, D});
  p.rope_cos = tensor((void*)cosd, LIGER_F32, {P, D / 2});
  p.rope_sin = tensor((void*)sind, LIGER_F32, {P, D / 2});
  p.cache_in.state = tensor(f32((size_t)N * Hkv * D * D, 0.01f), LIGER_F32, {N, Hkv, D, D});
  p.cache_in.win_k = tensor(f32((size_t)N * Hkv * (W - 1) * D, 1.f), LIGER_F32, {N, Hkv, W - 1, D});
  p.cache_in.win_v = tensor(f32((size_t)N * Hkv * (W - 1) * D, 1.f), LIGER_F32, {N, Hkv, W - 1, D});
  s.pos = upload(std::vector<int64_t>((size_t)N, kPos0));
  p.cache_in.pos = tensor(s.pos, LIGER_I64, {N});
  // The fast path's arguments exactly as attn_decode builds them.
  DecodeArgs& d = s.d;
  std::memset(&d, 0, sizeof d);
  d.q = view_of(p.q); d.k = view_of(p.k); d.v = view_of(p.v); d.out = view_of(p.o);
  d.rope = 1;
  d.cos = cosd; d.sin = sind;
  d.cs0 = p.rope_cos.stride[0]; d.cs1 = p.rope_cos.stride[1];
  d.ss0 = p.rope_sin.stride[0]; d.ss1 = p.rope_sin.stride[1];
  d.P = P;
  d.state = (float*)p.cache_in.state.data;
  d.wk = (float*)p.cache_in.win_k.data; d.wv = (float*)p.cache_in.win_v.data;
  d.pos = s.pos; d.flag = dflag;
  d.N = N; d.Hq = Hq; d.Hkv = Hkv; d.D = D; d.W = W;
  d.variant = p.variant; d.use_gate = p.use_gate; d.gate_norm = p.gate_norm; d.mix = p.mix; d.swa_scale = p.swa_scale;
  s.smem = dec_smem_bytes(D, Hq / Hkv, W);
  return s;
}

void reset_pos(const Setup& s) {
  std::vector<int64_t> h((size_t)s.N, kPos0);
  CK(cudaDeviceSynchronize());
  CK(cudaMemcpy(s.pos, h.data(), h.size() * sizeof(int64_t), cudaMemcpyHostToDevice));
}

enum Mode { kIdle, kBurstMode, kSpin, kMem };
const char* mode_name[] = {"idle", "burst", "spin", "mem"};

struct Stat {
  double mean = 0, med = 0, first10 = 0, last10 = 0, max = 0, gpu = -1;
  bool gpu_valid = true;
};

float4* g_stream_buf = nullptr;
size_t g_stream_n = 0;
int g_stream_reps = 1;

// Times fn per call over kReps rounds of kBurst calls in the given mode.
Stat measure(const std::function<void()>& fn, Mode mode, cudaStream_t st) {
  std::vector<double> all, first, last;
  std::vector<double> gpu;
  bool gpu_valid = true;
  cudaEvent_t e0, e1;
  CK(cudaEventCreate(&e0));
  CK(cudaEventCreate(&e1));
  for (int w = 0; w < 3; ++w) fn();  // warm: caches filled, module loaded
  CK(cudaDeviceSynchronize());
  for (int r = 0; r < kReps; ++r) {
    CK(cudaDeviceSynchronize());
    if (mode == kSpin) k_spin<<<1, 32, 0, st>>>(3000000);
    if (mode == kMem) k_stream<<<264, 1024, 0, st>>>(g_stream_buf, g_stream_n, g_stream_reps);
    if (mode == kSpin) CK(cudaEventRecord(e0, st));
    const auto b0 = Clock::now();
    for (int i = 0; i < kBurst; ++i) {
      if (mode == kIdle) CK(cudaStreamSynchronize(st));
      const auto t0 = Clock::now();
      fn();
      const double us = std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
      all.push_back(us);
      if (i < 10) first.push_back(us);
      if (i >= kBurst - 10) last.push_back(us);
    }
    const double burst_us = std::chrono::duration<double, std::micro>(Clock::now() - b0).count();
    if (mode == kSpin) {
      CK(cudaEventRecord(e1, st));
      CK(cudaEventSynchronize(e1));
      float ms = 0;
      CK(cudaEventElapsedTime(&ms, e0, e1));
      gpu.push_back(ms * 1000.0 / kBurst);
      if (burst_us > 2500) gpu_valid = false;  // the spin may have ended before the calls were queued
    }
  }
  CK(cudaDeviceSynchronize());
  CK(cudaEventDestroy(e0));
  CK(cudaEventDestroy(e1));
  Stat s;
  auto mean = [](const std::vector<double>& v) {
    double a = 0;
    for (double x : v) a += x;
    return v.empty() ? 0.0 : a / v.size();
  };
  s.mean = mean(all);
  s.first10 = mean(first);
  s.last10 = mean(last);
  s.max = *std::max_element(all.begin(), all.end());
  std::vector<double> c = all;
  std::nth_element(c.begin(), c.begin() + c.size() / 2, c.end());
  s.med = c[c.size() / 2];
  if (!gpu.empty()) {
    std::nth_element(gpu.begin(), gpu.begin() + gpu.size() / 2, gpu.end());
    s.gpu = gpu[gpu.size() / 2];
    s.gpu_valid = gpu_valid;
  }
  return s;
}

void row(int N, const char* what, const std::function<void()>& fn, cudaStream_t st, const Setup* s) {
  for (Mode m : {kIdle, kBurstMode, kSpin, kMem}) {
    if (s) reset_pos(*s);
    const Stat x = measure(fn, m, st);
    std::printf("N=%-3d %-34s %-5s mean %6.2f med %6.2f first10 %6.2f last10 %6.2f max %7.2f", N, what, mode_name[m],
                x.mean, x.med, x.first10, x.last10, x.max);
    if (x.gpu >= 0) std::printf("  gpu/step %6.2f%s", x.gpu, x.gpu_valid ? "" : " (host slower than spin)");
    std::printf("\n");
  }
  std::fflush(stdout);
}

// Per-operation host time of one small operation, idle GPU, averaged over many calls.
void micro(const char* what, const std::function<void()>& fn, int n = 20000) {
  for (int i = 0; i < 100; ++i) fn();
  const auto t0 = Clock::now();
  for (int i = 0; i < n; ++i) fn();
  const double ns = std::chrono::duration<double, std::nano>(Clock::now() - t0).count() / n;
  std::printf("micro %-52s %8.1f ns\n", what, ns);
  std::fflush(stdout);
}

int run() {
  CK(cudaSetDevice(0));
  cudaDeviceProp prop;
  CK(cudaGetDeviceProperties(&prop, 0));
  std::printf("device %s, SMs %d\n", prop.name, prop.multiProcessorCount);
  cudaStream_t st;
  CK(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking));
  // RoPE tables [P, D/2]
  std::vector<float> hc((size_t)P * D / 2), hs(hc.size());
  for (int p = 0; p < P; ++p)
    for (int j = 0; j < D / 2; ++j) {
      const double a = p * std::pow(10000.0, -2.0 * j / D);
      hc[(size_t)p * D / 2 + j] = (float)std::cos(a);
      hs[(size_t)p * D / 2 + j] = (float)std::sin(a);
    }
  const float* cosd = upload(hc);
  const float* sind = upload(hs);
  DecodeFlag *hflag = nullptr, *dflag = nullptr;
  OK(decode_flag(&hflag, &dflag));
  // The memory-streaming kernel: 1 GiB, repeated until one launch takes ~3 ms.
  g_stream_n = (size_t(1) << 30) / sizeof(float4);
  CK(cudaMalloc(&g_stream_buf, g_stream_n * sizeof(float4)));
  CK(cudaMemset(g_stream_buf, 0, g_stream_n * sizeof(float4)));
  {
    cudaEvent_t a, b;
    CK(cudaEventCreate(&a));
    CK(cudaEventCreate(&b));
    k_stream<<<264, 1024, 0, st>>>(g_stream_buf, g_stream_n, 1);
    CK(cudaEventRecord(a, st));
    k_stream<<<264, 1024, 0, st>>>(g_stream_buf, g_stream_n, 1);
    CK(cudaEventRecord(b, st));
    CK(cudaEventSynchronize(b));
    float ms = 0;
    CK(cudaEventElapsedTime(&ms, a, b));
    g_stream_reps = std::max(1, (int)std::lround(3.0 / ms));
    std::printf("stream kernel: %.3f ms per GiB pass (%.2f TB/s), %d passes per launch\n", ms,
                2.0 * (1 << 30) / (ms * 1e-3) / 1e12, g_stream_reps);
  }

  // --- small operations (idle GPU)
  int dev = 0;
  void* some = nullptr;
  CK(cudaMalloc(&some, 1 << 20));
  micro("cudaGetDevice", [&] { cudaGetDevice(&dev); });
  micro("cudaGetLastError", [&] { cudaGetLastError(); });
  micro("check_device_ptr (cached hit)", [&] { check_device_ptr(some, "x"); });
  cudaPointerAttributes pa;
  micro("cudaPointerGetAttributes (the uncached query)", [&] { cudaPointerGetAttributes(&pa, some); });
  // Driver-API pointer queries, reached through the runtime (no libcuda link needed).
  using GetAttr = CUresult (*)(void*, CUpointer_attribute, CUdeviceptr);
  using GetAttrs = CUresult (*)(unsigned, CUpointer_attribute*, void**, CUdeviceptr);
  void* f1 = nullptr;
  void* f2 = nullptr;
  CK(cudaGetDriverEntryPointByVersion("cuPointerGetAttribute", &f1, 12000, cudaEnableDefault, nullptr));
  CK(cudaGetDriverEntryPointByVersion("cuPointerGetAttributes", &f2, 12000, cudaEnableDefault, nullptr));
  unsigned long long bid = 0;
  if (f1)
    micro("cuPointerGetAttribute(BUFFER_ID)", [&] {
      ((GetAttr)f1)(&bid, CU_POINTER_ATTRIBUTE_BUFFER_ID, (CUdeviceptr)some);
    });
  if (f2) {
    CUpointer_attribute at[3] = {CU_POINTER_ATTRIBUTE_MEMORY_TYPE, CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL,
                                 CU_POINTER_ATTRIBUTE_BUFFER_ID};
    unsigned mt = 0;
    int ord = 0;
    void* vals[3] = {&mt, &ord, &bid};
    micro("cuPointerGetAttributes(type, ordinal, buffer id)", [&] { ((GetAttrs)f2)(3, at, vals, (CUdeviceptr)some); });
  }
  micro("decode_flag (cached)", [&] {
    DecodeFlag *h, *d;
    decode_flag(&h, &d);
  });
  volatile int sink = 0;
  micro("read of the mapped host flag", [&] { sink = ((volatile DecodeFlag*)hflag)->bad; });
  DevInfo di;
  micro("dev_info (cached)", [&] { dev_info(di); });
  const size_t smem0 = dec_smem_bytes(D, Hq / Hkv, W);
  for (int adv : {kAdvCluster, kAdvLaunch, kAdvBlock}) OK(set_smem(dec_kernel<128>(adv), smem0, "decode"));
  micro("set_smem (cached)", [&] { set_smem(dec_kernel<128>(kAdvCluster), smem0, "decode"); });
  int fits = 0;
  micro("max_clusters (cached)", [&] { max_clusters(dec_kernel<128>(kAdvCluster), 0, Hkv, smem0, st, fits); });
  cudaFuncAttributes fa;
  micro("cudaFuncGetAttributes", [&] { cudaFuncGetAttributes(&fa, dec_kernel<128>(kAdvCluster)); }, 2000);
  std::printf("k_dec<128, cluster>: %d registers, binary %d, clusters of %d resident at once %d, smem %zu\n",
              fa.numRegs, fa.binaryVersion, Hkv, fits, smem0);

  for (int N : {1, 16, 64}) {
    Setup s = make(N, st, cosd, sind, dflag);
    Setup s0 = make(N, nullptr, cosd, sind, dflag);  // the legacy default stream, as bench.py's calls use
    const DecodeArgs& d = s.d;
    const size_t smem = s.smem;
    auto cfg_of = [&](bool cluster, cudaLaunchAttribute* attr) {
      cudaLaunchConfig_t cfg = {};
      cfg.gridDim = dim3((unsigned)N, (unsigned)Hkv);
      cfg.blockDim = dim3(kDecThreads);
      cfg.dynamicSmemBytes = smem;
      cfg.stream = st;
      if (cluster) {
        attr[0].id = cudaLaunchAttributeClusterDimension;
        attr[0].val.clusterDim.x = 1;
        attr[0].val.clusterDim.y = Hkv;
        attr[0].val.clusterDim.z = 1;
        cfg.attrs = attr;
        cfg.numAttrs = 1;
      }
      return cfg;
    };
    cudaLaunchAttribute attr[1];
    const cudaLaunchConfig_t ccl = cfg_of(true, attr);
    cudaLaunchAttribute attr2[1];
    const cudaLaunchConfig_t cnc = cfg_of(false, attr2);
    OK(set_smem((const void*)k_empty_args, smem, "empty"));

    row(N, "liger_attn_decode (entry)", [&] { OK(liger_attn_decode(&s.p)); }, st, &s);
    row(N, "liger_attn_decode, legacy stream 0", [&] { OK(liger_attn_decode(&s0.p)); }, nullptr, &s0);
    row(N, "cuda::attn_decode (no entry checks)", [&] { OK(attn_decode(s.p)); }, st, &s);
    row(N, "decode_fast (no attn.cu checks)", [&] {
      bool taken = false;
      OK(decode_fast(d, st, taken));
    }, st, &s);
    row(N, "launch<128> cluster (+GetLastError)", [&] { OK(launch<128>(d, kAdvCluster, smem, st)); }, st, &s);
    row(N, "cudaLaunchKernelEx cluster", [&] { CK(cudaLaunchKernelEx(&ccl, k_dec<128, kAdvCluster>, d)); }, st, &s);
    row(N, "launch<128> two launches, no cluster", [&] { OK(launch<128>(d, kAdvLaunch, smem, st)); }, st, &s);
    row(N, "cudaLaunchKernelEx no cluster, k_dec", [&] { CK(cudaLaunchKernelEx(&cnc, k_dec<128, kAdvLaunch>, d)); },
        st, &s);
    row(N, "empty kernel, DecodeArgs, cluster", [&] { CK(cudaLaunchKernelEx(&ccl, k_empty_args, d)); }, st, nullptr);
    row(N, "empty kernel, DecodeArgs, no cluster", [&] { CK(cudaLaunchKernelEx(&cnc, k_empty_args, d)); }, st,
        nullptr);
    row(N, "empty kernel, 12-byte args, <<<>>>", [&] {
      k_empty_small<<<dim3((unsigned)N, Hkv), kDecThreads, 0, st>>>(s.pos, N);
    }, st, nullptr);
    // The entry still advances every position once per call and reports nothing.
    reset_pos(s);
    for (int i = 0; i < 7; ++i) OK(liger_attn_decode(&s.p));
    CK(cudaDeviceSynchronize());
    std::vector<int64_t> pos((size_t)N);
    CK(cudaMemcpy(pos.data(), s.pos, N * sizeof(int64_t), cudaMemcpyDeviceToHost));
    bool ok = ((volatile DecodeFlag*)hflag)->bad == 0;
    for (int64_t x : pos) ok = ok && x == kPos0 + 7;
    std::printf("N=%d positions advanced once per call, no report: %s\n", N, ok ? "yes" : "NO");
    std::fflush(stdout);
    {
      // The same cluster launch with the shared memory of one block per SM: the N * 8 blocks spread
      // over more SMs when they fit one wave (a measurement of the placement, not a library path).
      const size_t big = (size_t)prop.sharedMemPerBlockOptin - 1024;
      CK(cudaFuncSetAttribute(k_dec<128, kAdvCluster>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)big));
      cudaLaunchConfig_t c1 = ccl;
      c1.dynamicSmemBytes = big;
      int cl1 = 0;
      CK(cudaOccupancyMaxActiveClusters(&cl1, k_dec<128, kAdvCluster>, &c1));
      std::printf("N=%d clusters resident at once with one block per SM: %d\n", N, cl1);
      if (cl1 >= N)
        row(N, "cudaLaunchKernelEx cluster, 1 block/SM", [&] { CK(cudaLaunchKernelEx(&c1, k_dec<128, kAdvCluster>, d)); },
            st, &s);
      CK(cudaFuncSetAttribute(k_dec<128, kAdvCluster>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    }
  }
  return 0;
}

}  // namespace dh

int main() { return dh::run(); }
