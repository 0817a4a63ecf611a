package dev.liger.train;

import org.bytedeco.pytorch.Tensor;

/** What the trainer optimises: any model plus a batch type, reduced to a summed loss. */
public interface Objective<B> {
  /** Number of loss terms in the batch, known before the forward pass (used to normalise accumulation). */
  long targets(B batch);

  /** Forward pass: the summed (not averaged) loss over the batch's targets, a scalar with its graph. */
  Tensor lossSum(B batch);
}
