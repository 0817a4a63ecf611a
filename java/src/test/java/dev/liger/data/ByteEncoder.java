package dev.liger.data;

import java.nio.charset.StandardCharsets;

/** A real, reversible encoder for tests: one token per UTF-8 byte, id = byte + 4; 0 pad, 1 BOS, 2 EOS. */
final class ByteEncoder implements TokenEncoder {
    static final int PAD = 0, BOS = 1, EOS = 2;

    @Override
    public int[] encode(String text) {
        byte[] b = text.getBytes(StandardCharsets.UTF_8);
        int[] ids = new int[b.length];
        for (int i = 0; i < b.length; i++) ids[i] = (b[i] & 0xff) + 4;
        return ids;
    }

    @Override public int bosId() { return BOS; }
    @Override public int eosId() { return EOS; }
}
