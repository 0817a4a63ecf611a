package dev.liger.lora;

import static org.junit.jupiter.api.Assertions.*;

import dev.liger.model.Linear;
import dev.liger.train.TT;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;

class LoraLinearTest {
  @Test
  void forwardMatchesHandComputation() {
    // W [3, 2], b [3], A [2, 2], B [3, 2], alpha 4, r 2 -> scaling 2.
    float[] w = {1, 2, -1, 0.5f, 0, 3};
    float[] bias = {0.1f, -0.2f, 0.3f};
    float[] a = {0.5f, -1, 2, 0.25f};
    float[] b = {1, 0, -2, 1, 0.5f, 0.5f};
    float[] x = {2, -3, 0.5f, 1};
    LoraLinear l = new LoraLinear("q_proj", new Linear(TT.floats(w, 3, 2), TT.floats(bias, 3)), TT.floats(a, 2, 2),
        TT.floats(b, 3, 2), 2.0, 0, null);
    float[] got = TT.toFloats(l.forward(TT.floats(x, 2, 2)));
    for (int row = 0; row < 2; row++) {
      double[] ax = new double[2];
      for (int r = 0; r < 2; r++) ax[r] = a[r * 2] * x[row * 2] + a[r * 2 + 1] * x[row * 2 + 1];
      for (int o = 0; o < 3; o++) {
        double base = w[o * 2] * x[row * 2] + w[o * 2 + 1] * x[row * 2 + 1] + bias[o];
        double low = b[o * 2] * ax[0] + b[o * 2 + 1] * ax[1];
        assertEquals(base + 2.0 * low, got[row * 3 + o], 1e-5, "row " + row + " out " + o);
      }
    }
    assertFalse(l.weight().requires_grad());
    assertFalse(l.bias().requires_grad());
    assertTrue(l.loraA().requires_grad());
    assertTrue(l.loraB().requires_grad());
  }

  @Test
  void initIsPeftKaimingUniformAndZeroBAndSeeded() {
    Linear base = new Linear(TT.randn(1, 64, 100), null);
    LoraConfig c = LoraConfig.defaults().withSeed(42);
    LoraLinear l1 = LoraLinear.init("x", base, c, torch.createCPUGenerator(42));
    LoraLinear l2 = LoraLinear.init("x", base, c, torch.createCPUGenerator(42));
    LoraLinear l3 = LoraLinear.init("x", base, c, torch.createCPUGenerator(43));
    float[] a = TT.toFloats(l1.loraA());
    assertEquals(8 * 100, a.length);
    double bound = 1 / Math.sqrt(100), sq = 0;
    for (float v : a) {
      assertTrue(Math.abs(v) <= bound);
      sq += v * v;
    }
    // U(-b, b) has standard deviation b / sqrt(3).
    assertEquals(bound / Math.sqrt(3), Math.sqrt(sq / a.length), 0.1 * bound / Math.sqrt(3));
    assertEquals(0, l1.loraB().abs().sum().item_double());
    assertTrue(l1.loraA().equal(l2.loraA()));
    assertFalse(l1.loraA().equal(l3.loraA()));
    assertEquals(1.0, l1.scaling());
    Tensor x = TT.randn(5, 3, 100);
    assertTrue(base.forward(x).equal(l1.forward(x)), "a fresh adapter leaves the layer unchanged");
  }

  @Test
  void mergedEqualsUnmerged() {
    Linear base = new Linear(TT.randn(2, 16, 24), TT.randn(3, 16));
    LoraLinear l = LoraLinear.init("v_proj", base, LoraConfig.defaults().withRank(4).withAlpha(16), torch.createCPUGenerator(1));
    try (var g = new org.bytedeco.pytorch.NoGradGuard()) {
      l.loraB().copy_(TT.randn(4, 16, 4));
    }
    Tensor x = TT.randn(5, 2, 7, 24);
    Tensor unmerged = l.forward(x).detach().clone();
    Tensor w0 = base.weight().clone();
    l.merge();
    assertTrue(l.merged());
    Tensor merged = l.forward(x);
    assertTrue(TT.maxAbsDiff(unmerged, merged) < 1e-5, "diff " + TT.maxAbsDiff(unmerged, merged));
    assertTrue(TT.maxAbsDiff(base.weight(), w0.add(l.delta())) < 1e-6);
    assertTrue(TT.maxAbsDiff(base.weight(), w0) > 1e-2, "merge must change the shared base weight");
    assertThrows(IllegalStateException.class, l::merge);
  }

  @Test
  void dropoutOnlyInTrainingModeAndDrivenByTheGenerator() {
    Linear base = new Linear(TT.randn(2, 8, 8), null);
    var rng = torch.createCPUGenerator(5);
    LoraLinear l = LoraLinear.init("q_proj", base, LoraConfig.defaults().withDropout(0.5), rng);
    try (var g = new org.bytedeco.pytorch.NoGradGuard()) {
      l.loraB().copy_(TT.randn(4, 8, 8));
    }
    Tensor x = TT.randn(6, 4, 8);
    rng.set_current_seed(11);
    Tensor t1 = l.forward(x);
    rng.set_current_seed(11);
    Tensor t2 = l.forward(x);
    Tensor t3 = l.forward(x);
    assertTrue(t1.equal(t2), "same generator state, same mask");
    assertFalse(t1.equal(t3));
    l.train(false);
    assertTrue(l.forward(x).equal(l.forward(x)));
    assertFalse(l.forward(x).equal(t1));
  }

  @Test
  void rejectsBadShapesAndConfigs() {
    Linear base = new Linear(TT.randn(2, 8, 6), null);
    var e = assertThrows(IllegalArgumentException.class,
        () -> new LoraLinear("q", base, TT.randn(1, 2, 5), TT.randn(1, 8, 2), 1, 0, null));
    assertTrue(e.getMessage().contains("lora_A"), e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> new LoraConfig(0, 8, 0, List.of("q_proj"), false, 0));
    assertThrows(IllegalArgumentException.class, () -> new LoraConfig(8, 8, 1.0, List.of("q_proj"), false, 0));
    assertThrows(IllegalArgumentException.class, () -> new LoraConfig(8, 8, 0, List.of(), false, 0));
    Map<String, LinearSlot> slots = new LinkedHashMap<>();
    slots.put("model.layers.0.mlp.up_proj", new LinearSlot(base, x -> {}));
    var e2 = assertThrows(IllegalArgumentException.class, () -> LoraAdapters.create(slots, LoraConfig.defaults(), torch.createCPUGenerator(0)));
    assertTrue(e2.getMessage().contains("q_proj"), e2.getMessage());
  }
}
