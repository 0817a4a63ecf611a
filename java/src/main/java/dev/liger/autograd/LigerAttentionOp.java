package dev.liger.autograd;

import dev.liger.kernels.LigerAttnConfig;
import dev.liger.kernels.LigerOps;
import dev.liger.kernels.RopeTables;
import org.bytedeco.pytorch.Tensor;

/**
 * The fused native Liger attention as a {@link NativeOp}: inputs raw q [B,T,Hq,D], k, v [B,T,Hkv,D];
 * output o [B,T,Hq,D]; gradients from {@code liger_attn_backward} (training starts from an empty cache).
 */
public record LigerAttentionOp(LigerAttnConfig config, RopeTables rope, Tensor cuSeqlens) implements NativeOp {

    @Override
    public String name() {
        return "LigerAttentionOp";
    }

    /** Records on {@code tape} (or runs without recording when {@code tape} is null). */
    public Tensor apply(Tape tape, Tensor q, Tensor k, Tensor v) {
        return (tape == null ? Tape.inference(this, q, k, v) : tape.apply(this, q, k, v))[0];
    }

    @Override
    public Tensor[] forward(Tensor[] in) {
        return new Tensor[] {LigerOps.attnForward(in[0], in[1], in[2], config, rope, cuSeqlens, null, false).o()};
    }

    @Override
    public Tensor[] backward(Tensor[] in, Tensor[] out, Tensor[] gradOut) {
        LigerOps.AttnGrads g = LigerOps.attnBackward(in[0], in[1], in[2], gradOut[0], config, rope, cuSeqlens);
        return new Tensor[] {g.dq(), g.dk(), g.dv()};
    }
}
