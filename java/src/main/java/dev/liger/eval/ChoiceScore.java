package dev.liger.eval;

/**
 * A continuation's score: summed log-likelihood of its tokens given the context, its token and UTF-8
 * byte counts, and whether greedy decoding would have produced exactly these tokens.
 */
public record ChoiceScore(double logLikelihood, int tokens, int bytes, boolean greedy) {
  public double perByte() { return logLikelihood / bytes; }
}
