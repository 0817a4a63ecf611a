// Test harness only: routes the C ABI straight to the CUDA backend for builds whose dispatcher
// does not yet route to CUDA (the check script links it only when libliger.a lacks liger::fail).
// No argument checking beyond what the CUDA backend does itself.
#include <cstdarg>
#include <cstdio>
#include "backend.h"

namespace liger {
static thread_local char g_msg[1024];
liger_status fail(liger_status status, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(g_msg, sizeof g_msg, fmt, ap);
  va_end(ap);
  return status;
}
}  // namespace liger

extern "C" {
const char* liger_last_error(void) { return liger::g_msg; }
int32_t liger_has_cuda(void) { return 1; }
liger_status liger_gla_forward(const liger_gla_params* p) { return liger::cuda::gla_forward(*p); }
liger_status liger_gla_backward(const liger_gla_params* p) { return liger::cuda::gla_backward(*p); }
liger_status liger_attn_forward(const liger_attn_params* p) { return liger::cuda::attn_forward(*p); }
liger_status liger_attn_backward(const liger_attn_params* p) { return liger::cuda::attn_backward(*p); }
liger_status liger_attn_decode(const liger_attn_params* p) { return liger::cuda::attn_decode(*p); }
}
