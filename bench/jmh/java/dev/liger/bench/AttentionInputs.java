package dev.liger.bench;

import dev.liger.kernels.LigerAttnConfig;
import dev.liger.kernels.RopeTables;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/** The benchmark problem: B = 1, Hq = 32, Hkv = 8, D = 128, fp32, Liger-GLA defaults (W = 64, a = 0.5). */
final class AttentionInputs {
    static final long B = 1, HQ = 32, HKV = 8, D = 128;

    final LigerAttnConfig config = LigerAttnConfig.defaults();
    final RopeTables rope;
    final Tensor q, k, v, dO;

    AttentionInputs(int t) {
        torch.manual_seed(1);
        TensorOptions f32 = new TensorOptions(ScalarType.Float);
        q = torch.randn(new long[] {B, t, HQ, D}, f32);
        k = torch.randn(new long[] {B, t, HKV, D}, f32);
        v = torch.randn(new long[] {B, t, HKV, D}, f32);
        dO = torch.randn(new long[] {B, t, HQ, D}, f32);
        rope = RopeTables.standard(10000, (int) D, t);
    }
}
