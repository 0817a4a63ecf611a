package dev.liger.train;

import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * Next-token cross-entropy with a loss mask. Convention: {@code mask[b, t] != 0} means token
 * {@code ids[b, t]} is a target, predicted from {@code ids[b, <t]} (so position 0 is never one).
 * Prompt tokens and the first token of every packed document carry mask 0.
 */
public final class NextTokenLoss {
  private NextTokenLoss() {}

  /**
   * Sum of -log p(ids[b,t] | ids[b,<t]) over masked targets, in fp32, as a scalar tensor with the
   * graph attached. Dividing by the total number of targets of a step (see {@link #targets}) gives the
   * mean, which is what makes gradient accumulation equal to one big batch.
   */
  public static Tensor sum(Tensor logits, Tensor ids, Tensor mask) {
    check(logits, ids, mask);
    long t = ids.size(1);
    Tensor logp = logits.narrow(1, 0, t - 1).to(torch.ScalarType.Float).log_softmax(-1);
    Tensor target = ids.narrow(1, 1, t - 1).to(torch.ScalarType.Long).unsqueeze(-1);
    Tensor nll = logp.gather(-1, target).squeeze(-1).neg();
    if (mask == null) return nll.sum();
    Tensor m = mask.narrow(1, 1, t - 1).ne(new Scalar(0)).to(torch.ScalarType.Float);
    return nll.mul(m).sum();
  }

  /** Number of targets in a batch: masked positions excluding position 0 (all T-1 per row without a mask). */
  public static long targets(Tensor ids, Tensor mask) {
    if (ids.dim() != 2) throw new IllegalArgumentException("ids must be [B, T], got " + ids.dim() + " dims");
    long t = ids.size(1);
    if (t < 2) return 0;
    if (mask == null) return ids.size(0) * (t - 1);
    return mask.narrow(1, 1, t - 1).ne(new Scalar(0)).sum().item_long();
  }

  private static void check(Tensor logits, Tensor ids, Tensor mask) {
    if (ids.dim() != 2) throw new IllegalArgumentException("ids must be [B, T], got " + ids.dim() + " dims");
    if (logits.dim() != 3 || logits.size(0) != ids.size(0) || logits.size(1) != ids.size(1)) {
      throw new IllegalArgumentException("logits must be [B, T, V] matching ids [" + ids.size(0) + ", "
          + ids.size(1) + "], got " + java.util.Arrays.toString(Tensors.shape(logits)));
    }
    if (ids.size(1) < 2) throw new IllegalArgumentException("sequences need at least 2 tokens for a next-token loss");
    if (mask != null && (mask.dim() != 2 || mask.size(0) != ids.size(0) || mask.size(1) != ids.size(1))) {
      throw new IllegalArgumentException("loss mask must have the shape of ids, got " + java.util.Arrays.toString(Tensors.shape(mask)));
    }
  }
}
