package dev.liger.lora;

import java.util.List;

/**
 * LoRA hyper-parameters. scaling = alpha / r (PEFT's default; alpha / sqrt(r) with rsLoRA).
 * Targets match a linear layer when its module path equals the target or ends with "." + target.
 */
public record LoraConfig(int rank, double alpha, double dropout, List<String> targetModules, boolean rsLora, long seed) {
  public static final List<String> DEFAULT_TARGETS = List.of("q_proj", "k_proj", "v_proj");

  public LoraConfig {
    if (rank <= 0) throw new IllegalArgumentException("LoRA rank must be > 0, got " + rank);
    if (!(alpha > 0) || Double.isInfinite(alpha)) throw new IllegalArgumentException("LoRA alpha must be finite and > 0, got " + alpha);
    if (!(dropout >= 0 && dropout < 1)) throw new IllegalArgumentException("LoRA dropout must be in [0, 1), got " + dropout);
    if (targetModules == null || targetModules.isEmpty()) throw new IllegalArgumentException("LoRA needs at least one target module");
    targetModules = List.copyOf(targetModules);
  }

  /** The paper's recipe: rank 8, alpha 8, dropout 0 on q_proj, k_proj, v_proj. */
  public static LoraConfig defaults() {
    return new LoraConfig(8, 8, 0, DEFAULT_TARGETS, false, 0);
  }

  public double scaling() {
    return rsLora ? alpha / Math.sqrt(rank) : alpha / rank;
  }

  public boolean targets(String modulePath) {
    for (String t : targetModules) if (modulePath.equals(t) || modulePath.endsWith("." + t)) return true;
    return false;
  }

  public LoraConfig withRank(int r) { return new LoraConfig(r, alpha, dropout, targetModules, rsLora, seed); }
  public LoraConfig withAlpha(double a) { return new LoraConfig(rank, a, dropout, targetModules, rsLora, seed); }
  public LoraConfig withDropout(double d) { return new LoraConfig(rank, alpha, d, targetModules, rsLora, seed); }
  public LoraConfig withTargets(List<String> t) { return new LoraConfig(rank, alpha, dropout, t, rsLora, seed); }
  public LoraConfig withSeed(long s) { return new LoraConfig(rank, alpha, dropout, targetModules, rsLora, s); }
}
