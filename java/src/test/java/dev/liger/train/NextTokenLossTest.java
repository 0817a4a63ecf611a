package dev.liger.train;

import static org.junit.jupiter.api.Assertions.*;

import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.Test;

class NextTokenLossTest {
  @Test
  void matchesHandComputedCrossEntropyWithMask() {
    // B=1, T=3, V=2. Targets are ids[1], ids[2], predicted from logits[0], logits[1].
    float[] logits = {0f, 1f, 2f, 0f, 5f, 5f};
    Tensor l = TT.floats(logits, 1, 3, 2);
    Tensor ids = TT.longs(new long[] {0, 1, 0}, 1, 3);
    double t1 = -Math.log(Math.exp(1) / (1 + Math.exp(1))); // target 1 under logits (0, 1)
    double t2 = -Math.log(Math.exp(2) / (Math.exp(2) + 1)); // target 0 under logits (2, 0)
    assertEquals(t1 + t2, NextTokenLoss.sum(l, ids, null).item_double(), 1e-6);
    assertEquals(2, NextTokenLoss.targets(ids, null));

    Tensor mask = TT.longs(new long[] {1, 0, 1}, 1, 3); // position 0's mask is ignored: never a target
    assertEquals(t2, NextTokenLoss.sum(l, ids, mask).item_double(), 1e-6);
    assertEquals(1, NextTokenLoss.targets(ids, mask));
  }

  @Test
  void rejectsMismatchedShapes() {
    Tensor l = TT.floats(new float[12], 1, 3, 4);
    var e = assertThrows(IllegalArgumentException.class, () -> NextTokenLoss.sum(l, TT.longs(new long[4], 1, 4), null));
    assertTrue(e.getMessage().contains("logits"));
    assertThrows(IllegalArgumentException.class,
        () -> NextTokenLoss.sum(l, TT.longs(new long[3], 1, 3), TT.longs(new long[2], 1, 2)));
  }
}
