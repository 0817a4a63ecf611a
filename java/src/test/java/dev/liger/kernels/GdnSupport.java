package dev.liger.kernels;

import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Assumptions;

/** Test helper: whether this build's native gated delta rule is implemented (the kernel may answer "unsupported"). */
public final class GdnSupport {
    private GdnSupport() {}

    /** The entry points a test needs. */
    public enum Entry { FORWARD, BACKWARD, DECODE }

    /**
     * Skips the calling test, with the kernel's own message, while one of {@code needed} answers "unsupported" in
     * this build (no entry point named: all three).
     */
    public static void assumeNativeGdn(Entry... needed) {
        java.util.Set<Entry> want = needed.length == 0 ? java.util.EnumSet.allOf(Entry.class) : java.util.EnumSet.of(needed[0], needed);
        Tensor q = torch.randn(new long[] {1, 2, 1, 4}), v = torch.randn(new long[] {1, 2, 1, 4});
        Tensor g = torch.zeros(new long[] {1, 2, 1}), beta = torch.ones(new long[] {1, 2, 1});
        for (Entry entry : want) {
            try {
                switch (entry) {
                    case FORWARD -> LigerOps.gdnForward(q, q, v, g, beta, 1f, null, null, false);
                    case BACKWARD -> LigerOps.gdnBackward(q, q, v, g, beta, 1f, null, null, v, null, false);
                    case DECODE -> LigerOps.gdnDecode(q.narrow(1, 0, 1), q.narrow(1, 0, 1), v.narrow(1, 0, 1),
                            g.narrow(1, 0, 1), beta.narrow(1, 0, 1), 1f, torch.zeros(new long[] {1, 1, 4, 4}).to(ScalarType.Float));
                }
            } catch (LigerKernelException e) {
                Assumptions.assumeFalse(e.isUnsupported(), e.getMessage());
                throw e;
            }
        }
    }
}
