package dev.liger.data;

import java.util.Arrays;
import java.util.List;

/**
 * One training sequence of {@code seqLen} tokens holding whole documents (or pieces of a document longer
 * than a row) one after another.
 *
 * <p>Segments are delimited by {@code cuSeqlens}: segment s spans {@code [cuSeqlens[s], cuSeqlens[s+1])};
 * the first offset is 0 and the last is {@code seqLen}. When the row has padding, its tail
 * {@code [realLength, seqLen)} is the last segment. Kernels reset their state at every offset, so nothing
 * flows from one document to the next.
 *
 * @param ids        token ids, length seqLen
 * @param lossMask   per position: true when {@code ids[i]} is a training target, predicted from positions
 *                   {@code cuSeqlens[s] .. i-1} of its own segment. Always false at a segment's first
 *                   position, on prompt tokens and on padding.
 * @param cuSeqlens  segment offsets (int64, as varlen kernels take them)
 * @param realLength tokens before the padding
 * @param origins    file:line of each non-padding segment's document
 */
public record PackedRow(int[] ids, boolean[] lossMask, long[] cuSeqlens, int realLength, List<String> origins) {
    /** The label that cross-entropy ignores. */
    public static final int IGNORE_INDEX = -100;

    public PackedRow {
        ids = ids.clone();
        lossMask = lossMask.clone();
        cuSeqlens = cuSeqlens.clone();
        origins = List.copyOf(origins);
        int n = ids.length;
        if (lossMask.length != n) throw new IllegalArgumentException("lossMask length " + lossMask.length + " != " + n);
        if (cuSeqlens.length < 2 || cuSeqlens[0] != 0 || cuSeqlens[cuSeqlens.length - 1] != n)
            throw new IllegalArgumentException("cuSeqlens must run from 0 to " + n + ": " + Arrays.toString(cuSeqlens));
        for (int s = 1; s < cuSeqlens.length; s++)
            if (cuSeqlens[s] <= cuSeqlens[s - 1])
                throw new IllegalArgumentException("cuSeqlens must increase strictly: " + Arrays.toString(cuSeqlens));
        int segments = cuSeqlens.length - 1 - (realLength < n ? 1 : 0);
        if (realLength < 1 || realLength > n || (realLength < n && cuSeqlens[cuSeqlens.length - 2] != realLength))
            throw new IllegalArgumentException("realLength " + realLength + " does not match cuSeqlens " + Arrays.toString(cuSeqlens));
        if (origins.size() != segments)
            throw new IllegalArgumentException(origins.size() + " origins for " + segments + " segments");
        for (int s = 0; s < cuSeqlens.length - 1; s++)
            if (lossMask[(int) cuSeqlens[s]]) throw new IllegalArgumentException("loss mask set at segment start " + cuSeqlens[s]);
        for (int i = realLength; i < n; i++)
            if (lossMask[i]) throw new IllegalArgumentException("loss mask set on padding at " + i);
    }

    @Override public int[] ids() { return ids.clone(); }
    @Override public boolean[] lossMask() { return lossMask.clone(); }
    @Override public long[] cuSeqlens() { return cuSeqlens.clone(); }

    public int length() {
        return ids.length;
    }

    /** Number of segments, padding included. */
    public int segmentCount() {
        return cuSeqlens.length - 1;
    }

    /** Number of training targets. */
    public int targetCount() {
        int c = 0;
        for (boolean b : lossMask) if (b) c++;
        return c;
    }

    /**
     * Next-token labels, {@code labels[i] = ids[i+1]} when position i+1 is a target of the same segment,
     * else {@link #IGNORE_INDEX}: the logits at position i are scored against them.
     */
    public long[] labels() {
        long[] labels = new long[ids.length];
        Arrays.fill(labels, IGNORE_INDEX);
        for (int i = 0; i + 1 < ids.length; i++)
            if (lossMask[i + 1]) labels[i] = ids[i + 1]; // mask is false at every segment start
        return labels;
    }

    /** Positions restarting at 0 in every segment (for rotary embeddings over packed rows). */
    public long[] positionIds() {
        long[] pos = new long[ids.length];
        for (int s = 0; s + 1 < cuSeqlens.length; s++)
            for (long i = cuSeqlens[s]; i < cuSeqlens[s + 1]; i++) pos[(int) i] = i - cuSeqlens[s];
        return pos;
    }
}
