package dev.liger.generate;

import java.util.Set;

/**
 * How to pick tokens. temperature 0 = greedy (argmax); otherwise logits/temperature are filtered by
 * top-k (0 = off) and top-p (1 = off) and sampled with a generator seeded from {@code seed}.
 */
public record SamplingParams(double temperature, int topK, double topP, long seed, int maxNewTokens, Set<Long> stopTokens) {
    public SamplingParams {
        if (!(temperature >= 0) || Double.isInfinite(temperature)) throw new IllegalArgumentException("temperature must be >= 0, got " + temperature);
        if (topK < 0) throw new IllegalArgumentException("top-k must be >= 0, got " + topK);
        if (!(topP > 0 && topP <= 1)) throw new IllegalArgumentException("top-p must be in (0, 1], got " + topP);
        if (maxNewTokens < 0) throw new IllegalArgumentException("max new tokens must be >= 0, got " + maxNewTokens);
        stopTokens = Set.copyOf(stopTokens);
    }

    public static SamplingParams greedy(int maxNewTokens, Set<Long> stopTokens) {
        return new SamplingParams(0, 0, 1, 0, maxNewTokens, stopTokens);
    }

    public boolean isGreedy() {
        return temperature == 0;
    }
}
