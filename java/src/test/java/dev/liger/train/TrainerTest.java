package dev.liger.train;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.liger.lora.LoraConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TrainerTest {
  @TempDir Path tmp;

  private static TrainConfig config(Path out, long steps) {
    return TrainConfig.defaults(steps, out).withProgress(false);
  }

  @Test
  void lossGoesDownAndLogIsWritten() throws IOException {
    TinyLm m = new TinyLm(1);
    var cfg = config(tmp, 30).withEvalEvery(10);
    Trainer<TinyLm.Batch> t = new Trainer<>(cfg, m.lora.trainable(), m.objective(), new TinyLm.Source(4, 12));
    TinyLm.Batch val = TinyLm.Source.batch(1_000_000, 8, 12);
    t.evaluator(() -> m.objective().lossSum(val).item_double() / m.objective().targets(val));
    double before = t.validate();
    List<StepStats> stats = t.run();
    double after = t.validate();
    assertEquals(30, stats.size());
    assertTrue(after < before - 0.1, "validation loss " + before + " -> " + after);

    List<String> lines = Files.readAllLines(t.logFile());
    ObjectMapper json = new ObjectMapper();
    int steps = 0, vals = 0;
    for (String l : lines) {
      JsonNode n = json.readTree(l);
      if (n.has("loss")) {
        steps++;
        assertTrue(n.get("tokens_per_s").asDouble() > 0);
      }
      if (n.has("val_loss")) vals++;
    }
    assertEquals(30, steps);
    assertEquals(3, vals);
  }

  @Test
  void gradientAccumulationEqualsOneBigBatch() throws IOException {
    // 4 micro-batches of 2 rows vs one batch of the same 8 rows, masks with different counts per micro-batch.
    List<TinyLm.Batch> micro = new ArrayList<>();
    for (int i = 0; i < 4; i++) micro.add(TinyLm.Source.batch(i, 2, 10));
    Tensor ids = torch.cat(new org.bytedeco.pytorch.TensorVector(micro.stream().map(TinyLm.Batch::ids).toArray(Tensor[]::new)));
    Tensor mask = torch.cat(new org.bytedeco.pytorch.TensorVector(micro.stream().map(TinyLm.Batch::mask).toArray(Tensor[]::new)));
    TinyLm.Batch big = new TinyLm.Batch(ids, mask);

    TinyLm a = new TinyLm(2), b = new TinyLm(2);
    // Two steps so A (which has zero gradient at step 1, B being zero) moves as well.
    new Trainer<>(config(tmp.resolve("a"), 2).withGradAccum(4), a.lora.trainable(), a.objective(), listSource(micro, micro)).run();
    new Trainer<>(config(tmp.resolve("b"), 2), b.lora.trainable(), b.objective(), listSource(List.of(big), List.of(big))).run();
    for (var e : a.lora.trainable().entrySet()) {
      Tensor other = b.lora.trainable().get(e.getKey());
      assertTrue(TT.maxAbsDiff(e.getValue(), other) < 1e-6, e.getKey() + " differs by " + TT.maxAbsDiff(e.getValue(), other));
      assertTrue(e.getValue().abs().sum().item_double() > 0);
    }
  }

  @Test
  void clippingScalesGradientsToTheMaxNormAndReportsThePreClipNorm() throws IOException {
    TinyLm m = new TinyLm(3);
    TinyLm.Batch batch = new TinyLm.Source(2, 8).next();
    var obj = m.objective();
    obj.lossSum(batch).div(new Scalar((double) obj.targets(batch))).backward();
    obj.lossSum(batch).div(new Scalar((double) obj.targets(batch))).backward(); // B was zero: run twice so all grads are non-trivial
    List<float[]> before = new ArrayList<>();
    double sq = 0;
    for (Tensor p : m.lora.trainable().values()) {
      before.add(TT.toFloats(p.grad()));
      sq += p.grad().pow(new Scalar(2.0)).sum().item_double();
    }
    double norm = Math.sqrt(sq);
    assertTrue(norm > 0.02);
    assertEquals(norm, Trainer.clip(m.lora.trainable().values(), 10 * norm), 1e-5 * norm); // below max: untouched
    int i = 0;
    for (Tensor p : m.lora.trainable().values()) assertArrayEquals(before.get(i++), TT.toFloats(p.grad()));

    assertEquals(norm, Trainer.clip(m.lora.trainable().values(), 0.01), 1e-5 * norm);
    double after = 0;
    i = 0;
    for (Tensor p : m.lora.trainable().values()) {
      float[] g = TT.toFloats(p.grad()), g0 = before.get(i++);
      for (int k = 0; k < g.length; k++) assertEquals(g0[k] * 0.01 / norm, g[k], 1e-6 * Math.abs(g0[k]) + 1e-12);
      after += p.grad().pow(new Scalar(2.0)).sum().item_double();
    }
    assertEquals(0.01, Math.sqrt(after), 1e-6);

    // The trainer logs the pre-clip norm of its first step, which equals the hand-computed one.
    TinyLm fresh = new TinyLm(3);
    List<Double> norms = new ArrayList<>();
    new Trainer<>(config(tmp, 1).withClipNorm(1e-4), fresh.lora.trainable(), fresh.objective(), new TinyLm.Source(2, 8))
        .onStep(s -> norms.add(s.gradNorm())).run();
    TinyLm ref = new TinyLm(3);
    ref.objective().lossSum(batch).div(new Scalar((double) obj.targets(batch))).backward();
    double refSq = 0;
    for (Tensor p : ref.lora.trainable().values()) refSq += p.grad().pow(new Scalar(2.0)).sum().item_double();
    assertEquals(Math.sqrt(refSq), norms.get(0), 1e-5 * Math.sqrt(refSq));
  }

  @Test
  void tapeBackwardThroughANativeOpMatchesAutograd() throws IOException {
    TinyLm plain = new TinyLm(6), taped = new TinyLm(6), unhooked = new TinyLm(6);
    taped.tape = new dev.liger.autograd.Tape();
    unhooked.tape = new dev.liger.autograd.Tape();
    List<StepStats> a = new Trainer<>(config(tmp.resolve("a"), 3), plain.lora.trainable(), plain.objective(), new TinyLm.Source(2, 8)).run();
    List<StepStats> b = new Trainer<>(config(tmp.resolve("b"), 3), taped.lora.trainable(), taped.objective(), new TinyLm.Source(2, 8))
        .backward(taped.tape::backward).run();
    new Trainer<>(config(tmp.resolve("c"), 3), unhooked.lora.trainable(), unhooked.objective(), new TinyLm.Source(2, 8))
        .afterBackward(unhooked.tape::close).run();
    assertEquals(0, taped.tape.size());
    for (int i = 0; i < 3; i++) assertEquals(a.get(i).loss(), b.get(i).loss(), 1e-6);
    String q = "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight";
    for (var e : plain.lora.trainable().entrySet()) {
      assertTrue(TT.maxAbsDiff(e.getValue(), taped.lora.trainable().get(e.getKey())) < 1e-6, e.getKey());
    }
    // Without the tape's backward, q_proj's adapter (below the native op) only gets the residual's share.
    assertTrue(TT.maxAbsDiff(unhooked.lora.trainable().get(q), plain.lora.trainable().get(q)) > 1e-3);
  }

  private static BatchSource<TinyLm.Batch> listSource(List<TinyLm.Batch> first, List<TinyLm.Batch> second) {
    List<TinyLm.Batch> all = new ArrayList<>(first);
    all.addAll(second);
    return new BatchSource<>() {
      long c;
      @Override public TinyLm.Batch next() { return all.get((int) c++); }
      @Override public long cursor() { return c; }
      @Override public void seek(long cursor) { c = cursor; }
    };
  }
}
