#include "common.cuh"

#include <mutex>

namespace liger {
namespace cuda {

liger_status make_plan(const liger_tensor& cu_seqlens, int64_t B, int64_t T, cudaStream_t stream,
                       Plan& plan) {
  std::vector<int64_t> offs;
  if (cu_seqlens.data) {
    LIGER_TRY(check_device_ptr(cu_seqlens.data, "cu_seqlens"));
    int64_t n1 = cu_seqlens.shape[0];
    offs.resize((size_t)n1);
    // The offsets live on the device: copy them back to check them before any kernel uses them.
    if (cu_seqlens.stride[0] == 1) {
      LIGER_CK(cudaMemcpyAsync(offs.data(), cu_seqlens.data, sizeof(int64_t) * n1,
                               cudaMemcpyDeviceToHost, stream));
    } else {
      for (int64_t i = 0; i < n1; ++i)
        LIGER_CK(cudaMemcpyAsync(&offs[i], static_cast<const int64_t*>(cu_seqlens.data) + i * cu_seqlens.stride[0],
                                 sizeof(int64_t), cudaMemcpyDeviceToHost, stream));
    }
    LIGER_CK(cudaStreamSynchronize(stream));
    if (n1 < 2) return fail(LIGER_ERR_INVALID_ARGUMENT, "cu_seqlens: needs at least 2 entries, got %lld", (long long)n1);
    if (offs[0] != 0) return fail(LIGER_ERR_INVALID_ARGUMENT, "cu_seqlens[0] must be 0, got %lld", (long long)offs[0]);
    for (int64_t i = 1; i < n1; ++i)
      if (offs[i] < offs[i - 1])
        return fail(LIGER_ERR_INVALID_ARGUMENT, "cu_seqlens must be non-decreasing: cu_seqlens[%lld] = %lld < %lld",
                    (long long)i, (long long)offs[i], (long long)offs[i - 1]);
    if (offs[n1 - 1] != B * T)
      return fail(LIGER_ERR_INVALID_ARGUMENT, "cu_seqlens[N] = %lld but the packed length is %lld",
                  (long long)offs[n1 - 1], (long long)(B * T));
  } else {
    offs.resize((size_t)B + 1);
    for (int64_t b = 0; b <= B; ++b) offs[b] = b * T;
  }
  plan.total = offs.back();
  plan.seqs.clear();
  plan.chunks.clear();
  for (size_t n = 0; n + 1 < offs.size(); ++n) {
    SeqInfo s;
    s.start = offs[n];
    s.len = offs[n + 1] - offs[n];
    s.first_chunk = (int)plan.chunks.size();
    s.pos0 = 0;
    for (int64_t t = 0; t < s.len; t += kChunk) {
      Chunk c;
      c.seq = (int)n;
      c.start = (int)(s.start + t);
      c.len = (int)((s.len - t) < kChunk ? (s.len - t) : kChunk);
      c.first = s.first_chunk;
      plan.chunks.push_back(c);
    }
    s.num_chunks = (int)plan.chunks.size() - s.first_chunk;
    plan.seqs.push_back(s);
  }
  if (plan.total > INT32_MAX / 2)
    return fail(LIGER_ERR_UNSUPPORTED, "CUDA kernels: packed length %lld too large", (long long)plan.total);
  return LIGER_OK;
}

// Pointers already found to be memory of a device, per thread (the attribute query costs about a
// microsecond and a decode step checks ten pointers). A hit still needs the same current device.
namespace {
struct CheckedPtr {
  const void* p;
  int dev;
};
constexpr int kCheckedPtrs = 32;
thread_local CheckedPtr checked_ptrs[kCheckedPtrs];
thread_local int checked_next = 0;
}  // namespace

liger_status check_device_ptr(const void* p, const char* name) {
  if (!p) return LIGER_OK;
  int dev = -1;
  LIGER_CK(cudaGetDevice(&dev));
  for (const CheckedPtr& c : checked_ptrs)
    if (c.p == p && c.dev == dev) return LIGER_OK;
  cudaPointerAttributes a;
  cudaError_t e = cudaPointerGetAttributes(&a, p);
  if (e != cudaSuccess) {
    cudaGetLastError();
    return fail(LIGER_ERR_INVALID_ARGUMENT, "%s: pointer attributes not readable (%s)", name,
                cudaGetErrorString(e));
  }
  if (a.type != cudaMemoryTypeDevice && a.type != cudaMemoryTypeManaged)
    return fail(LIGER_ERR_INVALID_ARGUMENT, "%s: not device memory (device = CUDA needs device pointers)", name);
  if (a.type == cudaMemoryTypeDevice && a.device != dev)
    return fail(LIGER_ERR_INVALID_ARGUMENT, "%s: memory of device %d but the current device is %d", name,
                a.device, dev);
  checked_ptrs[checked_next] = CheckedPtr{p, dev};
  checked_next = (checked_next + 1) % kCheckedPtrs;
  return LIGER_OK;
}

liger_status decode_flag(DecodeFlag** hostp, DecodeFlag** devp) {
  // The flag is allocated once; its device address is remembered per device (per thread, so that
  // the common call takes no lock and makes no driver call).
  static std::mutex mu;
  static DecodeFlag* host = nullptr;
  struct Mapped {
    int dev;
    DecodeFlag* ptr;
  };
  static thread_local Mapped mapped[8] = {{-1, nullptr}, {-1, nullptr}, {-1, nullptr}, {-1, nullptr},
                                          {-1, nullptr}, {-1, nullptr}, {-1, nullptr}, {-1, nullptr}};
  static thread_local DecodeFlag* host_seen = nullptr;
  int dev = 0;
  LIGER_CK(cudaGetDevice(&dev));
  Mapped& m = mapped[dev & 7];
  if (host_seen && m.dev == dev) {
    *hostp = host_seen;
    *devp = m.ptr;
    return LIGER_OK;
  }
  std::lock_guard<std::mutex> lock(mu);
  if (!host) {
    void* h = nullptr;
    LIGER_CK(cudaHostAlloc(&h, sizeof(DecodeFlag), cudaHostAllocMapped | cudaHostAllocPortable));
    host = static_cast<DecodeFlag*>(h);
    host->bad = 0;
  }
  void* d = nullptr;
  LIGER_CK(cudaHostGetDevicePointer(&d, host, 0));
  host_seen = host;
  m = Mapped{dev, static_cast<DecodeFlag*>(d)};
  *hostp = host;
  *devp = m.ptr;
  return LIGER_OK;
}

liger_status keep_pool_memory() {
  static thread_local int done_for = -1;
  int dev = 0;
  LIGER_CK(cudaGetDevice(&dev));
  if (done_for == dev) return LIGER_OK;
  cudaMemPool_t pool;
  LIGER_CK(cudaDeviceGetDefaultMemPool(&pool, dev));
  uint64_t keep = UINT64_MAX;
  LIGER_CK(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep));
  done_for = dev;
  return LIGER_OK;
}

liger_status smem_limit(int& bytes) {
  static const long long cap = [] {
    const char* e = getenv("LIGER_CUDA_SMEM_LIMIT");
    return e && *e ? atoll(e) : 0LL;
  }();
  static thread_local int seen[8] = {-1, -1, -1, -1, -1, -1, -1, -1};
  int dev = 0;
  LIGER_CK(cudaGetDevice(&dev));
  if (dev >= 0 && dev < 8 && seen[dev] >= 0) {
    bytes = seen[dev];
    return LIGER_OK;
  }
  int maxs = 0;
  LIGER_CK(cudaDeviceGetAttribute(&maxs, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
  if (cap > 0 && cap < maxs) maxs = (int)cap;
  if (dev >= 0 && dev < 8) seen[dev] = maxs;
  bytes = maxs;
  return LIGER_OK;
}

liger_status sm90_code(const void* kern, bool& yes) {
  struct Seen {
    const void* kern;
    int dev;
    bool yes;
  };
  static thread_local Seen seen[16];
  static thread_local int next = 0;
  int dev = 0;
  LIGER_CK(cudaGetDevice(&dev));
  for (const Seen& e : seen)
    if (e.kern == kern && e.dev == dev) {
      yes = e.yes;
      return LIGER_OK;
    }
  cudaFuncAttributes fa;
  LIGER_CK(cudaFuncGetAttributes(&fa, kern));
  yes = fa.binaryVersion >= 90 && fa.ptxVersion >= 90;
  seen[next] = Seen{kern, dev, yes};
  next = (next + 1) % 16;
  return LIGER_OK;
}

liger_status set_smem(const void* kernel, size_t bytes, const char* name) {
  // Remembers the limit already raised per (kernel, device): the attribute calls cost microseconds.
  struct Raised {
    const void* kernel;
    int dev;
    size_t bytes;
  };
  static thread_local Raised raised[32];
  static thread_local int next = 0;
  int dev = 0, maxs = 0;
  LIGER_CK(cudaGetDevice(&dev));
  for (const Raised& r : raised)
    if (r.kernel == kernel && r.dev == dev && r.bytes >= bytes) return LIGER_OK;
  LIGER_TRY(smem_limit(maxs));
  if (bytes > (size_t)maxs)
    return fail(LIGER_ERR_UNSUPPORTED, "CUDA kernel %s needs %zu bytes of shared memory, the device allows %d",
                name, bytes, maxs);
  LIGER_CK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes));
  raised[next] = Raised{kernel, dev, bytes};
  next = (next + 1) % 32;
  return LIGER_OK;
}

}  // namespace cuda
}  // namespace liger
