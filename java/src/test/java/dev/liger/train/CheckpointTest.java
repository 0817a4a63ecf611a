package dev.liger.train;

import static org.junit.jupiter.api.Assertions.*;

import dev.liger.lora.LoraConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CheckpointTest {
  @TempDir Path tmp;

  private static TrainConfig config(Path out, long steps) {
    return TrainConfig.defaults(steps, out).withProgress(false).withCheckpointEvery(3)
        .withSchedule(new LrSchedule(LrSchedule.Kind.COSINE, 2, 8, 0.1));
  }

  /** Dropout 0.2 makes the run depend on the RNG stream, the source on its cursor. */
  private static TinyLm model() {
    return new TinyLm(5, LoraConfig.defaults().withRank(2).withAlpha(4).withDropout(0.2).withSeed(9));
  }

  @Test
  void resumeContinuesTheSameRunBitForBit() throws IOException {
    TinyLm straight = model();
    Trainer<TinyLm.Batch> a = new Trainer<>(config(tmp.resolve("a"), 8), straight.lora.trainable(),
        straight.objective(), new TinyLm.Source(3, 10)).rng(straight.rng);
    List<Double> lossesA = a.run().stream().map(StepStats::loss).toList();

    // First half in one process-like life...
    TinyLm first = model();
    Path out = tmp.resolve("b");
    new Trainer<>(config(out, 4), first.lora.trainable(), first.objective(), new TinyLm.Source(3, 10))
        .rng(first.rng).run();
    // ...then a fresh model (re-initialised, so its LoRA weights differ from the trained ones) resumes.
    TinyLm second = model();
    Trainer<TinyLm.Batch> b = new Trainer<>(config(out, 8), second.lora.trainable(), second.objective(),
        new TinyLm.Source(3, 10)).rng(second.rng);
    assertEquals(4L, b.resume().orElseThrow());
    List<Double> lossesB = new ArrayList<>();
    for (int i = 0; i < 4; i++) lossesB.add(lossesA.get(i)); // the first half is the same code path as run a
    lossesB.addAll(b.run().stream().map(StepStats::loss).toList());

    assertEquals(lossesA, lossesB);
    for (var e : straight.lora.trainable().entrySet()) {
      assertTrue(e.getValue().equal(second.lora.trainable().get(e.getKey())), e.getKey() + " differs after resume");
    }
    for (var e : a.optimizer().state().entrySet()) assertTrue(e.getValue().equal(b.optimizer().state().get(e.getKey())), e.getKey());
  }

  @Test
  void firstHalfOfResumedRunMatchesStraightRun() throws IOException {
    // Same seeds, same first 4 steps: guards the assumption used above.
    TinyLm x = model(), y = model();
    var lx = new Trainer<>(config(tmp.resolve("x"), 4), x.lora.trainable(), x.objective(), new TinyLm.Source(3, 10)).rng(x.rng).run();
    var ly = new Trainer<>(config(tmp.resolve("y"), 8), y.lora.trainable(), y.objective(), new TinyLm.Source(3, 10)).rng(y.rng).run();
    for (int i = 0; i < 4; i++) assertEquals(lx.get(i).loss(), ly.get(i).loss());
  }

  @Test
  void partialAndCorruptDirectoriesAreIgnored() throws IOException {
    TinyLm m = model();
    Trainer<TinyLm.Batch> t = new Trainer<>(config(tmp, 3), m.lora.trainable(), m.objective(), new TinyLm.Source(2, 8)).rng(m.rng);
    t.run();
    Path root = t.checkpointDir();
    Path good = root.resolve("step-00000003");
    assertEquals(good, Checkpoint.latest(root).orElseThrow());

    // A save killed before its rename: a temp dir with everything but the manifest.
    Path killed = root.resolve(".tmp-step-00000009-1-1");
    Files.createDirectories(killed);
    Files.copy(good.resolve(Checkpoint.TENSORS), killed.resolve(Checkpoint.TENSORS));
    // A step directory without a manifest, and one whose tensors were truncated after the manifest.
    Path noManifest = root.resolve("step-00000010");
    Files.createDirectories(noManifest);
    Files.copy(good.resolve(Checkpoint.TENSORS), noManifest.resolve(Checkpoint.TENSORS));
    Files.copy(good.resolve(Checkpoint.STATE), noManifest.resolve(Checkpoint.STATE));
    Path truncated = root.resolve("step-00000011");
    Files.createDirectories(truncated);
    for (String f : List.of(Checkpoint.TENSORS, Checkpoint.STATE, Checkpoint.MANIFEST)) Files.copy(good.resolve(f), truncated.resolve(f));
    byte[] bytes = Files.readAllBytes(truncated.resolve(Checkpoint.TENSORS));
    Files.write(truncated.resolve(Checkpoint.TENSORS), java.util.Arrays.copyOf(bytes, bytes.length - 4));

    assertEquals(good, Checkpoint.latest(root).orElseThrow());
    var e = assertThrows(IOException.class, () -> Checkpoint.load(truncated));
    assertTrue(e.getMessage().contains("tensors.safetensors"), e.getMessage());
    assertThrows(IOException.class, () -> Checkpoint.load(noManifest));

    TinyLm fresh = model();
    Trainer<TinyLm.Batch> r = new Trainer<>(config(tmp, 3), fresh.lora.trainable(), fresh.objective(), new TinyLm.Source(2, 8)).rng(fresh.rng);
    assertEquals(3L, r.resume().orElseThrow());
    // The next save cleans the dead temp directory.
    r.saveCheckpoint();
    assertFalse(Files.exists(killed));
  }

  @Test
  void keepsOnlyTheNewestCheckpoints() throws IOException {
    TinyLm m = model();
    var cfg = TrainConfig.defaults(7, tmp).withProgress(false).withCheckpointEvery(2);
    Trainer<TinyLm.Batch> t = new Trainer<>(cfg, m.lora.trainable(), m.objective(), new TinyLm.Source(2, 8)).rng(m.rng);
    t.run();
    List<Path> all = Checkpoint.complete(t.checkpointDir());
    assertEquals(List.of(t.checkpointDir().resolve("step-00000007"), t.checkpointDir().resolve("step-00000006")), all);
    Checkpoint c = Checkpoint.load(all.get(0));
    assertEquals(7, c.step());
    assertEquals(7, c.cursor());
    assertEquals(m.lora.trainable().keySet(), c.params().keySet());
  }

  @Test
  void checkpointRoundTripsTensorsOfEveryKindExactly() throws IOException {
    Map<String, Tensor> params = new java.util.LinkedHashMap<>();
    params.put("w", TT.randn(1, 3, 4));
    params.put("w_bf16", TT.randn(2, 5).to(org.bytedeco.pytorch.global.torch.ScalarType.BFloat16));
    Map<String, Tensor> optim = Map.of("exp_avg/w", TT.randn(3, 3, 4), "steps", TT.longs(new long[] {1, -2, Long.MAX_VALUE}, 3));
    Map<String, Tensor> rng = Map.of("torch_default", org.bytedeco.pytorch.global.torch.getDefaultCPUGenerator().get_state());
    Path dir = new Checkpoint(12, 11, 345, params, optim, rng, Map.of("seed", "7")).save(tmp);
    assertEquals(tmp.resolve("step-00000012"), dir);
    Checkpoint back = Checkpoint.load(dir);
    assertEquals(12, back.step());
    assertEquals(11, back.optimizerStep());
    assertEquals(345, back.cursor());
    assertEquals("7", back.info().get("seed"));
    for (var e : params.entrySet()) assertTrue(e.getValue().equal(back.params().get(e.getKey())), e.getKey());
    for (var e : optim.entrySet()) assertTrue(e.getValue().equal(back.optimizer().get(e.getKey())), e.getKey());
    assertTrue(rng.get("torch_default").equal(back.rng().get("torch_default")));
  }
}
