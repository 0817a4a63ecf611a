package dev.liger.train;

import java.util.Arrays;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/** Small tensor helpers shared by the trainer classes. */
public final class Tensors {
  private Tensors() {}

  /**
   * Takes a reference on t so that closing the PointerScope it was created in does not free it
   * (PointerScope.detach would release it). It is freed when the Java object is collected.
   */
  public static Tensor keep(Tensor t) {
    t.retainReference();
    return t;
  }

  /**
   * The tensor's dtype as the canonical enum constant. Enums returned from native calls are fresh
   * instances (ordinal 0), so they must not be switched on or compared with ==.
   */
  public static torch.ScalarType dtype(Tensor t) {
    return canonical(t.scalar_type());
  }

  public static torch.ScalarType canonical(torch.ScalarType s) {
    for (torch.ScalarType c : torch.ScalarType.values()) if (c.value == s.value) return c;
    throw new IllegalArgumentException("unknown scalar type value " + s.value);
  }

  public static torch.DeviceType deviceType(Tensor t) {
    try (PointerScope scope = new PointerScope()) {
      torch.DeviceType d = t.device().type();
      for (torch.DeviceType c : torch.DeviceType.values()) if (c.value == d.value) return c;
      throw new IllegalArgumentException("unknown device type value " + d.value);
    }
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
