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
import dev.liger.pipeline.PackedLmObjective;
import dev.liger.pipeline.RowBatches;
import dev.liger.tokenizer.Tokenizer;
import java.io.ByteArrayOutputStream;
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
      PackedLmObjective obj = new PackedLmObjective(m);
      List<PackedRow> held = rows.subList(0, 4);
      var cfg = new TrainConfig(AdamWConfig.defaults().withLr(5e-3), new LrSchedule(LrSchedule.Kind.CONSTANT, 2, 0, 0),
          6, 2, 1.0, 0, Precision.FP32, 3, 0, 1, NonFinitePolicy.STOP, tmp, true);
      Trainer<List<PackedRow>> t = new Trainer<>(cfg, lora.trainable(), obj, new RowBatches(rows, 2, 1));
      AtomicInteger hooks = new AtomicInteger();
      t.afterBackward(() -> {
        // Called after the backward: the adapters' gradients exist.
        for (Tensor p : lora.trainable().values()) assertTrue(p.grad().defined());
        hooks.incrementAndGet();
      });
      t.evaluator(() -> obj.lossSum(held).item_double() / obj.targets(held));
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
}
