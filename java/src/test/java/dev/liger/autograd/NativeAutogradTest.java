package dev.liger.autograd;

import static dev.liger.kernels.KernelTestSupport.randn;
import static dev.liger.kernels.KernelTestSupport.relErr;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.liger.kernels.LigerAttnConfig;
import dev.liger.kernels.RopeTables;
import dev.liger.kernels.reference.LigerReference;
import dev.liger.kernels.reference.LigerReference.Mode;
import java.util.ArrayList;
import java.util.List;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Gradient checks of graphs containing native ops through the {@link Tape}: the same graph built with
 * the autograd-native reference in float64 is the oracle. The native graph runs in float32, so the
 * bound ({@value #BOUND}, relative Frobenius per parameter gradient) covers float32 rounding in the
 * linear layers as well as in the kernels.
 */
class NativeAutogradTest {
    static final double BOUND = 1e-4;
    static final long T = 100, C = 48, HQ = 4, HKV = 2, D = 64;

    final LigerAttnConfig cfg = LigerAttnConfig.defaults().withWindow(32);
    final RopeTables rope = RopeTables.standard(10000, (int) D, 256);

    @BeforeEach
    void seed() {
        torch.manual_seed(99);
    }

    /** One Liger attention block: x + Wo . attn(Wq x, Wk x, Wv x). Parameters: Wq, Wk, Wv, Wo. */
    private Tensor block(Tensor x, Tensor[] w, Tape tape) {
        Tensor q = torch.matmul(x, w[0].t()).reshape(1, T, HQ, D);
        Tensor k = torch.matmul(x, w[1].t()).reshape(1, T, HKV, D);
        Tensor v = torch.matmul(x, w[2].t()).reshape(1, T, HKV, D);
        Tensor o = tape != null
                ? new LigerAttentionOp(cfg, rope, null).apply(tape, q, k, v)
                : LigerReference.attention(q, k, v, cfg, rope, null, null, Mode.CHUNKED).o();
        return x.add(torch.matmul(o.reshape(1, T, HQ * D), w[3].t()));
    }

    private static Tensor[] weights() {
        return new Tensor[] {randn(0.3, HQ * D, C), randn(0.3, HKV * D, C), randn(0.3, HKV * D, C), randn(0.05, C, HQ * D)};
    }

    private static Tensor[] asLeaves(Tensor[] w, ScalarType dt) {
        Tensor[] out = new Tensor[w.length];
        for (int i = 0; i < w.length; i++) out[i] = w[i].to(dt).clone().requires_grad_(true);
        return out;
    }

    @Test
    void twoStackedAttentionOpsMatchTheReferenceGraph() {
        Tensor x = randn(1, 1, T, C);
        Tensor[] w1 = weights(), w2 = weights();
        Tensor head = randn(0.2, C, 8);

        List<Tensor> grads64 = new ArrayList<>();
        Tensor[] r1 = asLeaves(w1, ScalarType.Double), r2 = asLeaves(w2, ScalarType.Double);
        Tensor lossRef = torch.matmul(block(block(x, r1, null), r2, null), head).square().sum();
        lossRef.backward();
        for (Tensor[] ws : new Tensor[][] {r1, r2}) for (Tensor w : ws) grads64.add(w.grad());

        Tape tape = new Tape();
        Tensor[] n1 = asLeaves(w1, ScalarType.Float), n2 = asLeaves(w2, ScalarType.Float);
        Tensor x32 = x.to(ScalarType.Float);
        Tensor loss = torch.matmul(block(block(x32, n1, tape), n2, tape), head.to(ScalarType.Float)).square().sum();
        assertEquals(2, tape.size());
        assertEquals(lossRef.item_double(), loss.item_double(), 1e-4 * Math.abs(lossRef.item_double()));
        tape.backward(loss);
        int i = 0;
        List<String> bad = new ArrayList<>();
        for (Tensor[] ws : new Tensor[][] {n1, n2})
            for (Tensor w : ws) {
                double err = relErr(w.grad(), grads64.get(i));
                if (!(err <= BOUND)) bad.add("param " + i + ": rel err " + err);
                i++;
            }
        assertTrue(bad.isEmpty(), String.join("\n", bad));
    }

    @Test
    void glaOpWithInitialStateMatchesTheReferenceGraph() {
        long dk = 64, dv = 64;
        Tensor x = randn(1, 1, T, C);
        Tensor[] w = {randn(0.3, HQ * dk, C), randn(0.3, HKV * dk, C), randn(0.3, HKV * dv, C), randn(0.3, HKV * dk, C),
            randn(0.5, 1, HKV, dk, dv)};
        Tensor head = randn(0.2, HQ * dv, 4);
        float scale = 0.125f;

        Tensor[] r = asLeaves(w, ScalarType.Double);
        Tensor lossRef = glaGraph(x, r, head, scale, null);
        lossRef.backward();
        Tape tape = new Tape();
        Tensor[] n = asLeaves(w, ScalarType.Float);
        Tensor loss = glaGraph(x.to(ScalarType.Float), n, head.to(ScalarType.Float), scale, tape);
        tape.backward(loss);
        for (int i = 0; i < w.length; i++) {
            double err = relErr(n[i].grad(), r[i].grad());
            assertTrue(err <= BOUND, "param " + i + ": rel err " + err);
        }
    }

    private static Tensor glaGraph(Tensor x, Tensor[] w, Tensor head, float scale, Tape tape) {
        Tensor q = torch.softmax(torch.matmul(x, w[0].t()).reshape(1, T, HQ, 64), -1);
        Tensor k = torch.softmax(torch.matmul(x, w[1].t()).reshape(1, T, HKV, 64), -1);
        Tensor v = torch.matmul(x, w[2].t()).reshape(1, T, HKV, 64);
        Tensor g = torch.log_sigmoid(torch.matmul(x, w[3].t()).reshape(1, T, HKV, 64)).div(new Scalar(4.0));
        Tensor o = tape != null ? new GlaOp(scale, null).apply(tape, q, k, v, g, w[4])
                : LigerReference.gla(q, k, v, g, scale, w[4], null, Mode.CHUNKED).o();
        return torch.matmul(o.reshape(1, T, HQ * 64), head).square().sum();
    }

    @Test
    void inferenceRunsWithoutRecording() {
        Tensor q = randn(1, 1, T, HQ, D).to(ScalarType.Float).requires_grad_(true);
        Tensor k = randn(1, 1, T, HKV, D).to(ScalarType.Float), v = randn(1, 1, T, HKV, D).to(ScalarType.Float);
        Tensor o = new LigerAttentionOp(cfg, rope, null).apply(null, q, k, v);
        assertFalse(o.requires_grad());
        Tensor ref = LigerReference.attention(q.detach().to(ScalarType.Double), k.to(ScalarType.Double),
                v.to(ScalarType.Double), cfg, rope, null, null, Mode.CHUNKED).o();
        assertTrue(relErr(o, ref) < 1e-5);
    }
}
