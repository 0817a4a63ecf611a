package dev.liger.data;

import java.util.function.Function;

/**
 * Text to token ids, as the data package needs it. Kept free of any tokenizer class so that readers and
 * packing work with whatever tokenizer the model brings (an adapter wraps it).
 *
 * <p>{@link #encode} returns ids without special tokens; the packer adds {@link #bosId()} before and
 * {@link #eosId()} after each document when they are {@code >= 0}.
 */
@FunctionalInterface
public interface TokenEncoder {

    /** Ids of {@code text}, no special tokens added. */
    int[] encode(String text);

    /** Beginning-of-sequence id, or -1 when none is added. */
    default int bosId() {
        return -1;
    }

    /** End-of-sequence id, or -1 when none is added. */
    default int eosId() {
        return -1;
    }

    /** An encoder with the given special ids ({@code -1}: none). */
    static TokenEncoder of(Function<String, int[]> encode, int bosId, int eosId) {
        if (encode == null) throw new IllegalArgumentException("encode function is required");
        if (bosId < -1 || eosId < -1)
            throw new IllegalArgumentException("bos/eos ids must be >= 0 or -1 for none, got " + bosId + ", " + eosId);
        return new TokenEncoder() {
            @Override public int[] encode(String text) { return encode.apply(text); }
            @Override public int bosId() { return bosId; }
            @Override public int eosId() { return eosId; }
        };
    }
}
