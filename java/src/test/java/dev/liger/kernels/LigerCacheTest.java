package dev.liger.kernels;

import static dev.liger.kernels.KernelTestSupport.poisoned;
import static dev.liger.kernels.KernelTestSupport.randn;
import static dev.liger.kernels.KernelTestSupport.relErr;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.liger.kernels.LigerOps.AttnGrads;
import dev.liger.kernels.LigerOps.AttnResult;
import dev.liger.kernels.LigerOps.GlaGrads;
import dev.liger.kernels.LigerOps.GlaResult;
import dev.liger.kernels.reference.LigerReference;
import dev.liger.kernels.reference.LigerReference.Mode;
import java.util.ArrayList;
import java.util.List;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Cache semantics of the native kernels: decode of N tokens equals prefill of N, prefill A then B equals
 * prefill A+B, packed variable-length batches equal separate sequences; each also against the float64
 * reference. Same error measure and bounds as {@link LigerOpsTest}.
 */
class LigerCacheTest {
    static final double F32 = LigerOpsTest.F32_BOUND;
    static final double BF16 = LigerOpsTest.BF16_BOUND;

    private final List<String> failures = new ArrayList<>();
    private final java.util.TreeMap<Double, String> worst = new java.util.TreeMap<>(); // bound -> largest error seen

    @BeforeEach
    void seed() {
        torch.manual_seed(4242);
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

    /** States, positions, and the window slots that hold tokens (others are unspecified). */
    private void expectCache(String what, LigerCache actual, LigerCache expect, double bound) {
        long[] pos = LigerOps.longs(expect.pos());
        if (!java.util.Arrays.equals(pos, LigerOps.longs(actual.pos()))) {
            failures.add(what + ": pos " + java.util.Arrays.toString(LigerOps.longs(actual.pos())) + " != "
                    + java.util.Arrays.toString(pos));
            return;
        }
        expectClose(what + " state", actual.state(), expect.state(), bound);
        if (expect.winK() == null) return;
        long ring = expect.winK().size(2);
        for (int n = 0; n < pos.length; n++) {
            long from = Math.max(0, pos[n] - ring);
            if (from == pos[n]) continue;
            Tensor idx = slots(from, pos[n], ring);
            expectClose(what + " winK[" + n + "]", torch.index_select(actual.winK().select(0, n), 1, idx),
                    torch.index_select(expect.winK().select(0, n), 1, idx), bound);
            expectClose(what + " winV[" + n + "]", torch.index_select(actual.winV().select(0, n), 1, idx),
                    torch.index_select(expect.winV().select(0, n), 1, idx), bound);
        }
    }

    private static Tensor slots(long from, long to, long ring) {
        long[] s = new long[(int) (to - from)];
        for (int i = 0; i < s.length; i++) s[i] = (from + i) % ring;
        return LigerOps.longTensor(s);
    }

    static LigerCache toF64(LigerCache c) {
        return new LigerCache(c.state().to(ScalarType.Double), c.winK() == null ? null : c.winK().to(ScalarType.Double),
                c.winV() == null ? null : c.winV().to(ScalarType.Double), c.pos());
    }

    static Tensor d(Tensor t) {
        return t.to(ScalarType.Double);
    }

    @Test
    void decodeOfNTokensEqualsPrefill() {
        for (ScalarType dt : new ScalarType[] {ScalarType.Float, ScalarType.BFloat16})
            for (int w : new int[] {64, 16, 1})
                decodeCase(dt, 2, 4, 1, 64, 100, w);
        decodeCase(ScalarType.Float, 1, 4, 4, 128, 70, 64);
        assertNoFailures();
    }

    private void decodeCase(ScalarType dt, long n, long hq, long hkv, long d, int total, int w) {
        String name = String.format("decode N=%d Hq=%d Hkv=%d D=%d T=%d W=%d %s", n, hq, hkv, d, total, w, dt);
        double bound = dt == ScalarType.BFloat16 ? BF16 : F32;
        LigerAttnConfig cfg = LigerAttnConfig.defaults().withWindow(w);
        RopeTables rope = LigerOpsTest.rope(d);
        Tensor q = randn(1, n, total, hq, d).to(dt), k = randn(1, n, total, hkv, d).to(dt), v = randn(1, n, total, hkv, d).to(dt);
        AttnResult prefill = LigerOps.attnForward(q, k, v, cfg, rope, null, null, true);
        LigerCache cache = LigerCache.empty(n, hkv, d, w);
        List<Tensor> steps = new ArrayList<>();
        for (int i = 0; i < total; i++) {
            Tensor o = poisoned(dt, n, 1, hq, d);
            LigerOps.attnDecode(q.narrow(1, i, 1), k.narrow(1, i, 1), v.narrow(1, i, 1), cfg, rope, cache, o);
            steps.add(o);
        }
        Tensor decoded = torch.cat(new TensorVector(steps.toArray(new Tensor[0])), 1);
        // same kernels, same inputs: decode and prefill differ only by summation order
        expectClose(name + " decode vs prefill o", decoded, prefill.o(), bound);
        expectCache(name + " decode vs prefill cache", cache, prefill.cache(), bound);
        AttnResult ref = LigerReference.attention(d(q), d(k), d(v), cfg, rope, null, null, Mode.CHUNKED);
        expectClose(name + " decode vs reference o", decoded, ref.o().to(dt), bound);
        expectCache(name + " prefill cache vs reference", toF64(prefill.cache()), ref.cache(), bound);
    }

    @Test
    void prefillAThenBEqualsPrefillAPlusB() {
        for (int a : new int[] {1, 40, 63, 64, 65, 130})
            continuationCase(ScalarType.Float, 2, 4, 1, 64, a, 200 - a, 64);
        continuationCase(ScalarType.BFloat16, 1, 4, 4, 64, 70, 60, 64);
        continuationCase(ScalarType.Float, 1, 4, 4, 128, 33, 100, 16);
        assertNoFailures();
    }

    private void continuationCase(ScalarType dt, long b, long hq, long hkv, long d, int a, int bLen, int w) {
        String name = String.format("continue B=%d Hq=%d Hkv=%d D=%d A=%d B=%d W=%d %s", b, hq, hkv, d, a, bLen, w, dt);
        double bound = dt == ScalarType.BFloat16 ? BF16 : F32;
        LigerAttnConfig cfg = LigerAttnConfig.defaults().withWindow(w);
        RopeTables rope = LigerOpsTest.rope(d);
        int total = a + bLen;
        Tensor q = randn(1, b, total, hq, d).to(dt), k = randn(1, b, total, hkv, d).to(dt), v = randn(1, b, total, hkv, d).to(dt);
        AttnResult whole = LigerOps.attnForward(q, k, v, cfg, rope, null, null, true);
        AttnResult first = LigerOps.attnForward(q.narrow(1, 0, a), k.narrow(1, 0, a), v.narrow(1, 0, a), cfg, rope, null,
                null, true);
        Tensor o2 = poisoned(dt, b, bLen, hq, d);
        AttnResult second = LigerOps.attnForward(q.narrow(1, a, bLen), k.narrow(1, a, bLen), v.narrow(1, a, bLen), cfg,
                rope, null, first.cache(), true, o2);
        Tensor joined = torch.cat(new TensorVector(first.o(), o2), 1);
        expectClose(name + " o", joined, whole.o(), bound);
        expectCache(name + " cache", second.cache(), whole.cache(), bound);
        AttnResult ref = LigerReference.attention(d(q), d(k), d(v), cfg, rope, null, null, Mode.CHUNKED);
        expectClose(name + " o vs reference", joined, ref.o().to(dt), bound);
    }

    @Test
    void glaStateCarryEqualsWholeSequence() {
        int t = 150;
        for (int a : new int[] {1, 64, 100}) {
            Tensor q = torch.softmax(randn(1, 1, t, 4, 64), -1).to(ScalarType.Float);
            Tensor k = torch.softmax(randn(1, 1, t, 1, 64), -1).to(ScalarType.Float);
            Tensor v = randn(1, 1, t, 1, 64).to(ScalarType.Float);
            Tensor g = torch.log_sigmoid(randn(2, 1, t, 1, 64)).to(ScalarType.Float);
            GlaResult whole = LigerOps.glaForward(q, k, v, g, 0.125f, null, null, true);
            GlaResult first = LigerOps.glaForward(q.narrow(1, 0, a), k.narrow(1, 0, a), v.narrow(1, 0, a),
                    g.narrow(1, 0, a), 0.125f, null, null, true);
            GlaResult second = LigerOps.glaForward(q.narrow(1, a, t - a), k.narrow(1, a, t - a), v.narrow(1, a, t - a),
                    g.narrow(1, a, t - a), 0.125f, first.ht(), null, true);
            expectClose("gla carry A=" + a + " o", torch.cat(new TensorVector(first.o(), second.o()), 1), whole.o(), F32);
            expectClose("gla carry A=" + a + " ht", second.ht(), whole.ht(), F32);
        }
        assertNoFailures();
    }

    // ---------------------------------------------------------------- variable-length batches

    static final long[] LENS = {1, 63, 0, 65, 200, 64};

    @Test
    void varlenAttentionEqualsSeparateSequences() {
        long total = 0;
        long[] cu = new long[LENS.length + 1];
        for (int i = 0; i < LENS.length; i++) cu[i + 1] = total += LENS[i];
        Tensor cuT = LigerOps.longTensor(cu);
        LigerAttnConfig cfg = LigerAttnConfig.defaults();
        RopeTables rope = LigerOpsTest.rope(64);
        for (ScalarType dt : new ScalarType[] {ScalarType.Float, ScalarType.BFloat16}) {
            double bound = dt == ScalarType.BFloat16 ? BF16 : F32;
            Tensor q = randn(1, 1, total, 4, 64).to(dt), k = randn(1, 1, total, 1, 64).to(dt), v = randn(1, 1, total, 1, 64).to(dt);
            Tensor o = poisoned(dt, 1, total, 4, 64);
            AttnResult packed = LigerOps.attnForward(q, k, v, cfg, rope, cuT, null, true, o);
            AttnResult ref = LigerReference.attention(d(q), d(k), d(v), cfg, rope, cuT, null, Mode.CHUNKED);
            expectClose("varlen fwd " + dt + " o vs reference", o, ref.o().to(dt), bound);
            expectCache("varlen fwd " + dt + " cache vs reference", toF64(packed.cache()), ref.cache(), bound);
            for (int n = 0; n < LENS.length; n++) {
                if (LENS[n] == 0) continue;
                AttnResult one = LigerOps.attnForward(q.narrow(1, cu[n], LENS[n]), k.narrow(1, cu[n], LENS[n]),
                        v.narrow(1, cu[n], LENS[n]), cfg, rope, null, null, false);
                expectClose("varlen fwd " + dt + " sequence " + n, o.narrow(1, cu[n], LENS[n]), one.o(), bound);
            }
            Tensor dO = randn(1, 1, total, 4, 64).to(dt);
            AttnGrads g = new AttnGrads(poisoned(q), poisoned(k), poisoned(v));
            LigerOps.attnBackward(q, k, v, dO, cfg, rope, cuT, g);
            Tensor q64 = d(q).clone().requires_grad_(true), k64 = d(k).clone().requires_grad_(true),
                    v64 = d(v).clone().requires_grad_(true);
            LigerReference.attention(q64, k64, v64, cfg, rope, cuT, null, Mode.CHUNKED).o().mul(d(dO)).sum().backward();
            expectClose("varlen bwd " + dt + " dq", g.dq(), q64.grad(), bound);
            expectClose("varlen bwd " + dt + " dk", g.dk(), k64.grad(), bound);
            expectClose("varlen bwd " + dt + " dv", g.dv(), v64.grad(), bound);
        }
        assertNoFailures();
    }

    @Test
    void varlenWithCacheContinuesEachSequence() {
        long[] lensA = {5, 70, 1}, lensB = {64, 3, 130};
        LigerAttnConfig cfg = LigerAttnConfig.defaults().withWindow(16);
        RopeTables rope = LigerOpsTest.rope(64);
        Tensor[] qs = new Tensor[3], ks = new Tensor[3], vs = new Tensor[3];
        for (int n = 0; n < 3; n++) {
            long len = lensA[n] + lensB[n];
            qs[n] = randn(1, 1, len, 4, 64).to(ScalarType.Float);
            ks[n] = randn(1, 1, len, 1, 64).to(ScalarType.Float);
            vs[n] = randn(1, 1, len, 1, 64).to(ScalarType.Float);
        }
        AttnResult a = LigerOps.attnForward(pack(qs, lensA, null), pack(ks, lensA, null), pack(vs, lensA, null), cfg, rope,
                cu(lensA), null, true);
        AttnResult b = LigerOps.attnForward(pack(qs, lensB, lensA), pack(ks, lensB, lensA), pack(vs, lensB, lensA), cfg,
                rope, cu(lensB), a.cache(), true);
        long[] cuB = LigerOps.longs(cu(lensB));
        for (int n = 0; n < 3; n++) {
            AttnResult whole = LigerOps.attnForward(qs[n], ks[n], vs[n], cfg, rope, null, null, true);
            expectClose("varlen+cache sequence " + n, b.o().narrow(1, cuB[n], lensB[n]),
                    whole.o().narrow(1, lensA[n], lensB[n]), F32);
            LigerCache one = new LigerCache(b.cache().state().narrow(0, n, 1), b.cache().winK().narrow(0, n, 1),
                    b.cache().winV().narrow(0, n, 1), b.cache().pos().narrow(0, n, 1));
            expectCache("varlen+cache sequence " + n, one, whole.cache(), F32);
        }
        assertArrayEquals(new long[] {69, 73, 131}, LigerOps.longs(b.cache().pos()));
        assertNoFailures();
    }

    private static Tensor cu(long[] lens) {
        long[] c = new long[lens.length + 1];
        for (int i = 0; i < lens.length; i++) c[i + 1] = c[i] + lens[i];
        return LigerOps.longTensor(c);
    }

    private static Tensor pack(Tensor[] seqs, long[] lens, long[] starts) {
        Tensor[] parts = new Tensor[seqs.length];
        for (int n = 0; n < seqs.length; n++) parts[n] = seqs[n].narrow(1, starts == null ? 0 : starts[n], lens[n]);
        return torch.cat(new TensorVector(parts), 1);
    }

    @Test
    void varlenGlaEqualsSeparateSequences() {
        long total = 0;
        long[] cu = new long[LENS.length + 1];
        for (int i = 0; i < LENS.length; i++) cu[i + 1] = total += LENS[i];
        Tensor cuT = LigerOps.longTensor(cu);
        long n = LENS.length;
        Tensor q = torch.softmax(randn(1, 1, total, 4, 64), -1).to(ScalarType.Float);
        Tensor k = torch.softmax(randn(1, 1, total, 4, 64), -1).to(ScalarType.Float);
        Tensor v = randn(1, 1, total, 4, 64).to(ScalarType.Float);
        Tensor g = torch.log_sigmoid(randn(2, 1, total, 4, 64)).to(ScalarType.Float);
        Tensor h0 = randn(1, n, 4, 64, 64).to(ScalarType.Float);
        Tensor o = poisoned(ScalarType.Float, 1, total, 4, 64), ht = poisoned(ScalarType.Float, n, 4, 64, 64);
        LigerOps.glaForward(q, k, v, g, 0.125f, h0, cuT, true, o, ht);
        GlaResult ref = LigerReference.gla(d(q), d(k), d(v), d(g), 0.125f, d(h0), cuT, Mode.CHUNKED);
        expectClose("varlen gla o", o, ref.o(), F32);
        expectClose("varlen gla ht", ht, ref.ht(), F32);
        Tensor dO = randn(1, 1, total, 4, 64).to(ScalarType.Float);
        GlaGrads grads = new GlaGrads(poisoned(q), poisoned(k), poisoned(v), poisoned(g), poisoned(h0));
        LigerOps.glaBackward(q, k, v, g, 0.125f, h0, cuT, dO, null, true, grads);
        Tensor[] x = {d(q).clone().requires_grad_(true), d(k).clone().requires_grad_(true),
            d(v).clone().requires_grad_(true), d(g).clone().requires_grad_(true), d(h0).clone().requires_grad_(true)};
        LigerReference.gla(x[0], x[1], x[2], x[3], 0.125f, x[4], cuT, Mode.CHUNKED).o().mul(d(dO)).sum().backward();
        Tensor[] got = {grads.dq(), grads.dk(), grads.dv(), grads.dg(), grads.dh0()};
        String[] names = {"dq", "dk", "dv", "dg", "dh0"};
        for (int i = 0; i < 5; i++)
            expectClose("varlen gla " + names[i], got[i], x[i].grad(), i == 3 ? LigerOpsTest.F32_DG_BOUND : F32);
        assertNoFailures();
    }
}
