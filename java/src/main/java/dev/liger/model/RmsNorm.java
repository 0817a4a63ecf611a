package dev.liger.model;

import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * Llama RMSNorm exactly as Hugging Face computes it: normalize in fp32, cast back to the input dtype,
 * then scale by the weight (the order matters for bf16 parity).
 */
public final class RmsNorm implements AutoCloseable {
    private final Tensor weight;
    private final double eps;

    public RmsNorm(Tensor weight, double eps) {
        this.weight = Tensors.keep(weight);
        this.eps = eps;
    }

    public Tensor forward(Tensor x) {
        ScalarType dtype = x.scalar_type();
        Tensor h = x.to(ScalarType.Float);
        Tensor var = h.pow(new Scalar(2.0)).mean(new long[] {-1}, true, new org.bytedeco.pytorch.ScalarTypeOptional());
        Tensor n = h.mul(var.add(new Scalar(eps)).rsqrt());
        return weight.mul(n.to(dtype));
    }

    public Tensor weight() {
        return weight;
    }

    @Override
    public void close() {
        Tensors.release(weight);
    }
}
