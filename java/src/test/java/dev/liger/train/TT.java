package dev.liger.train;

import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;

/** Test helpers: Java arrays to and from CPU tensors. */
public final class TT {
  private TT() {}

  public static Tensor floats(float[] data, long... shape) {
    Tensor t = torch.empty(shape, new TensorOptions(torch.ScalarType.Float), new org.bytedeco.pytorch.MemoryFormatOptional());
    t.data_ptr_float().put(data);
    return t;
  }

  public static Tensor longs(long[] data, long... shape) {
    Tensor t = torch.empty(shape, new TensorOptions(torch.ScalarType.Long), new org.bytedeco.pytorch.MemoryFormatOptional());
    t.data_ptr_long().put(data);
    return t;
  }

  public static float[] toFloats(Tensor t) {
    Tensor c = t.detach().to(torch.ScalarType.Float).contiguous();
    float[] out = new float[(int) c.numel()];
    c.data_ptr_float().get(out);
    return out;
  }

  public static double[] toDoubles(Tensor t) {
    float[] f = toFloats(t);
    double[] d = new double[f.length];
    for (int i = 0; i < f.length; i++) d[i] = f[i];
    return d;
  }

  public static Tensor randn(long seed, long... shape) {
    var g = torch.createCPUGenerator(seed);
    Tensor t = torch.empty(shape, new TensorOptions(torch.ScalarType.Float), new org.bytedeco.pytorch.MemoryFormatOptional());
    t.normal_(0, 1, new org.bytedeco.pytorch.GeneratorOptional(g));
    return t;
  }

  public static double maxAbsDiff(Tensor a, Tensor b) {
    return a.detach().to(torch.ScalarType.Double).sub(b.detach().to(torch.ScalarType.Double)).abs().max().item_double();
  }
}
