package dev.liger.eval;

/** Text to token ids, without special tokens (e.g. {@code text -> tokenizer.encode(text, false)}). */
@FunctionalInterface
public interface TextEncoder {
  long[] encode(String text);
}
