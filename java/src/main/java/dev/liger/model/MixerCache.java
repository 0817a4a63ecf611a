package dev.liger.model;

/**
 * Per-layer decoding state created by a {@link TokenMixer}: a growing KV-cache for softmax attention, a
 * constant-size recurrent state for linear attention. Only the mixer that created it interprets it.
 */
public interface MixerCache extends AutoCloseable {
    /** Tokens consumed so far (padding included). */
    long length();

    /** Bytes of tensor memory held, for reporting the memory cost of decoding. */
    long bytes();

    @Override
    void close();
}
