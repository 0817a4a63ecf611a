package dev.liger.train;

import dev.liger.data.PackedRow;
import dev.liger.model.Positions;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * Batches of {@code batchSize} packed rows, epoch after epoch, each epoch in its own seeded order. The
 * cursor counts rows handed out, and the order of every epoch is a function of (seed, epoch), so
 * {@link #seek} reproduces the stream exactly.
 */
public final class PackedRowSource implements BatchSource<LmBatch> {
  private final List<PackedRow> rows;
  private final int batchSize;
  private final long seed;
  private final Device device;
  private long cursor;
  private long cachedEpoch = -1;
  private int[] order;

  public PackedRowSource(List<PackedRow> rows, int batchSize, long seed, Device device) {
    if (rows.isEmpty()) throw new IllegalArgumentException("no training rows");
    if (batchSize < 1) throw new IllegalArgumentException("batch size must be >= 1, got " + batchSize);
    int len = rows.get(0).length();
    for (PackedRow r : rows) {
      if (r.length() != len) throw new IllegalArgumentException("packed rows differ in length (" + len + " vs " + r.length() + ")");
    }
    this.rows = List.copyOf(rows);
    this.batchSize = batchSize;
    this.seed = seed;
    this.device = device;
  }

  @Override
  public LmBatch next() {
    List<PackedRow> picked = new ArrayList<>(batchSize);
    for (int i = 0; i < batchSize; i++) picked.add(rows.get(indexAt(cursor++)));
    return batch(picked, device);
  }

  @Override public long cursor() { return cursor; }

  @Override
  public void seek(long c) {
    if (c < 0) throw new IllegalArgumentException("cursor must be >= 0, got " + c);
    cursor = c;
  }

  /** Epoch e visits all rows in a Fisher-Yates order seeded by (seed, e). */
  private int indexAt(long position) {
    long epoch = position / rows.size();
    if (epoch != cachedEpoch) {
      order = new int[rows.size()];
      for (int i = 0; i < order.length; i++) order[i] = i;
      SplittableRandom r = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + epoch);
      for (int i = order.length - 1; i > 0; i--) {
        int j = r.nextInt(i + 1);
        int t = order[i];
        order[i] = order[j];
        order[j] = t;
      }
      cachedEpoch = epoch;
    }
    return order[(int) (position % rows.size())];
  }

  /** Stacks rows into tensors on device; positions restart at every segment (document) offset. */
  public static LmBatch batch(List<PackedRow> rows, Device device) {
    int b = rows.size(), t = rows.get(0).length();
    long[] ids = new long[b * t], pos = new long[b * t];
    boolean[] mask = new boolean[b * t];
    long max = 0;
    for (int r = 0; r < b; r++) {
      PackedRow row = rows.get(r);
      int[] rid = row.ids();
      boolean[] rm = row.lossMask();
      long[] cu = row.cuSeqlens();
      for (int s = 0; s + 1 < cu.length; s++) {
        for (long i = cu[s]; i < cu[s + 1]; i++) {
          pos[r * t + (int) i] = i - cu[s];
          max = Math.max(max, i - cu[s]);
        }
      }
      for (int i = 0; i < t; i++) {
        ids[r * t + i] = rid[i];
        mask[r * t + i] = rm[i];
      }
    }
    try (PointerScope scope = new PointerScope()) {
      Tensor idt = Tensors.keep(dev.liger.model.Tensors.longs(ids, b, t).to(device, torch.ScalarType.Long));
      Tensor mt = Tensors.keep(dev.liger.model.Tensors.bools(mask, b, t).to(device, torch.ScalarType.Bool));
      Tensor pt = Tensors.keep(dev.liger.model.Tensors.longs(pos, b, t).to(device, torch.ScalarType.Long));
      return new LmBatch(idt, mt, new Positions(pt, null, max));
    }
  }
}
