package dev.liger.pipeline;

import dev.liger.data.PackedRow;
import dev.liger.model.LlamaModel;
import dev.liger.model.Positions;
import dev.liger.model.Tensors;
import dev.liger.train.NextTokenLoss;
import dev.liger.train.Objective;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

import java.util.List;

/**
 * Next-token cross-entropy of a causal LM on packed rows. Positions restart at every document, which is how
 * the Liger layers find document boundaries (no state crosses them); prompt tokens, document starts and
 * padding are not targets.
 */
public final class PackedLmObjective implements Objective<List<PackedRow>> {
    private final LlamaModel model;

    public PackedLmObjective(LlamaModel model) {
        this.model = model;
    }

    @Override
    public long targets(List<PackedRow> batch) {
        long n = 0;
        for (PackedRow r : batch) n += r.targetCount();
        return n;
    }

    @Override
    public Tensor lossSum(List<PackedRow> batch) {
        int b = batch.size(), t = batch.get(0).length();
        long[] ids = new long[b * t], pos = new long[b * t], mask = new long[b * t];
        long maxPos = 0;
        for (int r = 0; r < b; r++) {
            PackedRow row = batch.get(r);
            if (row.length() != t) throw new IllegalArgumentException("rows of one batch must have the same length");
            int[] id = row.ids();
            long[] p = row.positionIds();
            boolean[] m = row.lossMask();
            for (int i = 0; i < t; i++) {
                ids[r * t + i] = id[i];
                pos[r * t + i] = p[i];
                mask[r * t + i] = m[i] ? 1 : 0;
                maxPos = Math.max(maxPos, p[i]);
            }
        }
        Tensor idsT = Tensors.longs(ids, b, t).to(model.device(), ScalarType.Long);
        Positions positions = new Positions(Tensors.longs(pos, b, t).to(model.device(), ScalarType.Long), null, maxPos);
        Tensor logits = model.forward(idsT, positions);
        return NextTokenLoss.sum(logits, idsT, Tensors.longs(mask, b, t).to(model.device(), ScalarType.Long));
    }
}
