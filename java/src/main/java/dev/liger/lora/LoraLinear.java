package dev.liger.lora;

import dev.liger.model.Linear;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Generator;
import org.bytedeco.pytorch.GeneratorOptional;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * A frozen linear layer y = x W^T + b plus a low-rank update scaling * (dropout(x) A^T) B^T, with
 * A [r, in] and B [out, r] trainable (fp32). Shares W and b with the layer it wraps, so after
 * {@link #merge()} the model's weights hold W + scaling B A and forward is the plain layer.
 */
public final class LoraLinear extends Linear {
  private final String name;
  private final Tensor a;
  private final Tensor b;
  private final double scaling;
  private final double dropout;
  private final Generator rng;
  private boolean training = true;
  private boolean merged;

  /** Wraps base; A, B must be [r, in], [out, r]. Base tensors get requires_grad(false), A and B true. */
  public LoraLinear(String name, Linear base, Tensor a, Tensor b, double scaling, double dropout, Generator rng) {
    super(base.weight(), base.bias());
    long out = weight.size(0), in = weight.size(1);
    if (a.dim() != 2 || a.size(1) != in) throw new IllegalArgumentException(name + ": lora_A must be [r, " + in + "], got " + shape(a));
    if (b.dim() != 2 || b.size(0) != out || b.size(1) != a.size(0)) {
      throw new IllegalArgumentException(name + ": lora_B must be [" + out + ", " + a.size(0) + "], got " + shape(b));
    }
    if (dropout > 0 && rng == null) throw new IllegalArgumentException(name + ": dropout needs a generator");
    this.name = name;
    this.a = dev.liger.train.Tensors.keep(a);
    this.b = dev.liger.train.Tensors.keep(b);
    this.scaling = scaling;
    this.dropout = dropout;
    this.rng = rng;
    weight.set_requires_grad(false);
    if (bias != null) bias.set_requires_grad(false);
    a.set_requires_grad(true);
    b.set_requires_grad(true);
  }

  /**
   * New adapter as PEFT initialises it: A ~ kaiming_uniform(a=sqrt(5)) = U(-1/sqrt(in), 1/sqrt(in)),
   * B = 0, so the wrapped layer starts equal to the base layer.
   */
  public static LoraLinear init(String name, Linear base, LoraConfig config, Generator rng) {
    long in = base.inFeatures(), out = base.outFeatures();
    try (PointerScope scope = new PointerScope()) {
      var opts = new org.bytedeco.pytorch.TensorOptions(torch.ScalarType.Float)
          .device(new org.bytedeco.pytorch.DeviceOptional(base.weight().device()));
      Tensor a = torch.empty(new long[] {config.rank(), in}, opts, new org.bytedeco.pytorch.MemoryFormatOptional());
      double bound = 1.0 / Math.sqrt(in);
      try (NoGradGuard g = new NoGradGuard()) {
        a.uniform_(-bound, bound, new GeneratorOptional(rng));
      }
      Tensor b = torch.zeros(new long[] {out, config.rank()}, opts);
      return new LoraLinear(name, base, a, b, config.scaling(), config.dropout(), rng);
    }
  }

  /** HF module path, e.g. model.layers.0.self_attn.q_proj. */
  public String name() { return name; }
  public Tensor loraA() { return a; }
  public Tensor loraB() { return b; }
  public double scaling() { return scaling; }
  public int rank() { return (int) a.size(0); }
  public boolean merged() { return merged; }

  /** Dropout is applied only in training mode. */
  public void train(boolean on) { training = on; }

  @Override
  public Tensor forward(Tensor x) {
    Tensor y = super.forward(x);
    if (merged) return y;
    Tensor xd = x;
    if (training && dropout > 0) {
      Tensor keep = torch.empty_like(x).bernoulli_(1 - dropout, new GeneratorOptional(rng));
      xd = x.mul(keep).div(new Scalar(1 - dropout));
    }
    // As PEFT: the adapter runs in its own dtype on x cast to it, the sum in the base output's dtype.
    Tensor low = torch.linear(torch.linear(xd.to(a.scalar_type()), a), b).mul(new Scalar(scaling));
    return y.add(low.to(y.scalar_type()));
  }

  /** The update scaling * B A as a dense [out, in] fp32 tensor. */
  public Tensor delta() {
    return b.detach().matmul(a.detach()).mul(new Scalar(scaling));
  }

  /** W += scaling * B A, computed in fp32 and cast to W's dtype; forward then skips the adapter. */
  public void merge() {
    if (merged) throw new IllegalStateException(name + ": adapter already merged");
    try (PointerScope scope = new PointerScope(); NoGradGuard g = new NoGradGuard()) {
      weight.copy_(weight.to(torch.ScalarType.Float).add(delta()).to(weight.scalar_type()));
    }
    merged = true;
  }

  private static String shape(Tensor t) {
    StringBuilder sb = new StringBuilder("[");
    for (int i = 0; i < t.dim(); i++) sb.append(i > 0 ? ", " : "").append(t.size(i));
    return sb.append(']').toString();
  }
}
