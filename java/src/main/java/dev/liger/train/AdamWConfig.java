package dev.liger.train;

/** AdamW hyper-parameters; defaults are the Liger paper's recipe. */
public record AdamWConfig(double lr, double weightDecay, double beta1, double beta2, double eps) {
  public AdamWConfig {
    if (!(lr >= 0) || Double.isInfinite(lr)) throw new IllegalArgumentException("lr must be finite and >= 0, got " + lr);
    if (!(weightDecay >= 0)) throw new IllegalArgumentException("weight decay must be >= 0, got " + weightDecay);
    if (!(beta1 >= 0 && beta1 < 1)) throw new IllegalArgumentException("beta1 must be in [0, 1), got " + beta1);
    if (!(beta2 >= 0 && beta2 < 1)) throw new IllegalArgumentException("beta2 must be in [0, 1), got " + beta2);
    if (!(eps > 0)) throw new IllegalArgumentException("eps must be > 0, got " + eps);
  }

  public static AdamWConfig defaults() {
    return new AdamWConfig(1e-3, 0.01, 0.9, 0.999, 1e-8);
  }

  public AdamWConfig withLr(double newLr) {
    return new AdamWConfig(newLr, weightDecay, beta1, beta2, eps);
  }
}
