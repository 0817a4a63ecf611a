package dev.liger.train;

/** What to do when a step's loss or gradient norm is NaN or infinite. */
public enum NonFinitePolicy {
  /** Throw {@link NonFiniteLossException}; parameters keep their last finite values. */
  STOP,
  /** Drop the step's gradients, leave parameters and optimizer state untouched, go on. */
  SKIP
}
