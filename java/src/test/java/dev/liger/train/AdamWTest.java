package dev.liger.train;

import static org.junit.jupiter.api.Assertions.*;

import java.util.LinkedHashMap;
import java.util.Map;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.Test;

class AdamWTest {
  /** loss = sum(c * p^3) has gradient 3 c p^2, which changes every step and differs per element. */
  @Test
  void matchesFloat64ReferenceOverSeveralSteps() {
    float[] p0 = {0.5f, -1.25f, 2.0f, 0.01f, -0.3f, 1.7f};
    float[] c = {1f, 0.5f, -2f, 3f, 0.25f, -1f};
    Tensor p = TT.floats(p0.clone(), 2, 3).set_requires_grad(true);
    Tensor coef = TT.floats(c, 2, 3);
    AdamWConfig cfg = new AdamWConfig(0.05, 0.1, 0.9, 0.99, 1e-8);
    AdamW opt = new AdamW(Map.of("p", p), cfg);

    double[] ref = new double[p0.length];
    for (int i = 0; i < ref.length; i++) ref[i] = p0[i];
    double[] m = new double[ref.length], v = new double[ref.length];
    double[] lrs = {0.05, 0.04, 0.03, 0.05, 0.01, 0.02};
    for (int step = 1; step <= lrs.length; step++) {
      opt.zeroGrad();
      p.pow(new org.bytedeco.pytorch.Scalar(3.0)).mul(coef).sum().backward();
      // The float64 reference takes the gradient at the float32 parameters the tensor code sees.
      double[] cur = TT.toDoubles(p);
      opt.step(lrs[step - 1]);
      for (int i = 0; i < ref.length; i++) {
        double g = 3 * c[i] * cur[i] * cur[i];
        ref[i] = cur[i] * (1 - lrs[step - 1] * cfg.weightDecay());
        m[i] = 0.9 * m[i] + 0.1 * g;
        v[i] = 0.99 * v[i] + 0.01 * g * g;
        double mh = m[i] / (1 - Math.pow(0.9, step));
        double vh = v[i] / (1 - Math.pow(0.99, step));
        ref[i] -= lrs[step - 1] * mh / (Math.sqrt(vh) + 1e-8);
      }
      double[] got = TT.toDoubles(p);
      for (int i = 0; i < ref.length; i++) {
        assertEquals(ref[i], got[i], 1e-6 * Math.max(1, Math.abs(ref[i])), "step " + step + " element " + i);
      }
    }
    assertEquals(lrs.length, opt.stepCount());
  }

  @Test
  void firstStepMovesEachWeightByLrTimesSignOfGradient() {
    Tensor p = TT.floats(new float[] {1f, -2f, 3f}, 3).set_requires_grad(true);
    AdamW opt = new AdamW(Map.of("p", p), AdamWConfig.defaults().withLr(0.1));
    p.mul(TT.floats(new float[] {2f, 5f, -7f}, 3)).sum().backward();
    opt.step(0.1);
    // Bias-corrected first step: m_hat / sqrt(v_hat) = sign(g); decay first: p (1 - lr wd).
    double[] got = TT.toDoubles(p);
    assertEquals(1 * (1 - 0.1 * 0.01) - 0.1, got[0], 1e-6);
    assertEquals(-2 * (1 - 0.1 * 0.01) - 0.1, got[1], 1e-6);
    assertEquals(3 * (1 - 0.1 * 0.01) + 0.1, got[2], 1e-6);
  }

  @Test
  void parameterWithoutGradientIsUntouchedAndStateRoundTrips() {
    Tensor a = TT.floats(new float[] {1f, 2f}, 2).set_requires_grad(true);
    Tensor b = TT.floats(new float[] {3f, 4f}, 2).set_requires_grad(true);
    Map<String, Tensor> ps = new LinkedHashMap<>();
    ps.put("a", a);
    ps.put("b", b);
    AdamW opt = new AdamW(ps, AdamWConfig.defaults());
    a.sum().backward();
    opt.step(1e-3);
    assertArrayEquals(new float[] {3f, 4f}, TT.toFloats(b));
    assertNotEquals(1f, TT.toFloats(a)[0]);

    AdamW copy = new AdamW(ps, AdamWConfig.defaults());
    copy.load(opt.state(), opt.stepCount());
    for (var e : opt.state().entrySet()) assertTrue(e.getValue().equal(copy.state().get(e.getKey())), e.getKey());
    assertEquals(1, copy.stepCount());
    assertThrows(IllegalArgumentException.class, () -> copy.load(Map.of(), 1));
  }

  @Test
  void rejectsFrozenParametersAndBadConfig() {
    Tensor frozen = TT.floats(new float[] {1f}, 1);
    var ex = assertThrows(IllegalArgumentException.class, () -> new AdamW(Map.of("w", frozen), AdamWConfig.defaults()));
    assertTrue(ex.getMessage().contains("w"));
    assertThrows(IllegalArgumentException.class, () -> new AdamWConfig(1e-3, 0, 1.0, 0.999, 1e-8));
    assertThrows(IllegalArgumentException.class, () -> new AdamWConfig(Double.NaN, 0, 0.9, 0.999, 1e-8));
  }
}
