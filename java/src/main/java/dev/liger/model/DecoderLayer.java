package dev.liger.model;

import org.bytedeco.pytorch.Tensor;

/** Pre-norm residual block: x + mixer(norm(x)), then + mlp(norm(.)). The mixer is replaceable per layer. */
public final class DecoderLayer implements AutoCloseable {
    private final int index;
    private final RmsNorm inputNorm;
    private final RmsNorm postAttentionNorm;
    private TokenMixer mixer;
    private final Mlp mlp;

    public DecoderLayer(int index, RmsNorm inputNorm, TokenMixer mixer, RmsNorm postAttentionNorm, Mlp mlp) {
        this.index = index;
        this.inputNorm = inputNorm;
        this.mixer = mixer;
        this.postAttentionNorm = postAttentionNorm;
        this.mlp = mlp;
    }

    /** cache == null: full-sequence forward; otherwise the tokens extend what the cache has seen. */
    public Tensor forward(Tensor x, Positions positions, MixerCache cache) {
        Tensor n = inputNorm.forward(x);
        Tensor h = x.add(cache == null ? mixer.forward(n, positions) : mixer.step(n, positions, cache));
        return h.add(mlp.forward(postAttentionNorm.forward(h)));
    }

    public int index() {
        return index;
    }

    public TokenMixer mixer() {
        return mixer;
    }

    /** Installs a new token mixer; returns the previous one, which the caller now owns. */
    public TokenMixer setMixer(TokenMixer m) {
        TokenMixer old = mixer;
        mixer = m;
        return old;
    }

    public RmsNorm inputNorm() {
        return inputNorm;
    }

    public RmsNorm postAttentionNorm() {
        return postAttentionNorm;
    }

    public Mlp mlp() {
        return mlp;
    }

    @Override
    public void close() {
        inputNorm.close();
        postAttentionNorm.close();
        mixer.close();
        mlp.close();
    }
}
