package dev.liger.generate;

/** The new tokens of one sequence (stop token included when one ended it) and why generation ended. */
public record GenerationResult(long[] tokens, StopReason reason) {
    public enum StopReason { STOP_TOKEN, MAX_TOKENS }
}
