package dev.liger.kernels;

import static dev.liger.kernels.KernelTestSupport.poisoned;
import static dev.liger.kernels.KernelTestSupport.randn;
import static dev.liger.kernels.KernelTestSupport.relErr;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.liger.kernels.LigerOps.GdnGrads;
import dev.liger.kernels.LigerOps.GdnResult;
import dev.liger.kernels.reference.LigerReference;
import java.util.ArrayList;
import java.util.List;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.ScalarTypeOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/**
 * The native gated delta rule (forward, backward, decode, varlen, initial/final state) against the float64
 * token-by-token reference ({@link LigerReference#gdn}) and its autograd, on fresh random inputs shaped as the
 * Liger-GDN layer feeds them (unit-norm q and k). Error measure ||native - reference||_F / ||reference||_F;
 * bounds as in {@link LigerOpsTest}, with dg (a reverse cumulative sum over T) at {@value #F32_DG_BOUND} in F32.
 * Every output is NaN-poisoned before the call. The numeric tests are skipped (with the kernel's own message)
 * while the build's kernel answers "unsupported"; the argument checks always run.
 */
class GdnOpsTest {
    static final double F32_BOUND = LigerOpsTest.F32_BOUND;
    static final double F32_GRAD_BOUND = 1e-5;
    static final double F32_DG_BOUND = 5e-5;
    /**
     * dg under gates near -inf (g ~ -30): every term of dg carries a factor exp(g) ~ 1e-13 and the chunked backward
     * forms it from fp32 products of much larger terms; 7.7e-4 seen with the chunked CPU backward (the earlier
     * per-token backward stayed below 1e-6). The Liger-GDN layer's gates, logsigmoid(mean_D k) / N with N = 16,
     * stay far from this regime.
     */
    static final double F32_DG_EXTREME_BOUND = 2e-3;
    static final double BF16_BOUND = LigerOpsTest.BF16_BOUND;

    static final int[] LENGTHS = {1, 63, 64, 65, 200, 1000};
    static final long[][] HEADS = {{1, 1}, {4, 1}, {4, 4}};

    /** Gate regimes: ordinary, near 0 (almost no decay), near -inf (state wiped every token, still finite). */
    enum Gates { NORMAL, NEAR_ZERO, VERY_NEGATIVE }

    /** Write strengths: random in (0, 1), all 0, all 1. */
    enum Betas { RANDOM, ZERO, ONE }

    private final List<String> failures = new ArrayList<>();
    private final java.util.TreeMap<Double, String> worst = new java.util.TreeMap<>();

    @BeforeEach
    void seed() {
        torch.manual_seed(777);
    }

    static void assumeNativeGdn(GdnSupport.Entry... needed) {
        GdnSupport.assumeNativeGdn(needed);
    }

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

    static Tensor unit(Tensor x) {
        return x.div(torch.linalg_vector_norm(x, new Scalar(2.0), new long[] {-1}, true, new ScalarTypeOptional()));
    }

    /** Inputs in {@code dt} (g and beta in F32) and float64 twins of the rounded values for the reference. */
    record Inputs(Tensor q, Tensor k, Tensor v, Tensor g, Tensor beta) {
        static Inputs random(long b, long t, long hq, long hkv, long dk, long dv, ScalarType dt, Gates gates, Betas betas) {
            Tensor q = unit(randn(1, b, t, hq, dk)).to(dt), k = unit(randn(1, b, t, hkv, dk)).to(dt);
            Tensor v = randn(1, b, t, hkv, dv).to(dt);
            Tensor g = switch (gates) {
                case NORMAL -> torch.log_sigmoid(randn(2, b, t, hkv).add(new Scalar(2.0)));
                case NEAR_ZERO -> torch.log_sigmoid(randn(1, b, t, hkv).add(new Scalar(12.0)));
                case VERY_NEGATIVE -> randn(1, b, t, hkv).sub(new Scalar(30.0));
            };
            TensorOptions f64 = new TensorOptions(ScalarType.Double);
            Tensor beta = switch (betas) {
                case RANDOM -> torch.rand(new long[] {b, t, hkv}, f64);
                case ZERO -> torch.zeros(new long[] {b, t, hkv}, f64);
                case ONE -> torch.ones(new long[] {b, t, hkv}, f64);
            };
            return new Inputs(q, k, v, g.to(ScalarType.Float), beta.to(ScalarType.Float));
        }
    }

    static Tensor d(Tensor t) {
        return t == null ? null : t.detach().to(ScalarType.Double).clone();
    }

    static double bound(ScalarType dt, double f32) {
        return dt == ScalarType.BFloat16 ? BF16_BOUND : f32;
    }

    // ---------------------------------------------------------------- forward

    @Test
    void forwardGrid() {
        assumeNativeGdn(GdnSupport.Entry.FORWARD);
        for (ScalarType dt : new ScalarType[] {ScalarType.Float, ScalarType.BFloat16})
            for (long[] h : HEADS)
                for (int t : LENGTHS) forwardCase(1, t, h[0], h[1], 64, 64, dt, Gates.NORMAL, Betas.RANDOM, t % 2 == 1, null);
        forwardCase(2, 130, 4, 1, 128, 128, ScalarType.Float, Gates.NORMAL, Betas.RANDOM, true, null);
        forwardCase(1, 200, 4, 2, 64, 128, ScalarType.Float, Gates.NORMAL, Betas.RANDOM, true, null);
        forwardCase(1, 130, 4, 1, 128, 64, ScalarType.BFloat16, Gates.NORMAL, Betas.RANDOM, false, null);
        assertNoFailures();
    }

    @Test
    void forwardGateAndBetaExtremes() {
        assumeNativeGdn(GdnSupport.Entry.FORWARD);
        for (Gates gates : Gates.values())
            for (Betas betas : Betas.values())
                forwardCase(1, 150, 4, 1, 64, 64, ScalarType.Float, gates, betas, true, null);
        assertNoFailures();
    }

    /** Packed sequences (one empty, lengths off the chunk grid) with per-sequence initial states. */
    @Test
    void forwardVarlen() {
        assumeNativeGdn(GdnSupport.Entry.FORWARD);
        long[][] cus = {{0, 70, 70, 200}, {0, 1, 64, 129, 300}, {0, 300}};
        for (long[] cu : cus) {
            forwardCase(1, (int) cu[cu.length - 1], 4, 1, 64, 64, ScalarType.Float, Gates.NORMAL, Betas.RANDOM, true, cu);
            forwardCase(1, (int) cu[cu.length - 1], 4, 4, 64, 64, ScalarType.BFloat16, Gates.NORMAL, Betas.RANDOM, false, cu);
        }
        assertNoFailures();
    }

    private void forwardCase(long b, int t, long hq, long hkv, long dk, long dv, ScalarType dt, Gates gates, Betas betas,
                             boolean withH0, long[] cu) {
        String name = String.format("gdn fwd B=%d T=%d Hq=%d Hkv=%d Dk=%d Dv=%d %s %s %s h0=%b cu=%s", b, t, hq, hkv, dk,
                dv, dt, gates, betas, withH0, cu == null ? "-" : java.util.Arrays.toString(cu));
        Inputs in = Inputs.random(b, t, hq, hkv, dk, dv, dt, gates, betas);
        long n = cu == null ? b : cu.length - 1;
        Tensor cuT = cu == null ? null : LigerOps.longTensor(cu);
        Tensor h0 = withH0 ? randn(0.5, n, hkv, dk, dv).to(ScalarType.Float) : null;
        float scale = 0.75f;
        Tensor o = poisoned(dt, b, t, hq, dv), ht = poisoned(ScalarType.Float, n, hkv, dk, dv);
        LigerOps.gdnForward(in.q(), in.k(), in.v(), in.g(), in.beta(), scale, h0, cuT, true, o, ht);
        GdnResult r = LigerReference.gdn(d(in.q()), d(in.k()), d(in.v()), d(in.g()), d(in.beta()), scale, d(h0), cuT);
        expectClose(name + " o", o, r.o().to(dt), bound(dt, F32_BOUND));
        expectClose(name + " ht", ht, r.ht(), bound(dt, F32_BOUND));
    }

    // ---------------------------------------------------------------- backward

    @Test
    void backwardMatchesReferenceAutograd() {
        assumeNativeGdn(GdnSupport.Entry.BACKWARD);
        backwardCase(1, 1, 4, 1, 64, 64, ScalarType.Float, Gates.NORMAL, Betas.RANDOM, true, null);
        backwardCase(1, 63, 1, 1, 64, 64, ScalarType.Float, Gates.NORMAL, Betas.RANDOM, false, null);
        backwardCase(1, 65, 4, 4, 64, 64, ScalarType.Float, Gates.NORMAL, Betas.RANDOM, true, null);
        backwardCase(2, 200, 4, 1, 64, 128, ScalarType.Float, Gates.NORMAL, Betas.RANDOM, true, null);
        backwardCase(1, 130, 4, 1, 128, 128, ScalarType.Float, Gates.NEAR_ZERO, Betas.ONE, true, null);
        backwardCase(1, 130, 4, 1, 64, 64, ScalarType.Float, Gates.VERY_NEGATIVE, Betas.RANDOM, true, null);
        backwardCase(1, 130, 4, 1, 64, 64, ScalarType.Float, Gates.NORMAL, Betas.ZERO, true, null);
        backwardCase(1, 500, 4, 1, 64, 64, ScalarType.Float, Gates.NORMAL, Betas.RANDOM, true, null);
        backwardCase(1, 200, 4, 1, 64, 64, ScalarType.BFloat16, Gates.NORMAL, Betas.RANDOM, true, null);
        backwardCase(1, 200, 4, 1, 64, 64, ScalarType.Float, Gates.NORMAL, Betas.RANDOM, true, new long[] {0, 70, 70, 200});
        assertNoFailures();
    }

    /** Compares dq, dk, dv, dg, dbeta and dh0, with a gradient dht on the final state. */
    private void backwardCase(long b, int t, long hq, long hkv, long dk, long dv, ScalarType dt, Gates gates, Betas betas,
                              boolean withH0, long[] cu) {
        String name = String.format("gdn bwd B=%d T=%d Hq=%d Hkv=%d Dk=%d Dv=%d %s %s %s h0=%b cu=%s", b, t, hq, hkv, dk,
                dv, dt, gates, betas, withH0, cu == null ? "-" : java.util.Arrays.toString(cu));
        Inputs in = Inputs.random(b, t, hq, hkv, dk, dv, dt, gates, betas);
        long n = cu == null ? b : cu.length - 1;
        Tensor cuT = cu == null ? null : LigerOps.longTensor(cu);
        Tensor h0 = withH0 ? randn(0.5, n, hkv, dk, dv).to(ScalarType.Float) : null;
        Tensor dO = randn(1, b, t, hq, dv).to(dt), dht = randn(1, n, hkv, dk, dv).to(ScalarType.Float);
        float scale = 0.75f;
        GdnGrads out = new GdnGrads(poisoned(in.q()), poisoned(in.k()), poisoned(in.v()), poisoned(in.g()),
                poisoned(in.beta()), withH0 ? poisoned(h0) : null);
        LigerOps.gdnBackward(in.q(), in.k(), in.v(), in.g(), in.beta(), scale, h0, cuT, dO, dht, withH0, out);
        Tensor q = d(in.q()).requires_grad_(true), k = d(in.k()).requires_grad_(true), v = d(in.v()).requires_grad_(true),
                g = d(in.g()).requires_grad_(true), beta = d(in.beta()).requires_grad_(true),
                h = withH0 ? d(h0).requires_grad_(true) : null;
        GdnResult r = LigerReference.gdn(q, k, v, g, beta, scale, h, cuT);
        r.o().mul(d(dO)).sum().add(r.ht().mul(d(dht)).sum()).backward();
        double bound = bound(dt, F32_GRAD_BOUND);
        expectClose(name + " dq", out.dq(), q.grad(), bound);
        expectClose(name + " dk", out.dk(), k.grad(), bound);
        expectClose(name + " dv", out.dv(), v.grad(), bound);
        expectClose(name + " dg", out.dg(), g.grad(),
                bound(dt, gates == Gates.VERY_NEGATIVE ? F32_DG_EXTREME_BOUND : F32_DG_BOUND));
        expectClose(name + " dbeta", out.dbeta(), beta.grad(), bound(dt, F32_DG_BOUND));
        if (withH0) expectClose(name + " dh0", out.dh0(), h.grad(), bound);
    }

    // ---------------------------------------------------------------- decode and state continuation

    /** N decode steps (state updated in place) give the outputs and final state of one forward. */
    @Test
    void decodeEqualsForward() {
        assumeNativeGdn(GdnSupport.Entry.FORWARD, GdnSupport.Entry.DECODE);
        for (ScalarType dt : new ScalarType[] {ScalarType.Float, ScalarType.BFloat16}) {
            long n = 3, t = 70, hq = 4, hkv = 2, dk = 64, dv = 32;
            Inputs in = Inputs.random(n, t, hq, hkv, dk, dv, dt, Gates.NORMAL, Betas.RANDOM);
            Tensor h0 = randn(0.5, n, hkv, dk, dv).to(ScalarType.Float);
            GdnResult full = LigerOps.gdnForward(in.q(), in.k(), in.v(), in.g(), in.beta(), 1f, h0, null, true);
            Tensor state = h0.clone();
            List<Tensor> steps = new ArrayList<>();
            for (long s = 0; s < t; s++) {
                Tensor o = poisoned(dt, n, 1, hq, dv);
                LigerOps.gdnDecode(in.q().narrow(1, s, 1), in.k().narrow(1, s, 1), in.v().narrow(1, s, 1),
                        in.g().narrow(1, s, 1), in.beta().narrow(1, s, 1), 1f, state, o);
                steps.add(o);
            }
            Tensor dec = torch.cat(new TensorVector(steps.toArray(new Tensor[0])), 1);
            GdnResult ref = LigerReference.gdn(d(in.q()), d(in.k()), d(in.v()), d(in.g()), d(in.beta()), 1.0, d(h0), null);
            expectClose("decode vs forward o " + dt, dec, full.o(), bound(dt, F32_BOUND));
            expectClose("decode vs forward ht " + dt, state, full.ht(), bound(dt, F32_BOUND));
            expectClose("decode vs reference o " + dt, dec, ref.o().to(dt), bound(dt, F32_BOUND));
        }
        assertNoFailures();
    }

    /** A forward over A then one over B from A's final state equals one forward over A+B. */
    @Test
    void finalStateContinues() {
        assumeNativeGdn(GdnSupport.Entry.FORWARD);
        Inputs in = Inputs.random(2, 150, 4, 1, 64, 64, ScalarType.Float, Gates.NORMAL, Betas.RANDOM);
        GdnResult whole = LigerOps.gdnForward(in.q(), in.k(), in.v(), in.g(), in.beta(), 1f, null, null, true);
        int a = 77;
        GdnResult first = LigerOps.gdnForward(in.q().narrow(1, 0, a), in.k().narrow(1, 0, a), in.v().narrow(1, 0, a),
                in.g().narrow(1, 0, a), in.beta().narrow(1, 0, a), 1f, null, null, true);
        GdnResult rest = LigerOps.gdnForward(in.q().narrow(1, a, 150 - a), in.k().narrow(1, a, 150 - a),
                in.v().narrow(1, a, 150 - a), in.g().narrow(1, a, 150 - a), in.beta().narrow(1, a, 150 - a), 1f,
                first.ht(), null, true);
        expectClose("continued o", rest.o(), whole.o().narrow(1, a, 150 - a), F32_BOUND);
        expectClose("continued ht", rest.ht(), whole.ht(), F32_BOUND);
        assertNoFailures();
    }

    // ---------------------------------------------------------------- bad arguments

    static void expectMessage(Class<? extends Throwable> type, String fragment, Executable call) {
        Throwable e = assertThrows(type, call);
        assertTrue(e.getMessage().contains(fragment), "message '" + e.getMessage() + "' should mention '" + fragment + "'");
    }

    /** Java-side checks name the argument; overlapping outputs are refused by the native checks. */
    @Test
    void badArgumentsNameTheArgument() {
        ScalarType f = ScalarType.Float;
        Tensor q = randn(1, 1, 8, 4, 64).to(f), k = randn(1, 1, 8, 2, 64).to(f), v = randn(1, 1, 8, 2, 32).to(f);
        Tensor g = torch.zeros(new long[] {1, 8, 2}), beta = torch.ones(new long[] {1, 8, 2});
        Class<IllegalArgumentException> iae = IllegalArgumentException.class;
        expectMessage(iae, "q is required", () -> LigerOps.gdnForward(null, k, v, g, beta, 1f, null, null, false));
        expectMessage(iae, "g must have rank 3",
                () -> LigerOps.gdnForward(q, k, v, torch.zeros(new long[] {1, 8, 2, 64}), beta, 1f, null, null, false));
        expectMessage(iae, "beta must be [1, 8, 2]",
                () -> LigerOps.gdnForward(q, k, v, g, torch.ones(new long[] {1, 8, 4}), 1f, null, null, false));
        expectMessage(iae, "beta is required", () -> LigerOps.gdnForward(q, k, v, g, null, 1f, null, null, false));
        expectMessage(iae, "beta must be F32 or the input dtype",
                () -> LigerOps.gdnForward(q, k, v, g, beta.to(ScalarType.Double), 1f, null, null, false));
        expectMessage(iae, "g must be F32 or the input dtype",
                () -> LigerOps.gdnForward(q.to(ScalarType.BFloat16), k.to(ScalarType.BFloat16), v.to(ScalarType.BFloat16),
                        g.to(ScalarType.Half), beta, 1f, null, null, false));
        expectMessage(iae, "v must be", () -> LigerOps.gdnForward(q, k, randn(1, 1, 7, 2, 32).to(f), g, beta, 1f, null, null, false));
        expectMessage(iae, "multiple of Hkv",
                () -> LigerOps.gdnForward(randn(1, 1, 8, 3, 64).to(f), k, v, g, beta, 1f, null, null, false));
        expectMessage(iae, "scale must be finite", () -> LigerOps.gdnForward(q, k, v, g, beta, Float.POSITIVE_INFINITY, null, null, false));
        expectMessage(iae, "h0 must be [1, 2, 64, 32]",
                () -> LigerOps.gdnForward(q, k, v, g, beta, 1f, torch.zeros(new long[] {1, 2, 32, 64}), null, false));
        expectMessage(iae, "h0 must be F32",
                () -> LigerOps.gdnForward(q, k, v, g, beta, 1f, torch.zeros(new long[] {1, 2, 64, 32}).to(ScalarType.BFloat16), null, false));
        expectMessage(iae, "cu_seqlens[N] must equal T",
                () -> LigerOps.gdnForward(q, k, v, g, beta, 1f, null, LigerOps.longTensor(0, 3, 7), false));
        expectMessage(iae, "h0 must be [2, 2, 64, 32]",
                () -> LigerOps.gdnForward(q, k, v, g, beta, 1f, torch.zeros(new long[] {1, 2, 64, 32}), LigerOps.longTensor(0, 3, 8), false));
        expectMessage(iae, "do must be",
                () -> LigerOps.gdnBackward(q, k, v, g, beta, 1f, null, null, randn(1, 1, 8, 4, 64).to(f), null, false));
        expectMessage(iae, "dht must be",
                () -> LigerOps.gdnBackward(q, k, v, g, beta, 1f, null, null, randn(1, 1, 8, 4, 32).to(f),
                        torch.zeros(new long[] {1, 2, 64, 64}), false));
        expectMessage(iae, "one token per sequence",
                () -> LigerOps.gdnDecode(q, k, v, g, beta, 1f, torch.zeros(new long[] {1, 2, 64, 32})));
        expectMessage(iae, "state is required",
                () -> LigerOps.gdnDecode(q.narrow(1, 0, 1), k.narrow(1, 0, 1), v.narrow(1, 0, 1), g.narrow(1, 0, 1),
                        beta.narrow(1, 0, 1), 1f, null));
        expectMessage(iae, "h0 must be contiguous",
                () -> LigerOps.gdnDecode(q.narrow(1, 0, 1), k.narrow(1, 0, 1), v.narrow(1, 0, 1), g.narrow(1, 0, 1),
                        beta.narrow(1, 0, 1), 1f, torch.zeros(new long[] {1, 2, 32, 64}).transpose(2, 3)));
        // the output aliasing an input passes the Java shape checks and is refused natively, before any write
        Tensor qq = randn(1, 1, 8, 2, 32).to(f);
        LigerKernelException e = assertThrows(LigerKernelException.class,
                () -> LigerOps.gdnForward(qq, randn(1, 1, 8, 2, 32).to(f), v, g, beta, 1f, null, null, false, v, null));
        assertTrue(e.status() == LigerKernels.LIGER_ERR_INVALID_ARGUMENT, e.getMessage());
        assertTrue(e.getMessage().contains("liger_gdn_forward") && e.getMessage().contains("v"), e.getMessage());
    }
}
