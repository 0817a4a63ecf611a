package dev.liger.kernels;

import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;

/**
 * RoPE cos/sin tables, F32 [P, D/2], for positions 0..P-1 in the Hugging Face rotate-half convention:
 * {@code x'_j = x_j cos[p,j] - x_{j+D/2} sin[p,j]}, {@code x'_{j+D/2} = x_{j+D/2} cos[p,j] + x_j sin[p,j]}.
 * Scaled RoPE variants build their own tables and use the canonical constructor.
 */
public record RopeTables(Tensor cos, Tensor sin) {

    public RopeTables {
        if (cos == null || sin == null || !cos.defined() || !sin.defined())
            throw new IllegalArgumentException("rope cos and sin must be defined tensors");
        if (cos.dim() != 2 || sin.dim() != 2 || cos.size(0) != sin.size(0) || cos.size(1) != sin.size(1))
            throw new IllegalArgumentException("rope cos and sin must both be [P, D/2], got "
                    + LigerOps.shapeOf(cos) + " and " + LigerOps.shapeOf(sin));
        if (cos.scalar_type().intern() != torch.ScalarType.Float || sin.scalar_type().intern() != torch.ScalarType.Float)
            throw new IllegalArgumentException("rope cos and sin must be F32");
    }

    /** Default RoPE: inverse frequencies {@code theta^(-2j/D)}, angles computed in double then stored as F32. */
    public static RopeTables standard(double theta, int headDim, int maxPositions) {
        if (headDim <= 0 || headDim % 2 != 0)
            throw new IllegalArgumentException("rope head dim must be positive and even, got " + headDim);
        if (maxPositions <= 0) throw new IllegalArgumentException("rope maxPositions must be positive, got " + maxPositions);
        if (!(theta > 0)) throw new IllegalArgumentException("rope theta must be positive, got " + theta);
        TensorOptions f64 = new TensorOptions(torch.ScalarType.Double);
        Tensor j = torch.arange(new Scalar(0L), new Scalar((long) headDim / 2), f64);
        // theta^(-2j/D) written as exp(-2j ln(theta) / D)
        Tensor invFreq = torch.exp(j.mul(new Scalar(-2.0 * Math.log(theta) / headDim)));
        Tensor p = torch.arange(new Scalar(0L), new Scalar((long) maxPositions), f64);
        Tensor ang = torch.outer(p, invFreq);
        return new RopeTables(torch.cos(ang).to(torch.ScalarType.Float).contiguous(),
                torch.sin(ang).to(torch.ScalarType.Float).contiguous());
    }

    public long positions() {
        return cos.size(0);
    }

    public long halfDim() {
        return cos.size(1);
    }
}
