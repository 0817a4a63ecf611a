package dev.liger.eval;

/**
 * Perplexity over a token stream: {@code tokens} targets scored with a summed negative log-likelihood
 * {@code nll} (nats) in {@code windows} model calls of at most {@code window} tokens advancing by {@code stride}.
 */
public record PerplexityResult(long tokens, double nll, int windows, int window, int stride) {
  public double meanNll() { return nll / tokens; }

  public double perplexity() { return Math.exp(meanNll()); }

  public double bitsPerToken() { return meanNll() / Math.log(2); }
}
