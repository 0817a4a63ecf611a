package dev.liger.kernels.reference;

import static dev.liger.kernels.KernelTestSupport.randn;
import static dev.liger.kernels.KernelTestSupport.relErr;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.liger.kernels.LigerAttnConfig;
import dev.liger.kernels.LigerCache;
import dev.liger.kernels.LigerOps;
import dev.liger.kernels.LigerOps.AttnResult;
import dev.liger.kernels.LigerOps.GlaResult;
import dev.liger.kernels.RopeTables;
import dev.liger.kernels.reference.LigerReference.Features;
import dev.liger.kernels.reference.LigerReference.Mode;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The libtorch reference against independent formulations (explicit loops over doubles, brute force). */
class LigerReferenceTest {

    @BeforeEach
    void seed() {
        torch.manual_seed(1234);
    }

    static double[] doubles(Tensor t) {
        Tensor c = t.detach().to(ScalarType.Double).contiguous();
        double[] a = new double[(int) c.numel()];
        c.data_ptr_double().get(a);
        return a;
    }

    /** o_t = scale * sum_{j<=t} (q_t * exp(sum_{s=j+1..t} g_s)) . k_j  v_j, evaluated with plain loops. */
    @Test
    void grmMatchesExplicitSum() {
        int t = 7, hq = 4, hkv = 2, dk = 3, dv = 2;
        double scale = 0.7;
        Tensor q = randn(1, 1, t, hq, dk), k = randn(1, 1, t, hkv, dk), v = randn(1, 1, t, hkv, dv);
        Tensor g = torch.log_sigmoid(randn(2, 1, t, hkv, dk));
        Tensor h0 = randn(1, 1, hkv, dk, dv);
        double[] qa = doubles(q), ka = doubles(k), va = doubles(v), ga = doubles(g), ha = doubles(h0);
        for (Mode mode : Mode.values()) {
            GlaResult r = LigerReference.gla(q, k, v, g, scale, h0, null, mode);
            double[] o = doubles(r.o()), ht = doubles(r.ht());
            for (int i = 0; i < t; i++)
                for (int h = 0; h < hq; h++)
                    for (int e = 0; e < dv; e++) {
                        int kh = h / (hq / hkv);
                        double acc = 0;
                        for (int a = 0; a < dk; a++) {
                            double decayToI = 0; // sum_{s=0..i} g_s
                            for (int s = 0; s <= i; s++) decayToI += ga[(s * hkv + kh) * dk + a];
                            acc += qa[(i * hq + h) * dk + a] * Math.exp(decayToI) * ha[(kh * dk + a) * dv + e];
                            for (int j = 0; j <= i; j++) {
                                double decay = 0;
                                for (int s = j + 1; s <= i; s++) decay += ga[(s * hkv + kh) * dk + a];
                                acc += qa[(i * hq + h) * dk + a] * Math.exp(decay) * ka[(j * hkv + kh) * dk + a]
                                        * va[(j * hkv + kh) * dv + e];
                            }
                        }
                        assertEquals(scale * acc, o[(i * hq + h) * dv + e], 1e-12, mode + " o[" + i + "," + h + "," + e + "]");
                    }
            // final state S_T = exp(G_T) h0 + sum_j exp(G_T - G_j) k_j^T v_j
            for (int kh = 0; kh < hkv; kh++)
                for (int a = 0; a < dk; a++)
                    for (int e = 0; e < dv; e++) {
                        double total = 0;
                        for (int s = 0; s < t; s++) total += ga[(s * hkv + kh) * dk + a];
                        double acc = Math.exp(total) * ha[(kh * dk + a) * dv + e], run = total;
                        for (int j = 0; j < t; j++) {
                            run -= ga[(j * hkv + kh) * dk + a];
                            acc += Math.exp(run) * ka[(j * hkv + kh) * dk + a] * va[(j * hkv + kh) * dv + e];
                        }
                        assertEquals(acc, ht[(kh * dk + a) * dv + e], 1e-12, mode + " ht");
                    }
        }
    }

    @Test
    void chunkedMatchesNaive() {
        for (int t : new int[] {1, 63, 64, 65, 200}) {
            Tensor q = randn(1, 2, t, 4, 16), k = randn(1, 2, t, 2, 16), v = randn(1, 2, t, 2, 8);
            Tensor g = torch.log_sigmoid(randn(3, 2, t, 2, 16));
            Tensor h0 = randn(1, 2, 2, 16, 8);
            GlaResult a = LigerReference.gla(q, k, v, g, 0.5, h0, null, Mode.NAIVE);
            GlaResult b = LigerReference.gla(q, k, v, g, 0.5, h0, null, Mode.CHUNKED);
            assertTrue(relErr(b.o(), a.o()) < 1e-12, "T=" + t + " o " + relErr(b.o(), a.o()));
            assertTrue(relErr(b.ht(), a.ht()) < 1e-12, "T=" + t + " ht " + relErr(b.ht(), a.ht()));
        }
    }

    @Test
    void ropeIsHuggingFaceRotateHalf() {
        int d = 8, p = 5;
        double theta = 10000;
        RopeTables rope = RopeTables.standard(theta, d, 16);
        Tensor x = randn(1, p, 1, d);
        double[] xa = doubles(x), ya = doubles(LigerReference.rope(x, rope, 3));
        for (int t = 0; t < p; t++)
            for (int j = 0; j < d / 2; j++) {
                double ang = (t + 3) * Math.pow(theta, -2.0 * j / d);
                double x1 = xa[t * d + j], x2 = xa[t * d + j + d / 2];
                assertEquals(x1 * Math.cos(ang) - x2 * Math.sin(ang), ya[t * d + j], 1e-6);
                assertEquals(x2 * Math.cos(ang) + x1 * Math.sin(ang), ya[t * d + j + d / 2], 1e-6);
            }
    }

    /** SWA-only output equals softmax attention computed token by token over its own window. */
    @Test
    void windowAttentionMatchesBruteForce() {
        int t = 150, hq = 4, hkv = 2, d = 8, w = 16;
        LigerAttnConfig cfg = LigerAttnConfig.defaults().withMix(0f).withWindow(w);
        RopeTables rope = RopeTables.standard(10000, d, 256);
        Tensor q = randn(1, 1, t, hq, d), k = randn(1, 1, t, hkv, d), v = randn(1, 1, t, hkv, d);
        Tensor o = LigerReference.attention(q, k, v, cfg, rope, null, null, Mode.CHUNKED).o().select(0, 0);
        Tensor qr = LigerReference.rope(q.select(0, 0), rope, 0), kr = LigerReference.rope(k.select(0, 0), rope, 0);
        Tensor vv = v.select(0, 0);
        for (int i = 0; i < t; i += 7) {
            int j0 = Math.max(0, i - w + 1);
            for (int h = 0; h < hq; h++) {
                int kh = h / (hq / hkv);
                Tensor keys = kr.narrow(0, j0, i - j0 + 1).select(1, kh); // [L, D]
                Tensor p = torch.softmax(torch.matmul(keys, qr.select(0, i).select(0, h)).mul(new org.bytedeco.pytorch.Scalar((double) cfg.swaScaleFor(d))), 0);
                Tensor expect = torch.matmul(p, vv.narrow(0, j0, i - j0 + 1).select(1, kh));
                assertTrue(relErr(o.select(0, i).select(0, h), expect) < 1e-12, "t=" + i + " h=" + h);
            }
        }
    }

    /** Feature maps per variant, gate off, and the mix of the two branches. */
    @Test
    void featureMapsAndMix() {
        Tensor q = randn(1, 3, 5, 8), k = randn(1, 3, 5, 8);
        LigerAttnConfig gla = LigerAttnConfig.defaults();
        Features f = LigerReference.featureMaps(q, k, gla);
        assertTrue(relErr(f.phiK().sum(-1), torch.ones_like(f.phiK().sum(-1))) < 1e-14);
        assertTrue(relErr(f.g(), torch.log_sigmoid(k).div(new org.bytedeco.pytorch.Scalar(16.0))) < 1e-14);
        Features h = LigerReference.featureMaps(q, k, gla.withVariant(LigerAttnConfig.Variant.HGRN2));
        assertTrue(relErr(h.phiK().add(torch.sigmoid(k)), torch.ones_like(k)) < 1e-14);
        assertTrue(relErr(h.g(), torch.log_sigmoid(k)) < 1e-14);
        assertEquals(0.0, LigerReference.featureMaps(q, k, gla.withUseGate(false)).g().abs().sum().item_double());

        int t = 40, d = 8;
        RopeTables rope = RopeTables.standard(10000, d, 64);
        Tensor qq = randn(1, 1, t, 2, d), kk = randn(1, 1, t, 1, d), vv = randn(1, 1, t, 1, d);
        LigerAttnConfig c = gla.withWindow(8);
        Tensor grm = LigerReference.attention(qq, kk, vv, c.withMix(1f), rope, null, null, Mode.NAIVE).o();
        Tensor swa = LigerReference.attention(qq, kk, vv, c.withMix(0f), rope, null, null, Mode.NAIVE).o();
        Tensor mixed = LigerReference.attention(qq, kk, vv, c.withMix(0.3f), rope, null, null, Mode.NAIVE).o();
        double a = (double) 0.3f;
        assertTrue(relErr(mixed, grm.mul(new org.bytedeco.pytorch.Scalar(a)).add(swa.mul(new org.bytedeco.pytorch.Scalar(1 - a)))) < 1e-14);
    }

    /** Prefill of A then B through the cache equals prefill of A+B; token-by-token equals prefill. */
    @Test
    void cacheContinuationAndDecode() {
        int d = 8, w = 16, total = 45;
        RopeTables rope = RopeTables.standard(10000, d, 128);
        LigerAttnConfig cfg = LigerAttnConfig.defaults().withWindow(w);
        Tensor q = randn(1, 2, total, 4, d), k = randn(1, 2, total, 2, d), v = randn(1, 2, total, 2, d);
        AttnResult full = LigerReference.attention(q, k, v, cfg, rope, null, null, Mode.CHUNKED);
        for (int a : new int[] {0, 5, 15, 16, 40}) {
            AttnResult first = LigerReference.attention(q.narrow(1, 0, a), k.narrow(1, 0, a), v.narrow(1, 0, a), cfg, rope,
                    null, null, Mode.CHUNKED);
            AttnResult second = LigerReference.attention(q.narrow(1, a, total - a), k.narrow(1, a, total - a),
                    v.narrow(1, a, total - a), cfg, rope, null, first.cache(), Mode.CHUNKED);
            Tensor o = torch.cat(new TensorVector(first.o(), second.o()), 1);
            assertTrue(relErr(o, full.o()) < 1e-12, "A=" + a);
            assertCacheEquals(full.cache(), second.cache(), 1e-12);
        }
        LigerCache cache = null;
        Tensor[] steps = new Tensor[total];
        for (int i = 0; i < total; i++) {
            AttnResult r = LigerReference.attention(q.narrow(1, i, 1), k.narrow(1, i, 1), v.narrow(1, i, 1), cfg, rope,
                    null, cache, Mode.NAIVE);
            steps[i] = r.o();
            cache = r.cache();
        }
        assertTrue(relErr(torch.cat(new TensorVector(steps), 1), full.o()) < 1e-12);
        assertCacheEquals(full.cache(), cache, 1e-12);
    }

    /** Packed sequences (cu_seqlens) equal separate calls: states, windows and positions restart. */
    @Test
    void varlenEqualsSeparateSequences() {
        int d = 8;
        long[] lens = {10, 0, 70, 3};
        long total = 83;
        RopeTables rope = RopeTables.standard(10000, d, 128);
        LigerAttnConfig cfg = LigerAttnConfig.defaults().withWindow(8);
        Tensor q = randn(1, 1, total, 2, d), k = randn(1, 1, total, 1, d), v = randn(1, 1, total, 1, d);
        Tensor cu = LigerOps.longTensor(0, 10, 10, 80, 83);
        AttnResult packed = LigerReference.attention(q, k, v, cfg, rope, cu, null, Mode.CHUNKED);
        long s = 0;
        for (int n = 0; n < lens.length; n++) {
            if (lens[n] > 0) {
                AttnResult one = LigerReference.attention(q.narrow(1, s, lens[n]), k.narrow(1, s, lens[n]),
                        v.narrow(1, s, lens[n]), cfg, rope, null, null, Mode.NAIVE);
                assertTrue(relErr(packed.o().narrow(1, s, lens[n]), one.o()) < 1e-12, "sequence " + n);
                assertTrue(relErr(packed.cache().state().select(0, n), one.cache().state().select(0, 0)) < 1e-12);
            }
            s += lens[n];
        }
        assertArrayEquals(lens, LigerOps.longs(packed.cache().pos()));
    }

    /** Equal states, positions and the window slots that hold tokens. */
    static void assertCacheEquals(LigerCache expect, LigerCache actual, double bound) {
        assertArrayEquals(LigerOps.longs(expect.pos()), LigerOps.longs(actual.pos()), "pos");
        assertTrue(relErr(actual.state(), expect.state()) < bound, "state " + relErr(actual.state(), expect.state()));
        if (expect.winK() == null) return;
        long[] pos = LigerOps.longs(expect.pos());
        long ring = expect.winK().size(2);
        for (int n = 0; n < pos.length; n++)
            for (long p = Math.max(0, pos[n] - ring); p < pos[n]; p++) {
                long slot = p % ring;
                assertTrue(relErr(actual.winK().select(0, n).select(1, slot), expect.winK().select(0, n).select(1, slot)) < bound,
                        "winK n=" + n + " position " + p);
                assertTrue(relErr(actual.winV().select(0, n).select(1, slot), expect.winV().select(0, n).select(1, slot)) < bound,
                        "winV n=" + n + " position " + p);
            }
    }
}
