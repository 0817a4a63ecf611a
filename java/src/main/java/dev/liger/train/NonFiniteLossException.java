package dev.liger.train;

/** A step produced a NaN or infinite loss or gradient; the step number is where it happened. */
public final class NonFiniteLossException extends RuntimeException {
  private final long step;

  public NonFiniteLossException(long step, String what, double value) {
    super("non-finite " + what + " (" + value + ") at step " + step + "; no update applied");
    this.step = step;
  }

  public long step() { return step; }
}
