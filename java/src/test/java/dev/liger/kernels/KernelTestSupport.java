package dev.liger.kernels;

import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/** Shared helpers of the kernel tests: seeded random tensors, error norms, poisoned outputs. */
public final class KernelTestSupport {
    private KernelTestSupport() {}

    public static final TensorOptions F64 = new TensorOptions(ScalarType.Double);

    /** Standard normal float64 tensor, scaled. */
    public static Tensor randn(double scale, long... dims) {
        return torch.randn(dims, F64).mul(new Scalar(scale));
    }

    /** ||a - b||_F / ||b||_F in float64; NaN anywhere in a or b gives NaN (so a bound check fails). */
    public static double relErr(Tensor a, Tensor b) {
        Tensor a64 = a.detach().to(ScalarType.Double), b64 = b.detach().to(ScalarType.Double);
        double num = torch.linalg_vector_norm(a64.sub(b64)).item_double();
        double den = torch.linalg_vector_norm(b64).item_double();
        return num / Math.max(den, 1e-300);
    }

    /** A NaN-filled tensor shaped and typed like {@code like}, for outputs that must be fully written. */
    public static Tensor poisoned(Tensor like) {
        return torch.full_like(like, new Scalar(Double.NaN));
    }

    public static Tensor poisoned(ScalarType dtype, long... dims) {
        return torch.full(dims, new Scalar(Double.NaN), new TensorOptions(dtype));
    }

    public static boolean hasNaN(Tensor t) {
        return torch.isnan(t.detach().to(ScalarType.Double)).any().item_long() != 0; // any() is bool; item as long
    }

    public static String shape(Tensor t) {
        return LigerOps.shapeOf(t);
    }
}
