package dev.liger.train;

import static org.bytedeco.pytorch.global.torch.zeros_like;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;

/**
 * AdamW (decoupled weight decay, bias-corrected moments) as plain tensor ops, matching
 * torch.optim.AdamW. The state is two tensors per parameter plus the step count, so a checkpoint
 * is just those tensors.
 */
public final class AdamW {
  private final AdamWConfig config;
  private final Map<String, Tensor> params;
  private final Map<String, Tensor> expAvg = new LinkedHashMap<>();
  private final Map<String, Tensor> expAvgSq = new LinkedHashMap<>();
  private long step;

  /** params: name to a leaf tensor with requires_grad; iteration order is kept. */
  public AdamW(Map<String, Tensor> params, AdamWConfig config) {
    this.config = config;
    this.params = Collections.unmodifiableMap(new LinkedHashMap<>(params));
    for (var e : this.params.entrySet()) {
      Tensor p = e.getValue();
      if (!p.requires_grad()) throw new IllegalArgumentException("parameter " + e.getKey() + " does not require grad");
      expAvg.put(e.getKey(), Tensors.keep(zeros_like(p)));
      expAvgSq.put(e.getKey(), Tensors.keep(zeros_like(p)));
    }
  }

  public AdamWConfig config() { return config; }
  public Map<String, Tensor> params() { return params; }
  public long stepCount() { return step; }

  /** One update with learning rate lr (the schedule's value); parameters without a gradient are skipped. */
  public void step(double lr) {
    step++;
    double bc1 = 1 - Math.pow(config.beta1(), step);
    double bc2 = 1 - Math.pow(config.beta2(), step);
    double stepSize = lr / bc1;
    double bc2Sqrt = Math.sqrt(bc2);
    try (PointerScope scope = new PointerScope(); NoGradGuard g = new NoGradGuard()) {
      for (var e : params.entrySet()) {
        Tensor p = e.getValue();
        Tensor grad = p.grad();
        if (!grad.defined()) continue;
        Tensor m = expAvg.get(e.getKey());
        Tensor v = expAvgSq.get(e.getKey());
        // Same operation order as torch.optim.AdamW's single-tensor path.
        p.mul_(new Scalar(1 - lr * config.weightDecay()));
        m.lerp_(grad, new Scalar(1 - config.beta1()));
        v.mul_(new Scalar(config.beta2())).addcmul_(grad, grad, new Scalar(1 - config.beta2()));
        Tensor denom = v.sqrt().div_(new Scalar(bc2Sqrt)).add_(new Scalar(config.eps()));
        p.addcdiv_(m, denom, new Scalar(-stepSize));
      }
    }
  }

  /** Gradients to zero (kept allocated; libtorch accumulates into them on the next backward). */
  public void zeroGrad() {
    try (PointerScope scope = new PointerScope()) {
      for (Tensor p : params.values()) {
        Tensor grad = p.grad();
        if (grad.defined()) grad.zero_();
      }
    }
  }

  /** State tensors keyed "exp_avg/NAME" and "exp_avg_sq/NAME" (live views: copy before mutating). */
  public Map<String, Tensor> state() {
    Map<String, Tensor> out = new LinkedHashMap<>();
    for (String name : params.keySet()) {
      out.put("exp_avg/" + name, expAvg.get(name));
      out.put("exp_avg_sq/" + name, expAvgSq.get(name));
    }
    return out;
  }

  /** Restores state written by {@link #state()} and the step count; shapes must match. */
  public void load(Map<String, Tensor> state, long stepCount) {
    if (stepCount < 0) throw new IllegalArgumentException("optimizer step count must be >= 0, got " + stepCount);
    try (PointerScope scope = new PointerScope(); NoGradGuard g = new NoGradGuard()) {
      for (String name : params.keySet()) {
        copyInto("exp_avg/" + name, expAvg.get(name), state);
        copyInto("exp_avg_sq/" + name, expAvgSq.get(name), state);
      }
    }
    this.step = stepCount;
  }

  private static void copyInto(String key, Tensor dst, Map<String, Tensor> state) {
    Tensor src = state.get(key);
    if (src == null) throw new IllegalArgumentException("optimizer state is missing tensor " + key);
    Tensors.requireShape(key, src, Tensors.shape(dst));
    dst.copy_(src);
  }
}
