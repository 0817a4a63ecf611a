package dev.liger.train;

import static org.junit.jupiter.api.Assertions.*;

import dev.liger.data.OnMalformed;
import dev.liger.data.PackedRow;
import dev.liger.data.Packer;
import dev.liger.data.PackingConfig;
import dev.liger.data.PlainTextReader;
import dev.liger.data.TokenEncoder;
import dev.liger.data.TokenizedDocument;
import dev.liger.lora.LoraAdapters;
import dev.liger.lora.LoraConfig;
import dev.liger.model.DefaultModel;
import dev.liger.model.LlamaModel;
import dev.liger.model.Tensors;
import dev.liger.tokenizer.Tokenizer;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** LoRA fine-tuning of the embedded tiny Llama on packed rows of real text. */
class LmTrainingTest {
  @TempDir Path tmp;

  private static List<PackedRow> rows() throws Exception {
    Path text = Path.of(LmTrainingTest.class.getResource("/data/brown-excerpt.txt").toURI());
    try (Tokenizer tok = Tokenizer.load(DefaultModel.path())) {
      TokenEncoder enc = TokenEncoder.of(s -> java.util.Arrays.stream(tok.encode(s, false)).mapToInt(x -> (int) x).toArray(),
          tok.bosId(), tok.eosIds().get(0));
      List<TokenizedDocument> docs = new ArrayList<>();
      for (var ex : PlainTextReader.read(text, PlainTextReader.Boundary.LINE, OnMalformed.REJECT).examples()) {
        docs.add(TokenizedDocument.encode(ex, enc));
      }
      return Packer.packRows(docs, new PackingConfig(64, 3, 0, 1));
    }
  }

  @Test
  void loraFineTuningLowersTheLossAndTheHookRunsAfterEveryBackward() throws Exception {
    List<PackedRow> rows = rows();
    assertTrue(rows.size() >= 4, "rows: " + rows.size());
    try (LlamaModel m = LlamaModel.load(DefaultModel.path(), Tensors.CPU, ScalarType.Float)) {
      LoraAdapters lora = LoraAdapters.attach(m, LoraConfig.defaults(), torch.createCPUGenerator(0));
      LmObjective obj = new LmObjective(m);
      List<LmBatch> all = new ArrayList<>();
      for (PackedRow r : rows.subList(0, 4)) all.add(PackedRowSource.batch(List.of(r), Tensors.CPU));
      var cfg = new TrainConfig(AdamWConfig.defaults().withLr(5e-3), new LrSchedule(LrSchedule.Kind.CONSTANT, 2, 0, 0),
          6, 2, 1.0, 0, Precision.FP32, 3, 0, 1, NonFinitePolicy.STOP, tmp, true);
      Trainer<LmBatch> t = new Trainer<>(cfg, lora.trainable(), obj, new PackedRowSource(rows, 2, 1, Tensors.CPU));
      AtomicInteger hooks = new AtomicInteger();
      t.afterBackward(() -> {
        // Called after loss.backward(): the adapters' gradients exist.
        for (Tensor p : lora.trainable().values()) assertTrue(p.grad().defined());
        hooks.incrementAndGet();
      });
      t.evaluator(() -> obj.meanLoss(all));
      ByteArrayOutputStream progress = new ByteArrayOutputStream();
      t.progressTo(new PrintStream(progress, true));
      double before = t.validate();
      List<StepStats> stats = t.run();
      double after = t.validate();
      System.out.printf("tiny-llama LoRA on %d rows of 64: loss %.4f -> %.4f%n", rows.size(), before, after);
      assertEquals(12, hooks.get());
      assertTrue(after < before - 0.05, before + " -> " + after);
      assertTrue(stats.get(0).tokens() > 0);
      String line = progress.toString();
      assertTrue(line.contains("step 6/6") && line.contains("tok/s") && line.contains("ETA") && line.contains("val_loss"), line);
      for (Tensor w : m.weights().values()) assertFalse(w.requires_grad());
    }
  }

  @Test
  void packedRowSourceIsDeterministicAndSeekable() throws Exception {
    List<PackedRow> rows = rows();
    PackedRowSource a = new PackedRowSource(rows, 3, 7, Tensors.CPU);
    List<long[]> seen = new ArrayList<>();
    for (int i = 0; i < 5; i++) seen.add(Tensors.toLongs(a.next().ids()));
    PackedRowSource b = new PackedRowSource(rows, 3, 7, Tensors.CPU);
    b.seek(6);
    assertArrayEquals(seen.get(2), Tensors.toLongs(b.next().ids()));
    assertArrayEquals(seen.get(3), Tensors.toLongs(b.next().ids()));
    // Every epoch visits every row once.
    PackedRowSource one = new PackedRowSource(rows, 1, 7, Tensors.CPU);
    java.util.Set<String> firstEpoch = new java.util.HashSet<>();
    for (int i = 0; i < rows.size(); i++) firstEpoch.add(java.util.Arrays.toString(Tensors.toLongs(one.next().ids())));
    java.util.Set<String> expected = new java.util.HashSet<>();
    for (PackedRow r : rows) expected.add(java.util.Arrays.toString(java.util.Arrays.stream(r.ids()).asLongStream().toArray()));
    assertEquals(expected, firstEpoch);
    // Positions restart at each document.
    LmBatch batch = PackedRowSource.batch(List.of(rows.get(0)), Tensors.CPU);
    long[] pos = Tensors.toLongs(batch.positions().positions());
    long[] cu = rows.get(0).cuSeqlens();
    for (int s = 0; s + 1 < cu.length; s++) assertEquals(0, pos[(int) cu[s]]);
  }
}
