package dev.liger.generate;

/** Receives each generated token as soon as it is chosen (streaming). */
@FunctionalInterface
public interface TokenListener {
    void onToken(int sequence, long token);
}
