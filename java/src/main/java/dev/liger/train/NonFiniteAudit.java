package dev.liger.train;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;

/**
 * Where a non-finite step came from: the trainable tensors (named by module path, so by layer) whose
 * gradient or value holds a NaN or an infinity. Runs only after a fault has been detected.
 */
final class NonFiniteAudit {
  private NonFiniteAudit() {}

  /** Names of parameters whose gradient is defined and not all finite. */
  static List<String> gradients(Map<String, Tensor> params) {
    List<String> out = new ArrayList<>();
    try (PointerScope scope = new PointerScope(); NoGradGuard g = new NoGradGuard()) {
      for (var e : params.entrySet()) {
        Tensor gr = e.getValue().grad();
        if (gr.defined() && !gr.isfinite().all().item().toBool()) out.add(e.getKey());
      }
    }
    return out;
  }

  /** Names of parameters whose value is not all finite. */
  static List<String> values(Map<String, Tensor> params) {
    List<String> out = new ArrayList<>();
    try (PointerScope scope = new PointerScope(); NoGradGuard g = new NoGradGuard()) {
      for (var e : params.entrySet()) {
        if (!e.getValue().isfinite().all().item().toBool()) out.add(e.getKey());
      }
    }
    return out;
  }

  /** " (in: a, b)" naming at most four tensors, or "" when none is found. */
  static String where(String kind, List<String> names) {
    if (names.isEmpty()) return "";
    List<String> shown = names.size() > 4 ? names.subList(0, 4) : names;
    return " (" + kind + " in " + String.join(", ", shown) + (names.size() > 4 ? " and " + (names.size() - 4) + " more" : "") + ")";
  }
}
