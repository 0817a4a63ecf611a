package dev.liger.model;

import org.bytedeco.pytorch.Tensor;

/**
 * The sequence-mixing half of a decoder layer (softmax attention in the Transformer, Liger attention after
 * conversion). Input is the layer's normalized hidden state [B, T, C]; output is [B, T, C] before the residual.
 */
public interface TokenMixer extends AutoCloseable {
    /** Full-sequence forward for training and scoring: causal over the T tokens, nothing cached. */
    Tensor forward(Tensor x, Positions positions);

    /** A fresh, empty decoding cache for {@code batch} sequences; {@code capacityHint} tokens may be pre-allocated. */
    MixerCache newCache(int batch, int capacityHint);

    /**
     * Consumes T new tokens that follow everything already in {@code cache} (T = prompt length for prefill,
     * 1 for a decode step), updates the cache and returns their outputs. Equal to {@link #forward} over the
     * concatenated sequence, restricted to the new tokens.
     */
    Tensor step(Tensor x, Positions positions, MixerCache cache);

    @Override
    void close();
}
