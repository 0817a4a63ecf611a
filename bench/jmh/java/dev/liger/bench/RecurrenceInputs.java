package dev.liger.bench;

import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.ScalarTypeOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * The recurrence benchmark problem: B = 1, Hq = 32, Hkv = 8, D = 128, fp32, inputs as the Liger layers feed the
 * plain kernels. GLA: softmax feature maps, per-channel gate logsigmoid(k) / 16 [B,T,Hkv,D]. GDN: L2-normalized
 * q and k, scalar gate logsigmoid(mean_D k) / 16 [B,T,Hkv], beta = 1.
 */
final class RecurrenceInputs {
    static final long B = 1, HQ = 32, HKV = 8, D = 128;

    final boolean gdn;
    final Tensor q, k, v, g, beta, dO;

    RecurrenceInputs(String variant, int t) {
        gdn = switch (variant) {
            case "gla" -> false;
            case "gdn" -> true;
            default -> throw new IllegalArgumentException("variant " + variant + ": expected gla or gdn");
        };
        torch.manual_seed(1);
        TensorOptions f32 = new TensorOptions(ScalarType.Float);
        Tensor rq = torch.randn(new long[] {B, t, HQ, D}, f32), rk = torch.randn(new long[] {B, t, HKV, D}, f32);
        v = torch.randn(new long[] {B, t, HKV, D}, f32);
        dO = torch.randn(new long[] {B, t, HQ, D}, f32);
        if (gdn) {
            q = unit(rq);
            k = unit(rk);
            g = torch.log_sigmoid(rk.mean(new long[] {-1}, false, new ScalarTypeOptional())).div(new Scalar(16.0));
            beta = torch.ones(new long[] {B, t, HKV}, f32);
        } else {
            q = torch.softmax(rq, -1);
            k = torch.softmax(rk, -1);
            g = torch.log_sigmoid(rk).div(new Scalar(16.0));
            beta = null;
        }
    }

    private static Tensor unit(Tensor x) {
        return x.mul(torch.rsqrt(x.mul(x).sum(new long[] {-1}, true, new ScalarTypeOptional()).add(new Scalar(1e-6))));
    }
}
