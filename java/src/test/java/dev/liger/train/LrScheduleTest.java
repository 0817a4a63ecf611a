package dev.liger.train;

import static org.junit.jupiter.api.Assertions.*;

import org.junit.jupiter.api.Test;

class LrScheduleTest {
  @Test
  void constantIsFlat() {
    LrSchedule s = LrSchedule.constant();
    for (long i : new long[] {0, 1, 100, 1_000_000}) assertEquals(1e-3, s.lr(i, 1e-3), 0);
  }

  @Test
  void warmupThenConstant() {
    LrSchedule s = new LrSchedule(LrSchedule.Kind.CONSTANT, 4, 0, 0);
    assertEquals(0.25, s.factor(0), 1e-12);
    assertEquals(0.5, s.factor(1), 1e-12);
    assertEquals(1.0, s.factor(3), 1e-12);
    assertEquals(1.0, s.factor(50), 1e-12);
  }

  @Test
  void cosineWithWarmup() {
    LrSchedule s = new LrSchedule(LrSchedule.Kind.COSINE, 2, 12, 0);
    assertEquals(0.5, s.factor(0), 1e-12);
    assertEquals(1.0, s.factor(1), 1e-12);
    assertEquals(1.0, s.factor(2), 1e-12); // decay starts at progress 0
    assertEquals(0.5, s.factor(7), 1e-12); // halfway through 10 decay steps
    assertEquals(0.5 * (1 + Math.cos(Math.PI * 0.3)), s.factor(5), 1e-12);
    assertEquals(0.0, s.factor(12), 1e-12);
    assertEquals(0.0, s.factor(20), 1e-12);
  }

  @Test
  void linearDecayToMinRatio() {
    LrSchedule s = new LrSchedule(LrSchedule.Kind.LINEAR, 0, 10, 0.1);
    assertEquals(1.0, s.factor(0), 1e-12);
    assertEquals(0.1 + 0.9 * 0.5, s.factor(5), 1e-12);
    assertEquals(0.1, s.factor(10), 1e-12);
  }

  @Test
  void parsesNamesAndRejectsBadOnes() {
    assertEquals(LrSchedule.Kind.COSINE, LrSchedule.parse("Cosine", 0, 5).kind());
    var e = assertThrows(IllegalArgumentException.class, () -> LrSchedule.parse("step", 0, 5));
    assertTrue(e.getMessage().contains("step"));
    assertThrows(IllegalArgumentException.class, () -> new LrSchedule(LrSchedule.Kind.COSINE, 5, 5, 0));
  }
}
