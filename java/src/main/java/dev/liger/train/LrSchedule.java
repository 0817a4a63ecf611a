package dev.liger.train;

/**
 * Learning-rate schedule as a pure function of the update index (0-based), so resuming needs only
 * the step count. Warm-up ramps linearly over the first {@code warmupSteps} updates, reaching the
 * base rate on update warmupSteps-1 (never a zero-rate update); afterwards the decay shape applies
 * over the remaining {@code totalSteps - warmupSteps} updates, ending at {@code minRatio * base}.
 */
public record LrSchedule(Kind kind, long warmupSteps, long totalSteps, double minRatio) {
  public enum Kind { CONSTANT, COSINE, LINEAR }

  public LrSchedule {
    if (kind == null) throw new IllegalArgumentException("schedule kind is required");
    if (warmupSteps < 0) throw new IllegalArgumentException("warm-up steps must be >= 0, got " + warmupSteps);
    if (kind != Kind.CONSTANT && totalSteps <= warmupSteps) {
      throw new IllegalArgumentException(kind + " schedule needs total steps (" + totalSteps
          + ") > warm-up steps (" + warmupSteps + ")");
    }
    if (!(minRatio >= 0 && minRatio <= 1)) throw new IllegalArgumentException("min lr ratio must be in [0, 1], got " + minRatio);
  }

  public static LrSchedule constant() { return new LrSchedule(Kind.CONSTANT, 0, 0, 0); }

  public static LrSchedule parse(String name, long warmupSteps, long totalSteps) {
    Kind k;
    try {
      k = Kind.valueOf(name.trim().toUpperCase(java.util.Locale.ROOT));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("unknown schedule '" + name + "' (expected constant, cosine or linear)");
    }
    return new LrSchedule(k, warmupSteps, totalSteps, 0);
  }

  /** Multiplier on the base learning rate for update index {@code step} (0-based). */
  public double factor(long step) {
    if (step < 0) throw new IllegalArgumentException("step must be >= 0, got " + step);
    if (step < warmupSteps) return (double) (step + 1) / warmupSteps;
    if (kind == Kind.CONSTANT) return 1.0;
    double progress = Math.min(1.0, (double) (step - warmupSteps) / (totalSteps - warmupSteps));
    double shape = kind == Kind.COSINE ? 0.5 * (1 + Math.cos(Math.PI * progress)) : 1 - progress;
    return minRatio + (1 - minRatio) * shape;
  }

  public double lr(long step, double baseLr) { return baseLr * factor(step); }
}
