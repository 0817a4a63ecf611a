package dev.liger.train;

import dev.liger.model.LlamaModel;
import java.util.List;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;

/** Next-token cross-entropy of a Llama-family model (softmax or Liger attention) on packed batches. */
public final class LmObjective implements Objective<LmBatch> {
  private final LlamaModel model;

  public LmObjective(LlamaModel model) { this.model = model; }

  @Override
  public long targets(LmBatch b) { return NextTokenLoss.targets(b.ids(), b.mask()); }

  @Override
  public Tensor lossSum(LmBatch b) {
    return NextTokenLoss.sum(model.forward(b.ids(), b.positions()), b.ids(), b.mask());
  }

  /** Mean loss per target over held-out batches (call under no-grad, e.g. from {@link Trainer#validate}). */
  public double meanLoss(List<LmBatch> batches) {
    double sum = 0;
    long n = 0;
    try (NoGradGuard g = new NoGradGuard()) {
      for (LmBatch b : batches) {
        try (PointerScope scope = new PointerScope()) {
          sum += lossSum(b).item_double();
          n += targets(b);
        }
      }
    }
    if (n == 0) throw new IllegalArgumentException("validation batches hold no loss targets");
    return sum / n;
  }
}
