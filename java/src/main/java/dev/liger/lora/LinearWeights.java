package dev.liger.lora;

import org.bytedeco.pytorch.Tensor;

/** The weights of one base linear layer: weight [out, in] and an optional bias [out] (null if none). */
public record LinearWeights(Tensor weight, Tensor bias) {
  public LinearWeights {
    if (weight == null) throw new IllegalArgumentException("linear weight is required");
  }
}
