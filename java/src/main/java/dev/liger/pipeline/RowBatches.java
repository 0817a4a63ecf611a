package dev.liger.pipeline;

import dev.liger.data.PackedRow;
import dev.liger.train.BatchSource;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * Batches of packed rows, epoch after epoch, each epoch in its own seeded order. The position is the number of
 * batches handed out, and everything is a function of it, so a resumed run sees exactly the same batches.
 */
public final class RowBatches implements BatchSource<List<PackedRow>> {
    private final List<PackedRow> rows;
    private final int batchSize;
    private final long seed;
    private long cursor;
    private long orderEpoch = -1;
    private int[] order;

    public RowBatches(List<PackedRow> rows, int batchSize, long seed) {
        if (rows.isEmpty()) throw new IllegalArgumentException("no training rows (is the data empty?)");
        if (batchSize < 1) throw new IllegalArgumentException("batch size must be >= 1, got " + batchSize);
        this.rows = List.copyOf(rows);
        this.batchSize = batchSize;
        this.seed = seed;
    }

    @Override
    public List<PackedRow> next() {
        List<PackedRow> out = new ArrayList<>(batchSize);
        long first = cursor * batchSize;
        for (int i = 0; i < batchSize; i++) {
            long k = first + i;
            long epoch = k / rows.size();
            out.add(rows.get(order(epoch)[(int) (k % rows.size())]));
        }
        cursor++;
        return out;
    }

    private int[] order(long epoch) {
        if (epoch != orderEpoch) {
            order = new int[rows.size()];
            for (int i = 0; i < order.length; i++) order[i] = i;
            Random r = new Random(seed * 1_000_003L + epoch);
            for (int i = order.length - 1; i > 0; i--) {
                int j = r.nextInt(i + 1);
                int t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
            orderEpoch = epoch;
        }
        return order;
    }

    @Override
    public long cursor() {
        return cursor;
    }

    @Override
    public void seek(long c) {
        if (c < 0) throw new IllegalArgumentException("cursor must be >= 0, got " + c);
        cursor = c;
    }

    /** Tokens per batch. */
    public long tokensPerBatch() {
        return (long) batchSize * rows.get(0).length();
    }
}
