package dev.liger.kernels.reference;

import static dev.liger.kernels.KernelTestSupport.randn;
import static dev.liger.kernels.KernelTestSupport.relErr;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.liger.kernels.LigerOps;
import dev.liger.kernels.LigerOps.GdnResult;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The gated delta rule reference against plain loops over doubles and against its defining properties. */
class GdnReferenceTest {

    @BeforeEach
    void seed() {
        torch.manual_seed(4321);
    }

    static double[] doubles(Tensor t) {
        Tensor c = t.detach().to(ScalarType.Double).contiguous();
        double[] a = new double[(int) c.numel()];
        c.data_ptr_double().get(a);
        return a;
    }

    /** Unit-norm keys over the last dimension, as the Liger-GDN layer feeds them. */
    static Tensor unit(Tensor x) {
        return x.div(torch.linalg_vector_norm(x, new Scalar(2.0), new long[] {-1}, true, new org.bytedeco.pytorch.ScalarTypeOptional()));
    }

    /** S = exp(g) (S - beta k (k^T S)) + beta k v^T and o = scale S^T q, with explicit index loops. */
    @Test
    void matchesExplicitLoops() {
        int t = 9, hq = 4, hkv = 2, dk = 3, dv = 2, grp = hq / hkv;
        double scale = 0.8;
        Tensor q = randn(1, 1, t, hq, dk), k = unit(randn(1, 1, t, hkv, dk)), v = randn(1, 1, t, hkv, dv);
        Tensor g = torch.log_sigmoid(randn(2, 1, t, hkv)), beta = torch.rand(new long[] {1, t, hkv}, 
                new org.bytedeco.pytorch.TensorOptions(ScalarType.Double)).mul(new Scalar(2.0));
        Tensor h0 = randn(1, 1, hkv, dk, dv);
        double[] qa = doubles(q), ka = doubles(k), va = doubles(v), ga = doubles(g), ba = doubles(beta);
        double[][][] s = new double[hkv][dk][dv];
        double[] h = doubles(h0);
        for (int kh = 0; kh < hkv; kh++) for (int a = 0; a < dk; a++) for (int e = 0; e < dv; e++) s[kh][a][e] = h[(kh * dk + a) * dv + e];
        double[] expect = new double[t * hq * dv];
        for (int i = 0; i < t; i++) {
            for (int kh = 0; kh < hkv; kh++) {
                double bt = ba[i * hkv + kh], decay = Math.exp(ga[i * hkv + kh]);
                double[] kv = new double[dk];
                for (int a = 0; a < dk; a++) kv[a] = ka[(i * hkv + kh) * dk + a];
                double[] ks = new double[dv]; // k^T S
                for (int e = 0; e < dv; e++) for (int a = 0; a < dk; a++) ks[e] += kv[a] * s[kh][a][e];
                for (int a = 0; a < dk; a++)
                    for (int e = 0; e < dv; e++)
                        s[kh][a][e] = decay * (s[kh][a][e] - bt * kv[a] * ks[e]) + bt * kv[a] * va[(i * hkv + kh) * dv + e];
            }
            for (int hh = 0; hh < hq; hh++)
                for (int e = 0; e < dv; e++) {
                    double acc = 0;
                    for (int a = 0; a < dk; a++) acc += s[hh / grp][a][e] * qa[(i * hq + hh) * dk + a];
                    expect[(i * hq + hh) * dv + e] = scale * acc;
                }
        }
        GdnResult r = LigerReference.gdn(q, k, v, g, beta, scale, h0, null);
        double[] o = doubles(r.o()), ht = doubles(r.ht());
        for (int i = 0; i < expect.length; i++) assertEquals(expect[i], o[i], 1e-12, "o[" + i + "]");
        for (int kh = 0; kh < hkv; kh++) for (int a = 0; a < dk; a++) for (int e = 0; e < dv; e++)
            assertEquals(s[kh][a][e], ht[(kh * dk + a) * dv + e], 1e-12);
    }

    /** With beta = 1 and no decay the state stores exactly v at a unit key: reading with q = k returns v. */
    @Test
    void deltaRuleReplacesTheValueAtAKey() {
        long d = 8;
        Tensor k0 = unit(randn(1, 1, 1, 1, d)), other = unit(randn(1, 1, 1, 1, d));
        Tensor k = torch.cat(new TensorVector(k0, other, k0), 1);        // write at k0, elsewhere, k0 again
        Tensor v = randn(1, 1, 3, 1, d);
        Tensor zeros = torch.zeros(new long[] {1, 3, 1}, new org.bytedeco.pytorch.TensorOptions(ScalarType.Double));
        Tensor ones = torch.ones(new long[] {1, 3, 1}, new org.bytedeco.pytorch.TensorOptions(ScalarType.Double));
        GdnResult r = LigerReference.gdn(k, k, v, zeros, ones, 1.0, null, null);
        // the last write at k0 replaces the first one: S^T k0 = v_2 exactly, whatever was stored before
        assertTrue(relErr(r.o().select(1, 2), v.select(1, 2)) < 1e-12, "read at k0 after rewriting it");
        assertTrue(relErr(r.o().select(1, 0), v.select(1, 0)) < 1e-12, "read at k0 after the first write");
    }

    /** beta -> 0 leaves only the decay: S_t = exp(sum g) S_0. */
    @Test
    void zeroBetaOnlyDecays() {
        int t = 5;
        Tensor q = randn(1, 1, t, 2, 4), k = unit(randn(1, 1, t, 1, 4)), v = randn(1, 1, t, 1, 4);
        Tensor g = torch.log_sigmoid(randn(1, 1, t, 1));
        Tensor beta = torch.zeros(new long[] {1, t, 1}, new org.bytedeco.pytorch.TensorOptions(ScalarType.Double));
        Tensor h0 = randn(1, 1, 1, 4, 4);
        GdnResult r = LigerReference.gdn(q, k, v, g, beta, 1.0, h0, null);
        Tensor expect = h0.mul(g.sum().exp());
        assertTrue(relErr(r.ht(), expect) < 1e-12);
    }

    /** Packed sequences equal separate calls; continuing from ht equals one call; GQA equals repeated KV heads. */
    @Test
    void varlenStateContinuationAndGqa() {
        int t = 30;
        Tensor q = randn(1, 1, t, 4, 6), k = unit(randn(1, 1, t, 2, 6)), v = randn(1, 1, t, 2, 5);
        Tensor g = torch.log_sigmoid(randn(1, 1, t, 2)), beta = torch.sigmoid(randn(1, 1, t, 2));
        Tensor h0 = randn(0.3, 2, 2, 6, 5);
        long[] cu = {0, 12, 30};
        GdnResult packed = LigerReference.gdn(q, k, v, g, beta, 0.5, h0, LigerOps.longTensor(cu));
        for (int n = 0; n < 2; n++) {
            long s = cu[n], len = cu[n + 1] - cu[n];
            GdnResult one = LigerReference.gdn(q.narrow(1, s, len), k.narrow(1, s, len), v.narrow(1, s, len),
                    g.narrow(1, s, len), beta.narrow(1, s, len), 0.5, h0.narrow(0, n, 1), null);
            assertTrue(relErr(packed.o().narrow(1, s, len), one.o()) < 1e-12, "sequence " + n);
            assertTrue(relErr(packed.ht().select(0, n), one.ht().select(0, 0)) < 1e-12, "state " + n);
        }
        GdnResult whole = LigerReference.gdn(q, k, v, g, beta, 0.5, null, null);
        GdnResult first = LigerReference.gdn(q.narrow(1, 0, 17), k.narrow(1, 0, 17), v.narrow(1, 0, 17),
                g.narrow(1, 0, 17), beta.narrow(1, 0, 17), 0.5, null, null);
        GdnResult rest = LigerReference.gdn(q.narrow(1, 17, 13), k.narrow(1, 17, 13), v.narrow(1, 17, 13),
                g.narrow(1, 17, 13), beta.narrow(1, 17, 13), 0.5, first.ht(), null);
        assertTrue(relErr(rest.o(), whole.o().narrow(1, 17, 13)) < 1e-12);
        assertTrue(relErr(rest.ht(), whole.ht()) < 1e-12);
        // query head i reads KV head i / 2: the same as MHA over repeated keys, values, gates and betas
        Tensor rk = k.repeat_interleave(2, new org.bytedeco.pytorch.LongOptional(2), new org.bytedeco.pytorch.LongOptional()), rv = v.repeat_interleave(2, new org.bytedeco.pytorch.LongOptional(2), new org.bytedeco.pytorch.LongOptional());
        Tensor rg = g.repeat_interleave(2, new org.bytedeco.pytorch.LongOptional(2), new org.bytedeco.pytorch.LongOptional()), rb = beta.repeat_interleave(2, new org.bytedeco.pytorch.LongOptional(2), new org.bytedeco.pytorch.LongOptional());
        GdnResult mha = LigerReference.gdn(q, rk, rv, rg, rb, 0.5, null, null);
        assertTrue(relErr(mha.o(), whole.o()) < 1e-12);
    }

    /** The chunked UT/WY form equals the token-by-token recurrence, outputs, final states and gradients. */
    @Test
    void chunkedEqualsNaive() {
        long[][] cases = {{1, 4, 2}, {63, 4, 1}, {64, 2, 2}, {65, 4, 1}, {150, 4, 2}};
        for (long[] c : cases) {
            int t = (int) c[0];
            long hq = c[1], hkv = c[2];
            Tensor q = unit(randn(1, 2, t, hq, 16)), k = unit(randn(1, 2, t, hkv, 16)), v = randn(1, 2, t, hkv, 8);
            Tensor g = torch.log_sigmoid(randn(2, 2, t, hkv).add(new Scalar(1.0)));
            Tensor beta = torch.rand(new long[] {2, t, hkv}, new org.bytedeco.pytorch.TensorOptions(ScalarType.Double)).mul(new Scalar(2.0));
            Tensor h0 = randn(0.5, 2, hkv, 16, 8);
            Tensor[] leavesN = {q.clone().requires_grad_(true), k.clone().requires_grad_(true), v.clone().requires_grad_(true),
                    g.clone().requires_grad_(true), beta.clone().requires_grad_(true), h0.clone().requires_grad_(true)};
            Tensor[] leavesC = new Tensor[6];
            for (int i = 0; i < 6; i++) leavesC[i] = leavesN[i].detach().clone().requires_grad_(true);
            GdnResult n = LigerReference.gdn(leavesN[0], leavesN[1], leavesN[2], leavesN[3], leavesN[4], 0.9, leavesN[5], null,
                    LigerReference.Mode.NAIVE);
            GdnResult ch = LigerReference.gdn(leavesC[0], leavesC[1], leavesC[2], leavesC[3], leavesC[4], 0.9, leavesC[5], null,
                    LigerReference.Mode.CHUNKED);
            String name = "T=" + t + " Hq=" + hq + " Hkv=" + hkv;
            assertTrue(relErr(ch.o(), n.o()) < 1e-12, name + " o " + relErr(ch.o(), n.o()));
            assertTrue(relErr(ch.ht(), n.ht()) < 1e-12, name + " ht");
            Tensor dO = randn(1, 2, t, hq, 8), dht = randn(1, 2, hkv, 16, 8);
            n.o().mul(dO).sum().add(n.ht().mul(dht).sum()).backward();
            ch.o().mul(dO).sum().add(ch.ht().mul(dht).sum()).backward();
            for (int i = 0; i < 6; i++)
                assertTrue(relErr(leavesC[i].grad(), leavesN[i].grad()) < 1e-10, name + " gradient of input " + i + ": "
                        + relErr(leavesC[i].grad(), leavesN[i].grad()));
        }
        // packed sequences and gates near -inf (the state is wiped every token, nothing overflows)
        Tensor q = unit(randn(1, 1, 140, 2, 8)), k = unit(randn(1, 1, 140, 1, 8)), v = randn(1, 1, 140, 1, 8);
        Tensor g = randn(1, 1, 140, 1).sub(new Scalar(30.0)), beta = torch.sigmoid(randn(1, 1, 140, 1));
        Tensor cu = LigerOps.longTensor(0, 70, 70, 140);
        GdnResult n = LigerReference.gdn(q, k, v, g, beta, 1.0, null, cu, LigerReference.Mode.NAIVE);
        GdnResult ch = LigerReference.gdn(q, k, v, g, beta, 1.0, null, cu, LigerReference.Mode.CHUNKED);
        assertTrue(relErr(ch.o(), n.o()) < 1e-12 && relErr(ch.ht(), n.ht()) < 1e-12);
    }
}
