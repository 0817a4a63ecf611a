package dev.liger.data;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

/**
 * Packs tokenized documents into fixed-length rows.
 *
 * <p>Rules: the documents are shuffled with {@code java.util.Random(seed)} (Fisher-Yates), the first
 * {@code floor(n * validationFraction)} of the shuffled order are validation, the rest training. Each list
 * is packed in that order, greedily: a document that fits in the current row's free space goes there;
 * otherwise the row is padded and closed and the document starts a new row. A document longer than a row
 * is cut into row-sized pieces, each its own segment (its state does not carry over: the first token of
 * each piece is not a target).
 */
public final class Packer {

    private Packer() {}

    public static PackedDataset pack(List<TokenizedDocument> documents, PackingConfig config) {
        if (documents == null) throw new IllegalArgumentException("documents are required");
        if (config == null) throw new IllegalArgumentException("packing config is required");
        List<TokenizedDocument> order = new ArrayList<>(documents);
        Random random = new Random(config.seed());
        for (int i = order.size() - 1; i > 0; i--) {
            int j = random.nextInt(i + 1);
            TokenizedDocument t = order.get(i);
            order.set(i, order.get(j));
            order.set(j, t);
        }
        int nVal = (int) Math.floor(order.size() * config.validationFraction());
        List<TokenizedDocument> val = order.subList(0, nVal);
        List<TokenizedDocument> train = order.subList(nVal, order.size());
        return new PackedDataset(packRows(train, config), packRows(val, config), train.size(), val.size());
    }

    /** Packs in the given order (no shuffle, no split). */
    public static List<PackedRow> packRows(List<TokenizedDocument> documents, PackingConfig config) {
        RowBuilder row = new RowBuilder(config);
        List<PackedRow> rows = new ArrayList<>();
        for (TokenizedDocument doc : documents) {
            for (int start = 0; start < doc.length(); start += config.seqLen()) {
                int len = Math.min(config.seqLen(), doc.length() - start);
                if (len > row.free()) rows.add(row.finish());
                row.add(doc, start, len);
                if (row.free() == 0) rows.add(row.finish());
            }
        }
        if (row.used() > 0) rows.add(row.finish());
        return rows;
    }

    private static final class RowBuilder {
        private final PackingConfig config;
        private int[] ids;
        private boolean[] mask;
        private final List<Long> offsets = new ArrayList<>();
        private final List<String> origins = new ArrayList<>();
        private int used;

        RowBuilder(PackingConfig config) {
            this.config = config;
            reset();
        }

        private void reset() {
            ids = new int[config.seqLen()];
            mask = new boolean[config.seqLen()];
            offsets.clear();
            offsets.add(0L);
            origins.clear();
            used = 0;
        }

        int free() { return config.seqLen() - used; }
        int used() { return used; }

        void add(TokenizedDocument doc, int start, int len) {
            for (int i = 0; i < len; i++) {
                ids[used + i] = doc.id(start + i);
                mask[used + i] = i > 0 && doc.isTrained(start + i);
            }
            used += len;
            offsets.add((long) used);
            origins.add(doc.origin());
        }

        PackedRow finish() {
            int real = used;
            if (used < config.seqLen()) {
                Arrays.fill(ids, used, config.seqLen(), config.padId());
                offsets.add((long) config.seqLen());
            }
            long[] cu = new long[offsets.size()];
            for (int i = 0; i < cu.length; i++) cu[i] = offsets.get(i);
            PackedRow r = new PackedRow(ids, mask, cu, real, origins);
            reset();
            return r;
        }
    }
}
