package dev.liger.eval;

import java.util.List;

/**
 * Multiple-choice results: accuracy by raw log-likelihood (acc) and by log-likelihood per UTF-8 byte of
 * the continuation (acc_norm), each with the standard error of the mean (sample standard deviation over
 * sqrt(n), as lm-evaluation-harness reports). {@code skipped} counts malformed input records.
 */
public record ChoiceResults(int questions, int skipped, double acc, double accStderr, double accNorm,
    double accNormStderr, List<QuestionResult> details) {

  static ChoiceResults of(List<QuestionResult> details, int skipped) {
    int n = details.size();
    double[] a = new double[n], an = new double[n];
    for (int i = 0; i < n; i++) {
      a[i] = details.get(i).correct() ? 1 : 0;
      an[i] = details.get(i).correctNorm() ? 1 : 0;
    }
    return new ChoiceResults(n, skipped, mean(a), stderr(a), mean(an), stderr(an), List.copyOf(details));
  }

  static double mean(double[] x) {
    double s = 0;
    for (double v : x) s += v;
    return x.length == 0 ? Double.NaN : s / x.length;
  }

  /** sqrt(sum (x - mean)^2 / (n - 1)) / sqrt(n); NaN below 2 samples. */
  static double stderr(double[] x) {
    if (x.length < 2) return Double.NaN;
    double m = mean(x), ss = 0;
    for (double v : x) ss += (v - m) * (v - m);
    return Math.sqrt(ss / (x.length - 1)) / Math.sqrt(x.length);
  }
}
