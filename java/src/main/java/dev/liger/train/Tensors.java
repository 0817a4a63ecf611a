package dev.liger.train;

import java.util.Arrays;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;

/** Small tensor helpers shared by the trainer classes. */
public final class Tensors {
  private Tensors() {}

  /** Detaches t from the innermost open PointerScope so it outlives that scope (freed by close() or GC). */
  public static Tensor keep(Tensor t) {
    PointerScope scope = PointerScope.getInnerScope();
    if (scope != null) scope.detach(t);
    return t;
  }

  public static long[] shape(Tensor t) {
    long[] s = new long[(int) t.dim()];
    for (int i = 0; i < s.length; i++) s[i] = t.size(i);
    return s;
  }

  public static void requireShape(String name, Tensor t, long... expected) {
    long[] actual = shape(t);
    if (!Arrays.equals(actual, expected)) {
      throw new IllegalArgumentException("tensor " + name + " has shape " + Arrays.toString(actual)
          + ", expected " + Arrays.toString(expected));
    }
  }
}
