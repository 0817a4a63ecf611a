package dev.liger.autograd;

import dev.liger.kernels.LigerOps;
import org.bytedeco.pytorch.Tensor;

/**
 * The native chunked gated delta rule as a {@link NativeOp}: inputs q, k, v, g, beta and an optional initial
 * state h0 (null when absent); output o. See {@link LigerOps#gdnForward}.
 */
public record GdnOp(float scale, Tensor cuSeqlens) implements NativeOp {

    @Override
    public String name() {
        return "GdnOp";
    }

    /** Records on {@code tape} (or runs without recording when {@code tape} is null); h0 may be null. */
    public Tensor apply(Tape tape, Tensor q, Tensor k, Tensor v, Tensor g, Tensor beta, Tensor h0) {
        return (tape == null ? Tape.inference(this, q, k, v, g, beta, h0) : tape.apply(this, q, k, v, g, beta, h0))[0];
    }

    @Override
    public Tensor[] forward(Tensor[] in) {
        return new Tensor[] {LigerOps.gdnForward(in[0], in[1], in[2], in[3], in[4], scale, in[5], cuSeqlens, false).o()};
    }

    @Override
    public Tensor[] backward(Tensor[] in, Tensor[] out, Tensor[] gradOut) {
        LigerOps.GdnGrads g = LigerOps.gdnBackward(in[0], in[1], in[2], in[3], in[4], scale, in[5], cuSeqlens,
                gradOut[0], null, in[5] != null);
        return new Tensor[] {g.dq(), g.dk(), g.dv(), g.dg(), g.dbeta(), g.dh0()};
    }
}
