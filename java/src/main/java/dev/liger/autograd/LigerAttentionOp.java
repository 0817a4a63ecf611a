package dev.liger.autograd;

import dev.liger.kernels.LigerAttnConfig;
import dev.liger.kernels.LigerOps;
import dev.liger.kernels.RopeTables;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * The fused native Liger attention as a {@link NativeOp}: inputs raw q [B,T,Hq,D], k, v [B,T,Hkv,D];
 * output o [B,T,Hq,D]; gradients from {@code liger_attn_backward} (training starts from an empty cache).
 *
 * <p>One instance per application. When it records on a tape, its forward keeps the chunk states for its backward
 * where the native path keeps any ({@link LigerOps#attnSavedNumel}: the bf16 CUDA kernels; the CPU recomputes them),
 * so that the backward does not recompute them; the backward then drops them.
 */
public final class LigerAttentionOp implements NativeOp {
    private final LigerAttnConfig config;
    private final RopeTables rope;
    private final Tensor cuSeqlens;
    private boolean recording;
    private Tensor saved;  // the forward's chunk states until the backward; null: none kept

    public LigerAttentionOp(LigerAttnConfig config, RopeTables rope, Tensor cuSeqlens) {
        this.config = config;
        this.rope = rope;
        this.cuSeqlens = cuSeqlens;
    }

    public LigerAttnConfig config() { return config; }

    public RopeTables rope() { return rope; }

    public Tensor cuSeqlens() { return cuSeqlens; }

    @Override
    public String name() {
        return "LigerAttentionOp";
    }

    /** Records on {@code tape} (or runs without recording when {@code tape} is null). */
    public Tensor apply(Tape tape, Tensor q, Tensor k, Tensor v) {
        recording = tape != null;
        return (tape == null ? Tape.inference(this, q, k, v) : tape.apply(this, q, k, v))[0];
    }

    @Override
    public Tensor[] forward(Tensor[] in) {
        saved = null;
        if (recording) {
            long n = LigerOps.attnSavedNumel(in[0], in[1], in[2], config, rope, cuSeqlens);
            if (n > 0) saved = in[0].new_empty(new long[] {n}, new TensorOptions(ScalarType.Float));
        }
        return new Tensor[] {LigerOps.attnForward(in[0], in[1], in[2], config, rope, cuSeqlens, saved).o()};
    }

    @Override
    public Tensor[] backward(Tensor[] in, Tensor[] out, Tensor[] gradOut) {
        LigerOps.AttnGrads g = LigerOps.attnBackward(in[0], in[1], in[2], gradOut[0], config, rope, cuSeqlens, saved);
        saved = null;
        return new Tensor[] {g.dq(), g.dk(), g.dv()};
    }
}
