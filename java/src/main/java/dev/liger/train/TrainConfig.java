package dev.liger.train;

import java.nio.file.Path;

/**
 * Everything that defines a training run. {@code steps} counts optimizer updates; each update sees
 * {@code gradAccum} micro-batches. {@code clipNorm <= 0} disables clipping; {@code evalEvery} and
 * {@code checkpointEvery} of 0 disable those. {@code outputDir} holds checkpoints/ and train.jsonl.
 */
public record TrainConfig(
    AdamWConfig optimizer,
    LrSchedule schedule,
    long steps,
    int gradAccum,
    double clipNorm,
    long seed,
    Precision precision,
    long evalEvery,
    long checkpointEvery,
    int keepCheckpoints,
    NonFinitePolicy nonFinite,
    Path outputDir,
    boolean progress) {

  public TrainConfig {
    if (optimizer == null) throw new IllegalArgumentException("optimizer config is required");
    if (schedule == null) throw new IllegalArgumentException("schedule is required");
    if (steps <= 0) throw new IllegalArgumentException("steps must be > 0, got " + steps);
    if (gradAccum <= 0) throw new IllegalArgumentException("gradient accumulation must be > 0, got " + gradAccum);
    if (Double.isNaN(clipNorm)) throw new IllegalArgumentException("clip norm must not be NaN");
    if (evalEvery < 0 || checkpointEvery < 0) throw new IllegalArgumentException("eval/checkpoint intervals must be >= 0");
    if (keepCheckpoints < 1) throw new IllegalArgumentException("keep at least 1 checkpoint, got " + keepCheckpoints);
    if (precision == null) precision = Precision.FP32;
    if (nonFinite == null) nonFinite = NonFinitePolicy.STOP;
  }

  /** Paper defaults: AdamW 1e-3 / 0.01, constant rate, no clipping, fp32, stop on NaN. */
  public static TrainConfig defaults(long steps, Path outputDir) {
    return new TrainConfig(AdamWConfig.defaults(), LrSchedule.constant(), steps, 1, 0, 0, Precision.FP32,
        0, 0, 2, NonFinitePolicy.STOP, outputDir, true);
  }

  public TrainConfig withGradAccum(int n) {
    return new TrainConfig(optimizer, schedule, steps, n, clipNorm, seed, precision, evalEvery, checkpointEvery,
        keepCheckpoints, nonFinite, outputDir, progress);
  }

  public TrainConfig withSteps(long n) {
    return new TrainConfig(optimizer, schedule, n, gradAccum, clipNorm, seed, precision, evalEvery, checkpointEvery,
        keepCheckpoints, nonFinite, outputDir, progress);
  }

  public TrainConfig withClipNorm(double c) {
    return new TrainConfig(optimizer, schedule, steps, gradAccum, c, seed, precision, evalEvery, checkpointEvery,
        keepCheckpoints, nonFinite, outputDir, progress);
  }

  public TrainConfig withCheckpointEvery(long n) {
    return new TrainConfig(optimizer, schedule, steps, gradAccum, clipNorm, seed, precision, evalEvery, n,
        keepCheckpoints, nonFinite, outputDir, progress);
  }

  public TrainConfig withEvalEvery(long n) {
    return new TrainConfig(optimizer, schedule, steps, gradAccum, clipNorm, seed, precision, n, checkpointEvery,
        keepCheckpoints, nonFinite, outputDir, progress);
  }

  public TrainConfig withNonFinite(NonFinitePolicy p) {
    return new TrainConfig(optimizer, schedule, steps, gradAccum, clipNorm, seed, precision, evalEvery, checkpointEvery,
        keepCheckpoints, p, outputDir, progress);
  }

  public TrainConfig withSchedule(LrSchedule s) {
    return new TrainConfig(optimizer, s, steps, gradAccum, clipNorm, seed, precision, evalEvery, checkpointEvery,
        keepCheckpoints, nonFinite, outputDir, progress);
  }

  public TrainConfig withPrecision(Precision p) {
    return new TrainConfig(optimizer, schedule, steps, gradAccum, clipNorm, seed, p, evalEvery, checkpointEvery,
        keepCheckpoints, nonFinite, outputDir, progress);
  }

  public TrainConfig withProgress(boolean on) {
    return new TrainConfig(optimizer, schedule, steps, gradAccum, clipNorm, seed, precision, evalEvery, checkpointEvery,
        keepCheckpoints, nonFinite, outputDir, on);
  }
}
