package dev.liger.kernels;
import org.junit.jupiter.api.Test;
import static org.junit.jupiter.api.Assertions.*;
class LoadSmokeTest {
  @Test void loads() {
    assertEquals("0.3", LigerKernels.liger_version().getString());
    LigerKernels.liger_attn_params p = new LigerKernels.liger_attn_params();
    assertEquals(LigerKernels.LIGER_F16_DEFAULT, p.f16_mode());  // allocated zeroed, as the header's DEFAULT assumes
    p.q().shape(2, 7);
    assertEquals(7, p.q().shape(2));
    // an empty parameter block is rejected by the argument checks, with a message naming the call
    assertEquals(LigerKernels.LIGER_ERR_INVALID_ARGUMENT, LigerKernels.liger_attn_forward(p));
    assertTrue(LigerKernels.liger_last_error().getString().startsWith("liger_attn_forward: "));
    org.bytedeco.pytorch.Tensor t = org.bytedeco.pytorch.global.torch.ones(2, 3);
    assertEquals(6, t.sum().item_float(), 0);
  }
}
