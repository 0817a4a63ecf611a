// Bootstrap: replaced by the real argument checking and dispatch.
#include "liger/liger.h"
static thread_local const char* g_err = "";
extern "C" {
const char* liger_last_error(void) { return g_err; }
const char* liger_version(void) { return "0.1"; }
liger_status liger_set_num_threads(int32_t) { return LIGER_OK; }
int32_t liger_get_num_threads(void) { return 1; }
int32_t liger_has_cuda(void) { return 0; }
liger_status liger_gla_forward(const liger_gla_params*) { g_err = "unsupported"; return LIGER_ERR_UNSUPPORTED; }
liger_status liger_gla_backward(const liger_gla_params*) { g_err = "unsupported"; return LIGER_ERR_UNSUPPORTED; }
liger_status liger_attn_forward(const liger_attn_params*) { g_err = "unsupported"; return LIGER_ERR_UNSUPPORTED; }
liger_status liger_attn_backward(const liger_attn_params*) { g_err = "unsupported"; return LIGER_ERR_UNSUPPORTED; }
liger_status liger_attn_decode(const liger_attn_params*) { g_err = "unsupported"; return LIGER_ERR_UNSUPPORTED; }
}
