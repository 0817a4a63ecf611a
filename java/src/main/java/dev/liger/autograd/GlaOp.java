package dev.liger.autograd;

import dev.liger.kernels.LigerOps;
import org.bytedeco.pytorch.Tensor;

/**
 * The plain native chunked GLA as a {@link NativeOp}: inputs q, k, v, g and an optional initial state
 * h0 (null when absent); output o. See {@link LigerOps#glaForward}.
 */
public record GlaOp(float scale, Tensor cuSeqlens) implements NativeOp {

    @Override
    public String name() {
        return "GlaOp";
    }

    /** Records on {@code tape} (or runs without recording when {@code tape} is null); h0 may be null. */
    public Tensor apply(Tape tape, Tensor q, Tensor k, Tensor v, Tensor g, Tensor h0) {
        return (tape == null ? Tape.inference(this, q, k, v, g, h0) : tape.apply(this, q, k, v, g, h0))[0];
    }

    @Override
    public Tensor[] forward(Tensor[] in) {
        return new Tensor[] {LigerOps.glaForward(in[0], in[1], in[2], in[3], scale, in[4], cuSeqlens, false).o()};
    }

    @Override
    public Tensor[] backward(Tensor[] in, Tensor[] out, Tensor[] gradOut) {
        LigerOps.GlaGrads g = LigerOps.glaBackward(in[0], in[1], in[2], in[3], scale, in[4], cuSeqlens, gradOut[0],
                null, in[4] != null);
        return new Tensor[] {g.dq(), g.dk(), g.dv(), g.dg(), g.dh0()};
    }
}
