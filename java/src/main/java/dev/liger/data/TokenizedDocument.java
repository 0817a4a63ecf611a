package dev.liger.data;

import java.util.Arrays;

/**
 * A document as tokens: {@code <bos>? segment tokens... <eos>?}.
 *
 * @param origin  file:line of the record
 * @param ids     token ids
 * @param trained per token: true when it is a training target. The BOS is never one (nothing precedes
 *                it); prompt tokens are not; response tokens and the EOS are.
 */
public record TokenizedDocument(String origin, int[] ids, boolean[] trained) {
    public TokenizedDocument {
        if (origin == null) throw new IllegalArgumentException("document origin is required");
        if (ids == null || trained == null || ids.length != trained.length)
            throw new IllegalArgumentException(origin + ": ids and trained flags must have the same length");
        if (ids.length == 0) throw new IllegalArgumentException(origin + ": document has no tokens");
        ids = ids.clone();
        trained = trained.clone();
    }

    public int length() {
        return ids.length;
    }

    @Override public int[] ids() { return ids.clone(); }
    @Override public boolean[] trained() { return trained.clone(); }

    int id(int i) { return ids[i]; }
    boolean isTrained(int i) { return trained[i]; }

    /** Encodes each segment on its own (so the prompt/response boundary is exact) and adds BOS/EOS. */
    public static TokenizedDocument encode(Example example, TokenEncoder encoder) {
        if (encoder == null) throw new IllegalArgumentException("token encoder is required");
        int[] ids = new int[16];
        boolean[] trained = new boolean[16];
        int n = 0;
        int bos = encoder.bosId(), eos = encoder.eosId();
        if (bos >= 0) {
            ids[n] = bos;
            trained[n++] = false;
        }
        for (Segment s : example.segments()) {
            int[] seg = encoder.encode(s.text());
            if (seg == null) throw new IllegalStateException(example.origin() + ": token encoder returned null");
            if (n + seg.length + 1 > ids.length) {
                int cap = Math.max(ids.length * 2, n + seg.length + 1);
                ids = Arrays.copyOf(ids, cap);
                trained = Arrays.copyOf(trained, cap);
            }
            for (int id : seg) {
                if (id < 0) throw new IllegalStateException(example.origin() + ": token encoder returned negative id " + id);
                ids[n] = id;
                trained[n++] = s.trained();
            }
        }
        if (eos >= 0) {
            ids[n] = eos;
            trained[n++] = true;
        }
        if (n == 0) throw new IllegalArgumentException(example.origin() + ": document encodes to no tokens and the encoder has no BOS/EOS");
        return new TokenizedDocument(example.origin(), Arrays.copyOf(ids, n), Arrays.copyOf(trained, n));
    }
}
