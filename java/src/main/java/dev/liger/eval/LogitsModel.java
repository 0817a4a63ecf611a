package dev.liger.eval;

import dev.liger.model.LlamaModel;
import dev.liger.model.Positions;
import org.bytedeco.pytorch.Tensor;

/**
 * What evaluation needs from a model: token ids [B, T] (int64) to next-token logits [B, T, V], causal
 * (position t sees tokens 0..t only). The Transformer and its Liger conversion both fit.
 */
@FunctionalInterface
public interface LogitsModel {
  Tensor logits(Tensor ids);

  /** A Llama-family model (softmax or Liger mixers) scoring rows that start at position 0. */
  static LogitsModel of(LlamaModel model) {
    return ids -> model.forward(ids, Positions.contiguous((int) ids.size(0), (int) ids.size(1), 0, model.device()));
  }
}
