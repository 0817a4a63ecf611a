package dev.liger.train;

/** Validation loss (mean per target), called every evalEvery steps under no-grad. */
@FunctionalInterface
public interface Evaluator {
  double validationLoss();
}
