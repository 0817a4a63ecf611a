package dev.liger.autograd;

import static dev.liger.kernels.KernelTestSupport.randn;
import static dev.liger.kernels.KernelTestSupport.relErr;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The tape on an op with a hand-written backward, against libtorch autograd of the same graph. */
class TapeTest {

    /** y = tanh(x w), z = rowsum(x): two outputs, gradients written by hand. */
    static final class TanhMatmulOp implements NativeOp {
        int backwardCalls;

        @Override
        public String name() {
            return "TanhMatmulOp";
        }

        @Override
        public Tensor[] forward(Tensor[] in) {
            assertFalse(in[0].requires_grad(), "forward must see detached inputs");
            return new Tensor[] {torch.tanh(torch.matmul(in[0], in[1])), in[0].sum(1)};
        }

        @Override
        public Tensor[] backward(Tensor[] in, Tensor[] out, Tensor[] gradOut) {
            backwardCalls++;
            Tensor gy = gradOut[0].mul(out[0].square().neg().add(new Scalar(1.0)));
            Tensor dx = torch.matmul(gy, in[1].t()).add(gradOut[1].unsqueeze(1).expand(in[0].size(0), in[0].size(1)));
            Tensor dw = torch.matmul(in[0].t(), gy);
            return new Tensor[] {dx, dw};
        }

        static Tensor[] autograd(Tensor x, Tensor w) {
            return new Tensor[] {torch.tanh(torch.matmul(x, w)), x.sum(1)};
        }
    }

    Tensor x, w1, w2, w3, wa, wb;

    @BeforeEach
    void init() {
        torch.manual_seed(7);
        x = randn(1, 5, 6);
        w1 = randn(0.5, 6, 8);
        w2 = randn(0.5, 8, 8);
        w3 = randn(0.5, 8, 3);
        wa = randn(0.5, 8, 8);
        wb = randn(0.5, 8, 8);
    }

    private Tensor[] params() {
        return new Tensor[] {w1, w2, w3, wa, wb};
    }

    /** linear -> op -> linear (+ residual into the op's input) -> op -> linear -> loss. */
    private Tensor graph(Tape tape, TanhMatmulOp op) {
        Tensor h = torch.matmul(x, w1);
        Tensor[] a = tape != null ? tape.apply(op, h, wa) : TanhMatmulOp.autograd(h, wa);
        Tensor h2 = torch.matmul(a[0], w2).add(h); // h is shared by op 1's input and the residual
        Tensor[] b = tape != null ? tape.apply(op, h2, wb) : TanhMatmulOp.autograd(h2, wb);
        return torch.matmul(b[0], w3).square().sum().add(a[1].mul(new Scalar(0.1)).sum()); // op 2's z unused
    }

    @Test
    void gradientsMatchAutogradOfTheSameGraph() {
        for (Tensor p : params()) p.requires_grad_(true);
        Tensor lossRef = graph(null, null);
        lossRef.backward();
        Tensor[] expect = new Tensor[params().length];
        for (int i = 0; i < expect.length; i++) {
            expect[i] = params()[i].grad().clone();
            params()[i].grad().zero_();
        }
        TanhMatmulOp op = new TanhMatmulOp();
        Tape tape = new Tape();
        Tensor loss = graph(tape, op);
        assertEquals(2, tape.size());
        assertEquals(lossRef.item_double(), loss.item_double(), 1e-12);
        tape.backward(loss);
        assertEquals(2, op.backwardCalls);
        assertEquals(0, tape.size());
        for (int i = 0; i < expect.length; i++) {
            double err = relErr(params()[i].grad(), expect[i]);
            assertTrue(err < 1e-12, "param " + i + " rel err " + err);
        }
    }

    @Test
    void inferenceAndNoGradInputsDoNotRecord() {
        TanhMatmulOp op = new TanhMatmulOp();
        Tape tape = new Tape();
        Tensor[] out = tape.apply(op, x, w1); // nothing requires grad
        assertEquals(0, tape.size());
        assertFalse(out[0].requires_grad());
        w1.requires_grad_(true);
        Tensor[] inf = Tape.inference(op, x, w1);
        assertFalse(inf[0].requires_grad());
        assertTrue(relErr(inf[0], TanhMatmulOp.autograd(x, w1.detach())[0]) < 1e-15);
        // x does not require grad: its gradient is computed by the op but never pushed anywhere
        Tensor[] rec = tape.apply(op, x, w1);
        assertTrue(rec[0].requires_grad() && rec[0].is_leaf());
        tape.backward(rec[0].sum());
        Tensor expect = torch.matmul(x.t(), torch.tanh(torch.matmul(x, w1.detach())).square().neg().add(new Scalar(1.0)));
        assertTrue(relErr(w1.grad(), expect) < 1e-12);
        assertTrue(x.grad() == null || !x.grad().defined());
    }

    @Test
    void wrongGradientShapeIsReported() {
        NativeOp bad = new NativeOp() {
            public String name() { return "BadOp"; }
            public Tensor[] forward(Tensor[] in) { return new Tensor[] {in[0].mul(new Scalar(2.0))}; }
            public Tensor[] backward(Tensor[] in, Tensor[] out, Tensor[] g) { return new Tensor[] {g[0].sum(0)}; }
        };
        wa.requires_grad_(true);
        Tape tape = new Tape();
        Tensor y = tape.apply(bad, wa)[0];
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> tape.backward(y.sum()));
        assertTrue(e.getMessage().contains("BadOp"), e.getMessage());
    }
}
