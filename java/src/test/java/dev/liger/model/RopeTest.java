package dev.liger.model;

import static org.junit.jupiter.api.Assertions.*;

import dev.liger.config.RopeConfig;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;

/** RoPE tables in the kernels' format (F32 [P, D/2]) against closed forms, and apply() against the definition. */
class RopeTest {
    private static double invFreq(double theta, int j, int d) {
        return 1.0 / Math.pow(theta, 2.0 * j / d);
    }

    @Test
    void tablesFollowTheScalingFormulas() {
        int d = 16;
        try (PointerScope s = new PointerScope();
             Rope plain = new Rope(RopeConfig.plain(10000), d, 64, Tensors.CPU);
             Rope linear = new Rope(new RopeConfig("linear", 10000, 4, 0, 0, 64), d, 64, Tensors.CPU)) {
            assertArrayEquals(new long[] {64, d / 2}, Tensors.shape(plain.cos()));
            float[] c = Tensors.toFloats(plain.cos()), sn = Tensors.toFloats(plain.sin()), cl = Tensors.toFloats(linear.cos());
            for (int p = 0; p < 64; p += 7) {
                for (int j = 0; j < d / 2; j++) {
                    assertEquals(Math.cos(p * invFreq(10000, j, d)), c[p * d / 2 + j], 2e-5);
                    assertEquals(Math.sin(p * invFreq(10000, j, d)), sn[p * d / 2 + j], 2e-5);
                    assertEquals(Math.cos(p * invFreq(10000, j, d) / 4), cl[p * d / 2 + j], 2e-5);
                }
            }
            // Tables grow on demand and keep their prefix.
            plain.tables(200);
            assertTrue(plain.length() >= 200);
            assertArrayEquals(c, java.util.Arrays.copyOf(Tensors.toFloats(plain.cos()), c.length));
        }
    }

    @Test
    void dynamicScalingChangesFrequenciesOnlyBeyondTheOriginalLength() {
        int d = 16, orig = 32;
        try (PointerScope s = new PointerScope();
             Rope dyn = new Rope(new RopeConfig("dynamic", 10000, 2, 0, 0, orig), d, orig, Tensors.CPU)) {
            float[] inside = Tensors.toFloats(dyn.inverseFrequencies(orig));
            float[] beyond = Tensors.toFloats(dyn.inverseFrequencies(64));
            double base = 10000 * Math.pow(2.0 * 64 / orig - 1, d / (d - 2.0));
            for (int j = 0; j < d / 2; j++) {
                assertEquals(invFreq(10000, j, d), inside[j], 1e-6 * Math.max(1, invFreq(10000, j, d)));
                assertEquals(invFreq(base, j, d), beyond[j], 1e-5 * invFreq(base, j, d) + 1e-9);
            }
        }
    }

    @Test
    void applyRotatesHalvesAtEachRowsPositions() {
        int d = 8;
        try (PointerScope s = new PointerScope(); Rope r = new Rope(RopeConfig.plain(100), d, 16, Tensors.CPU)) {
            torch.manual_seed(3);
            Tensor x = torch.randn(2, 1, 3, d);
            Tensor pos = Tensors.longs(new long[] {0, 1, 2, 5, 9, 15}, 2, 3);
            float[] out = Tensors.toFloats(r.apply(x, pos, 15));
            float[] in = Tensors.toFloats(x);
            long[] p = {0, 1, 2, 5, 9, 15};
            for (int row = 0; row < 6; row++) {
                for (int j = 0; j < d / 2; j++) {
                    double a = p[row] * invFreq(100, j, d);
                    double x1 = in[row * d + j], x2 = in[row * d + j + d / 2];
                    assertEquals(x1 * Math.cos(a) - x2 * Math.sin(a), out[row * d + j], 1e-5);
                    assertEquals(x2 * Math.cos(a) + x1 * Math.sin(a), out[row * d + j + d / 2], 1e-5);
                }
            }
        }
    }
}
