package dev.liger.train;

import java.util.Locale;

/** Compute precision of the forward pass. Master weights and optimizer state stay fp32. */
public enum Precision {
  FP32, BF16;

  public static Precision parse(String s) {
    return switch (s.trim().toLowerCase(Locale.ROOT)) {
      case "fp32", "float32", "f32" -> FP32;
      case "bf16", "bfloat16" -> BF16;
      default -> throw new IllegalArgumentException("unknown precision '" + s + "' (expected fp32 or bf16)");
    };
  }
}
