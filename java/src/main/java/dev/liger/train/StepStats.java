package dev.liger.train;

/** One optimizer step as logged: mean loss over the step's targets, the rate used, the pre-clip gradient norm. */
public record StepStats(long step, double loss, double lr, double gradNorm, long tokens, double seconds, boolean skipped) {}
