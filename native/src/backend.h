// Internal interface between the dispatcher (dispatch.cpp: argument checking, device routing) and
// the per-device implementations. A backend function is called only with arguments the
// dispatcher has validated; it reports its own failures through liger::fail().
#pragma once
#include "liger/liger.h"

namespace liger {

// Records a printf-style message as this thread's last error and returns the status.
liger_status fail(liger_status status, const char* fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

namespace cpu {
liger_status gla_forward(const liger_gla_params& p);
liger_status gla_backward(const liger_gla_params& p);
liger_status attn_forward(const liger_attn_params& p);
liger_status attn_backward(const liger_attn_params& p);
liger_status attn_decode(const liger_attn_params& p);
liger_status attn_saved_numel(const liger_attn_params& p, int64_t& numel);
liger_status gdn_forward(const liger_gdn_params& p);
liger_status gdn_backward(const liger_gdn_params& p);
liger_status gdn_decode(const liger_gdn_params& p);
}  // namespace cpu

#if defined(LIGER_WITH_CUDA)
namespace cuda {
liger_status gla_forward(const liger_gla_params& p);
liger_status gla_backward(const liger_gla_params& p);
liger_status attn_forward(const liger_attn_params& p);
liger_status attn_backward(const liger_attn_params& p);
liger_status attn_decode(const liger_attn_params& p);
liger_status attn_saved_numel(const liger_attn_params& p, int64_t& numel);
liger_status gdn_forward(const liger_gdn_params& p);
liger_status gdn_backward(const liger_gdn_params& p);
liger_status gdn_decode(const liger_gdn_params& p);
}  // namespace cuda
#endif

}  // namespace liger
