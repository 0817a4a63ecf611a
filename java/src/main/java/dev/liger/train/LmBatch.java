package dev.liger.train;

import dev.liger.model.Positions;
import org.bytedeco.pytorch.Tensor;

/**
 * A causal-LM batch: ids [B, T] (int64), loss mask [B, T] (bool, see {@link NextTokenLoss}), and
 * positions that restart at 0 at every packed document, which is how the model finds document
 * boundaries (no state or attention crosses them in Liger attention).
 */
public record LmBatch(Tensor ids, Tensor mask, Positions positions) implements AutoCloseable {
  /** Drops the references taken by {@link PackedRowSource#batch}; the trainer calls it after the step. */
  @Override
  public void close() {
    dev.liger.model.Tensors.release(ids);
    dev.liger.model.Tensors.release(mask);
    dev.liger.model.Tensors.release(positions.positions());
  }
}
