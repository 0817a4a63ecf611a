package dev.liger.kernels;

import static dev.liger.kernels.KernelTestSupport.poisoned;
import static dev.liger.kernels.KernelTestSupport.randn;
import static dev.liger.kernels.KernelTestSupport.relErr;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.liger.kernels.LigerOps.AttnGrads;
import dev.liger.kernels.LigerOps.GlaGrads;
import dev.liger.kernels.LigerOps.GlaResult;
import dev.liger.kernels.reference.LigerReference;
import dev.liger.kernels.reference.LigerReference.Mode;
import java.util.ArrayList;
import java.util.List;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorArrayRefOptional;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Native forward and backward against the float64 libtorch reference on fresh random inputs.
 *
 * <p>Error measure: ||native - reference||_F / ||reference||_F per output tensor. Bounds: F32 inputs
 * {@value #F32_BOUND} (forward) and {@value #F32_GRAD_BOUND} (gradients); BF16 inputs (compared with the
 * reference run on the same bf16-rounded values, outputs rounded to bf16) {@value #BF16_BOUND}; the plain
 * GLA gate gradient dg in F32 {@value #F32_DG_BOUND}.
 * Every output is NaN-poisoned before the call, so an element the kernel does not write fails the bound.
 */
class LigerOpsTest {
    static final double F32_BOUND = 1e-5;
    static final double F32_GRAD_BOUND = 1e-5;
    static final double BF16_BOUND = 1e-2;
    /** dg is a reverse cumulative sum over T, so its fp32 rounding error grows with T (8e-6 seen at T = 1000). */
    static final double F32_DG_BOUND = 5e-5;

    static final int[] LENGTHS = {1, 63, 64, 65, 200, 1000};
    static final long[][] HEADS = {{1, 1}, {4, 1}, {4, 4}};

    private final List<String> failures = new ArrayList<>();
    private final java.util.TreeMap<Double, String> worst = new java.util.TreeMap<>(); // bound -> largest error seen

    @BeforeEach
    void seed() {
        torch.manual_seed(42);
    }

    static double bound(ScalarType dt, boolean grad) {
        return dt == ScalarType.BFloat16 ? BF16_BOUND : grad ? F32_GRAD_BOUND : F32_BOUND;
    }

    /** Records a comparison; all cases run before the test fails, so one run shows the whole picture. */
    private void expectClose(String what, Tensor actual, Tensor expect, double bound) {
        double err = relErr(actual, expect);
        String entry = String.format("%.3g in %s", err, what);
        worst.merge(bound, entry, (x, y) -> Double.parseDouble(y.split(" ")[0]) > Double.parseDouble(x.split(" ")[0]) ? y : x);
        if (!(err <= bound)) failures.add(String.format("%s: rel err %.3g > %.1g", what, err, bound));
    }

    private void assertNoFailures() {
        worst.forEach((b, e) -> System.out.printf("%s: largest rel err %s (bound %.1g)%n", getClass().getSimpleName(), e, b));
        worst.clear();
        assertTrue(failures.isEmpty(), failures.size() + " failing case(s):\n" + String.join("\n", failures));
    }

    /** Raw inputs rounded to {@code dt}: the native input and its float64 twin for the reference. */
    record Inputs(Tensor q, Tensor k, Tensor v, Tensor q64, Tensor k64, Tensor v64) {
        static Inputs random(long b, long t, long hq, long hkv, long d, ScalarType dt) {
            Tensor q = randn(1, b, t, hq, d).to(dt), k = randn(1, b, t, hkv, d).to(dt), v = randn(1, b, t, hkv, d).to(dt);
            return new Inputs(q, k, v, q.to(ScalarType.Double), k.to(ScalarType.Double), v.to(ScalarType.Double));
        }
    }

    static RopeTables rope(long d) {
        return RopeTables.standard(10000, (int) d, 1100);
    }

    // ---------------------------------------------------------------- fused attention forward

    @Test
    void attentionForwardGrid() {
        for (ScalarType dt : new ScalarType[] {ScalarType.Float, ScalarType.BFloat16})
            for (long[] h : HEADS)
                for (int t : LENGTHS) attnForwardCase(1, t, h[0], h[1], 64, dt, LigerAttnConfig.defaults());
        // D = 128 and batches, sampled
        attnForwardCase(1, 200, 4, 1, 128, ScalarType.Float, LigerAttnConfig.defaults());
        attnForwardCase(1, 1000, 4, 4, 128, ScalarType.BFloat16, LigerAttnConfig.defaults());
        attnForwardCase(1, 65, 1, 1, 128, ScalarType.Float, LigerAttnConfig.defaults());
        attnForwardCase(2, 130, 4, 1, 64, ScalarType.Float, LigerAttnConfig.defaults());
        assertNoFailures();
    }

    @Test
    void attentionForwardVariantsAndAblations() {
        LigerAttnConfig c = LigerAttnConfig.defaults();
        LigerAttnConfig[] configs = {
            c.withVariant(LigerAttnConfig.Variant.HGRN2), c.withUseGate(false), c.withMix(1f), c.withMix(0f),
            c.withMix(0.25f).withWindow(1), c.withWindow(16).withGateNorm(4f), c.withSwaScale(0.3f),
        };
        for (LigerAttnConfig cfg : configs) {
            attnForwardCase(1, 200, 4, 1, 64, ScalarType.Float, cfg);
            attnForwardCase(2, 65, 4, 4, 64, ScalarType.BFloat16, cfg);
        }
        assertNoFailures();
    }

    private void attnForwardCase(long b, int t, long hq, long hkv, long d, ScalarType dt, LigerAttnConfig cfg) {
        String name = String.format("attn fwd B=%d T=%d Hq=%d Hkv=%d D=%d %s %s", b, t, hq, hkv, d, dt, cfg);
        Inputs in = Inputs.random(b, t, hq, hkv, d, dt);
        RopeTables rope = rope(d);
        Tensor o = poisoned(dt, b, t, hq, d);
        LigerOps.attnForward(in.q(), in.k(), in.v(), cfg, rope, null, null, false, o);
        Tensor expect = LigerReference.attention(in.q64(), in.k64(), in.v64(), cfg, rope, null, null, Mode.CHUNKED).o();
        expectClose(name, o, expect.to(dt), bound(dt, false));
    }

    // ---------------------------------------------------------------- fused attention backward

    @Test
    void attentionBackwardMatchesReferenceAutograd() {
        LigerAttnConfig c = LigerAttnConfig.defaults();
        attnBackwardCase(1, 1, 4, 1, 64, ScalarType.Float, c);
        attnBackwardCase(1, 63, 1, 1, 64, ScalarType.Float, c);
        attnBackwardCase(1, 65, 4, 4, 64, ScalarType.Float, c);
        attnBackwardCase(1, 200, 4, 1, 64, ScalarType.Float, c);
        attnBackwardCase(2, 64, 4, 1, 128, ScalarType.Float, c);
        attnBackwardCase(1, 1000, 4, 1, 64, ScalarType.Float, c);
        attnBackwardCase(1, 200, 4, 1, 64, ScalarType.BFloat16, c);
        attnBackwardCase(1, 130, 4, 4, 128, ScalarType.BFloat16, c);
        attnBackwardCase(1, 130, 4, 1, 64, ScalarType.Float, c.withVariant(LigerAttnConfig.Variant.HGRN2));
        attnBackwardCase(1, 130, 4, 1, 64, ScalarType.Float, c.withUseGate(false).withWindow(16));
        attnBackwardCase(1, 130, 4, 1, 64, ScalarType.Float, c.withMix(1f));
        attnBackwardCase(1, 130, 4, 1, 64, ScalarType.Float, c.withMix(0f));
        assertNoFailures();
    }

    private void attnBackwardCase(long b, int t, long hq, long hkv, long d, ScalarType dt, LigerAttnConfig cfg) {
        String name = String.format("attn bwd B=%d T=%d Hq=%d Hkv=%d D=%d %s %s", b, t, hq, hkv, d, dt, cfg);
        Inputs in = Inputs.random(b, t, hq, hkv, d, dt);
        Tensor dO = randn(1, b, t, hq, d).to(dt);
        RopeTables rope = rope(d);
        AttnGrads out = new AttnGrads(poisoned(in.q()), poisoned(in.k()), poisoned(in.v()));
        LigerOps.attnBackward(in.q(), in.k(), in.v(), dO, cfg, rope, null, out);

        Tensor q = in.q64().clone().requires_grad_(true), k = in.k64().clone().requires_grad_(true),
                v = in.v64().clone().requires_grad_(true);
        Tensor o = LigerReference.attention(q, k, v, cfg, rope, null, null, Mode.CHUNKED).o();
        o.mul(dO.to(ScalarType.Double)).sum().backward();
        expectClose(name + " dq", out.dq(), q.grad(), bound(dt, true));
        expectClose(name + " dk", out.dk(), k.grad(), bound(dt, true));
        expectClose(name + " dv", out.dv(), v.grad(), bound(dt, true));
    }

    // ---------------------------------------------------------------- plain GLA

    @Test
    void glaForwardGrid() {
        for (ScalarType dt : new ScalarType[] {ScalarType.Float, ScalarType.BFloat16})
            for (long[] h : HEADS)
                for (int t : LENGTHS) glaCase(1, t, h[0], h[1], 64, 64, dt, t % 2 == 0, false);
        glaCase(2, 200, 4, 1, 128, 128, ScalarType.Float, true, false);
        glaCase(1, 130, 4, 4, 64, 128, ScalarType.Float, true, false);
        glaCase(1, 1000, 4, 1, 128, 64, ScalarType.BFloat16, false, false);
        assertNoFailures();
    }

    @Test
    void glaBackwardMatchesReferenceAutograd() {
        glaCase(1, 1, 4, 1, 64, 64, ScalarType.Float, true, true);
        glaCase(1, 65, 4, 4, 64, 64, ScalarType.Float, true, true);
        glaCase(2, 200, 4, 1, 64, 128, ScalarType.Float, false, true);
        glaCase(1, 1000, 1, 1, 64, 64, ScalarType.Float, true, true);
        glaCase(1, 200, 4, 1, 128, 128, ScalarType.BFloat16, true, true);
        assertNoFailures();
    }

    /**
     * Feature-mapped q, k (softmax), strong per-channel gates (logsigmoid of N(0, 2) values), optional
     * h0; forward compares o and ht, backward compares dq, dk, dv, dg, dh0 with dht given.
     */
    private void glaCase(long b, int t, long hq, long hkv, long dk, long dv, ScalarType dt, boolean withH0,
                         boolean backward) {
        String name = String.format("gla %s B=%d T=%d Hq=%d Hkv=%d Dk=%d Dv=%d %s h0=%b", backward ? "bwd" : "fwd",
                b, t, hq, hkv, dk, dv, dt, withH0);
        float scale = (float) (1 / Math.sqrt(dk));
        Tensor q = torch.softmax(randn(1, b, t, hq, dk), -1).to(dt), k = torch.softmax(randn(1, b, t, hkv, dk), -1).to(dt);
        Tensor v = randn(1, b, t, hkv, dv).to(dt);
        Tensor g = torch.log_sigmoid(randn(2, b, t, hkv, dk)).to(ScalarType.Float);
        Tensor h0 = withH0 ? randn(1, b, hkv, dk, dv).to(ScalarType.Float) : null;
        double bound = bound(dt, backward);
        if (!backward) {
            Tensor o = poisoned(dt, b, t, hq, dv), ht = poisoned(ScalarType.Float, b, hkv, dk, dv);
            LigerOps.glaForward(q, k, v, g, scale, h0, null, true, o, ht);
            GlaResult r = LigerReference.gla(d(q), d(k), d(v), d(g), scale, h0 == null ? null : d(h0), null, Mode.CHUNKED);
            expectClose(name + " o", o, r.o().to(dt), bound);
            expectClose(name + " ht", ht, r.ht(), dt == ScalarType.BFloat16 ? BF16_BOUND : F32_BOUND);
            return;
        }
        Tensor dO = randn(1, b, t, hq, dv).to(dt), dht = randn(1, b, hkv, dk, dv).to(ScalarType.Float);
        GlaGrads out = new GlaGrads(poisoned(q), poisoned(k), poisoned(v), poisoned(g),
                withH0 ? poisoned(h0) : null);
        LigerOps.glaBackward(q, k, v, g, scale, h0, null, dO, dht, withH0, out);
        Tensor q64 = d(q).requires_grad_(true), k64 = d(k).requires_grad_(true), v64 = d(v).requires_grad_(true),
                g64 = d(g).requires_grad_(true), h64 = withH0 ? d(h0).requires_grad_(true) : null;
        GlaResult r = LigerReference.gla(q64, k64, v64, g64, scale, h64, null, Mode.CHUNKED);
        r.o().mul(d(dO)).sum().add(r.ht().mul(d(dht)).sum()).backward();
        expectClose(name + " dq", out.dq(), q64.grad(), bound);
        expectClose(name + " dk", out.dk(), k64.grad(), bound);
        expectClose(name + " dv", out.dv(), v64.grad(), bound);
        expectClose(name + " dg", out.dg(), g64.grad(), dt == ScalarType.Float ? F32_DG_BOUND : bound);
        if (withH0) expectClose(name + " dh0", out.dh0(), h64.grad(), bound);
    }

    private static Tensor d(Tensor t) {
        return t.detach().to(ScalarType.Double).clone();
    }
}
