package dev.liger.train;

import static org.junit.jupiter.api.Assertions.*;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class NonFiniteAndPrecisionTest {
  @TempDir Path tmp;

  /** The tiny LM's objective, except that batch number `poison` (0-based) yields a NaN loss. */
  private static Objective<TinyLm.Batch> poisoned(TinyLm m, long poison, TinyLm.Source src) {
    Objective<TinyLm.Batch> base = m.objective();
    return new Objective<>() {
      @Override public long targets(TinyLm.Batch b) { return base.targets(b); }
      @Override public Tensor lossSum(TinyLm.Batch b) {
        Tensor l = base.lossSum(b);
        return src.cursor() - 1 == poison ? l.mul(new Scalar(Double.NaN)) : l;
      }
    };
  }

  @Test
  void stopReportsTheStepAndKeepsLastFiniteWeightsAndCheckpoint() throws IOException {
    TinyLm m = new TinyLm(7);
    TinyLm.Source src = new TinyLm.Source(2, 8);
    var cfg = TrainConfig.defaults(6, tmp).withProgress(false).withCheckpointEvery(1);
    Trainer<TinyLm.Batch> t = new Trainer<>(cfg, m.lora.trainable(), poisoned(m, 3, src), src);
    List<Map<String, float[]>> snapshots = new ArrayList<>();
    t.onStep(s -> {
      Map<String, float[]> snap = new java.util.HashMap<>();
      m.lora.trainable().forEach((k, v) -> snap.put(k, TT.toFloats(v)));
      snapshots.add(snap);
    });
    NonFiniteLossException e = assertThrows(NonFiniteLossException.class, t::run);
    assertEquals(4, e.step());
    assertTrue(e.getMessage().contains("step 4"), e.getMessage());
    assertEquals(3, t.step());
    m.lora.trainable().forEach((k, v) -> assertArrayEquals(snapshots.get(2).get(k), TT.toFloats(v), k));
    assertEquals(tmp.resolve("checkpoints/step-00000003"), Checkpoint.latest(t.checkpointDir()).orElseThrow());
  }

  @Test
  void skipDropsTheStepAndGoesOn() throws IOException {
    TinyLm m = new TinyLm(7);
    TinyLm.Source src = new TinyLm.Source(2, 8);
    var cfg = TrainConfig.defaults(6, tmp).withProgress(false).withNonFinite(NonFinitePolicy.SKIP).withCheckpointEvery(2);
    Trainer<TinyLm.Batch> t = new Trainer<>(cfg, m.lora.trainable(), poisoned(m, 3, src), src);
    List<StepStats> stats = t.run();
    assertEquals(6, stats.size());
    assertTrue(stats.get(3).skipped());
    assertTrue(Double.isNaN(stats.get(3).loss()));
    for (int i = 0; i < 6; i++) if (i != 3) assertTrue(Double.isFinite(stats.get(i).loss()) && !stats.get(i).skipped());
    assertEquals(5, t.optimizer().stepCount()); // the skipped step did not advance AdamW's bias correction
    for (Tensor p : m.lora.trainable().values()) assertTrue(p.isfinite().all().item().toBool());
    // Every log line is standard JSON; the skipped step's loss is null.
    var json = new com.fasterxml.jackson.databind.ObjectMapper();
    var lines = java.nio.file.Files.readAllLines(t.logFile());
    var skipped = json.readTree(lines.stream().filter(l -> l.contains("\"skipped\"")).findFirst().orElseThrow());
    assertEquals(4, skipped.get("step").asInt());
    assertTrue(skipped.get("loss").isNull());
    for (String l : lines) json.readTree(l);
  }

  @Test
  void refusesToCheckpointNonFiniteWeights() {
    TinyLm m = new TinyLm(8);
    var cfg = TrainConfig.defaults(1, tmp).withProgress(false);
    Trainer<TinyLm.Batch> t = new Trainer<>(cfg, m.lora.trainable(), m.objective(), new TinyLm.Source(2, 8));
    try (var g = new org.bytedeco.pytorch.NoGradGuard()) {
      m.lora.trainable().values().iterator().next().fill_(new Scalar(Double.POSITIVE_INFINITY));
    }
    var e = assertThrows(IllegalStateException.class, t::saveCheckpoint);
    assertTrue(e.getMessage().contains("lora_A"), e.getMessage());
  }

  @Test
  void bf16AutocastRunsMatmulsInBf16OnlyInsideTheRegion() throws IOException {
    Tensor a = TT.randn(1, 4, 4), b = TT.randn(2, 4, 4);
    try (Autocast ac = Autocast.open(Precision.BF16, torch.DeviceType.CPU)) {
      assertEquals(torch.ScalarType.BFloat16, Tensors.dtype(a.matmul(b)));
    }
    assertEquals(torch.ScalarType.Float, Tensors.dtype(a.matmul(b)));
    try (Autocast ac = Autocast.open(Precision.FP32, torch.DeviceType.CPU)) {
      assertEquals(torch.ScalarType.Float, Tensors.dtype(a.matmul(b)));
    }

    // A bf16 run trains (fp32 master weights) and stays close to the fp32 run.
    TinyLm x = new TinyLm(4), y = new TinyLm(4);
    var cfg = TrainConfig.defaults(10, tmp.resolve("x")).withProgress(false);
    List<StepStats> fp = new Trainer<>(cfg, x.lora.trainable(), x.objective(), new TinyLm.Source(4, 12)).run();
    List<StepStats> bf = new Trainer<>(TrainConfig.defaults(10, tmp.resolve("y")).withProgress(false).withPrecision(Precision.BF16),
        y.lora.trainable(), y.objective(), new TinyLm.Source(4, 12)).run();
    for (Tensor p : y.lora.trainable().values()) assertEquals(torch.ScalarType.Float, Tensors.dtype(p));
    assertNotEquals(fp.get(9).loss(), bf.get(9).loss()); // bf16 really ran
    assertEquals(fp.get(9).loss(), bf.get(9).loss(), 0.05 * fp.get(9).loss());
    assertTrue(bf.get(9).loss() < bf.get(0).loss());
  }
}
