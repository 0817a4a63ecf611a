// Gated delta rule on the CPU: chunked forward/backward and the decode step.
#include "../backend.h"

namespace liger {
namespace cpu {
liger_status gdn_forward(const liger_gdn_params&) {
  return fail(LIGER_ERR_UNSUPPORTED, "liger_gdn_forward: not implemented on the CPU yet");
}
liger_status gdn_backward(const liger_gdn_params&) {
  return fail(LIGER_ERR_UNSUPPORTED, "liger_gdn_backward: not implemented on the CPU yet");
}
liger_status gdn_decode(const liger_gdn_params&) {
  return fail(LIGER_ERR_UNSUPPORTED, "liger_gdn_decode: not implemented on the CPU yet");
}
}  // namespace cpu
}  // namespace liger
