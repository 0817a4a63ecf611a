package dev.liger.train;

/** A step's loss jumped above the configured multiple of the recent mean; no update was applied. */
public final class LossSpikeException extends RuntimeException {
  private final long step;
  private final double loss;
  private final double recentMean;

  public LossSpikeException(long step, double loss, double recentMean, double factor) {
    super("loss spike at step " + step + ": " + loss + " is more than " + factor + " x the recent mean " + recentMean
        + "; no update applied");
    this.step = step;
    this.loss = loss;
    this.recentMean = recentMean;
  }

  public long step() { return step; }
  public double loss() { return loss; }
  public double recentMean() { return recentMean; }
}
