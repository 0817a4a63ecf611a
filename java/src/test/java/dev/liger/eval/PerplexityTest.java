package dev.liger.eval;

import static org.junit.jupiter.api.Assertions.*;

import dev.liger.io.SafetensorsFile;
import dev.liger.model.DefaultModel;
import dev.liger.model.Fixtures;
import dev.liger.model.LlamaModel;
import dev.liger.model.Tensors;
import dev.liger.train.TT;
import dev.liger.tokenizer.Tokenizer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;

class PerplexityTest {
  /** Ignores the context: every position predicts the same distribution p. */
  private static LogitsModel fixedDistribution(float[] p) {
    float[] logp = new float[p.length];
    for (int i = 0; i < p.length; i++) logp[i] = (float) Math.log(p[i]);
    Tensor row = TT.floats(logp, 1, 1, p.length);
    return ids -> row.expand(ids.size(0), ids.size(1), p.length).contiguous();
  }

  /**
   * Vocabulary {0, 1}; at input position j of a window the logits are (j+1, 0), so p(token 0) =
   * sigmoid(context length): the score shows how much context each target got.
   */
  private static final LogitsModel CONTEXT_COUNTER = ids -> {
    long b = ids.size(0), t = ids.size(1);
    Tensor ctx = torch.arange(new Scalar(1), new Scalar(t + 1)).to(ScalarType.Float).view(1, t, 1).expand(b, t, 1);
    return torch.cat(new org.bytedeco.pytorch.TensorVector(ctx, torch.zeros_like(ctx)), 2);
  };

  private static double f(int contextLength) { return Math.log1p(Math.exp(-contextLength)); }

  @Test
  void contextFreeModelGivesTheEntropyOfTheStream() {
    float[] p = {0.1f, 0.2f, 0.3f, 0.25f, 0.15f};
    java.util.SplittableRandom r = new java.util.SplittableRandom(3);
    long[] tokens = new long[50];
    for (int i = 0; i < tokens.length; i++) tokens[i] = r.nextInt(p.length);
    double expected = 0;
    for (int i = 1; i < tokens.length; i++) expected -= Math.log(p[(int) tokens[i]]);
    for (int[] ws : new int[][] {{7, 7, 1}, {7, 3, 2}, {16, 16, 4}, {64, 64, 1}, {5, 1, 3}}) {
      PerplexityResult res = ws[0] == ws[1] ? Perplexity.nonOverlapping(fixedDistribution(p), tokens, ws[0], ws[2])
          : Perplexity.sliding(fixedDistribution(p), tokens, ws[0], ws[1], ws[2]);
      assertEquals(49, res.tokens());
      assertEquals(expected, res.nll(), 1e-4);
      assertEquals(Math.exp(expected / 49), res.perplexity(), 1e-4);
    }
  }

  @Test
  void windowsGiveEachTargetTheDocumentedContext() {
    long[] zeros = new long[11];
    // Non-overlapping, W = 4: targets 1-4 see 1..4 tokens, 5-8 see 1..4, 9-10 see 1..2.
    PerplexityResult non = Perplexity.nonOverlapping(CONTEXT_COUNTER, zeros, 4, 2);
    assertEquals(3, non.windows());
    assertEquals(10, non.tokens());
    assertEquals(2 * (f(1) + f(2) + f(3) + f(4)) + f(1) + f(2), non.nll(), 1e-5);
    // Sliding, W = 4, S = 2: targets 1-4 see 1..4; then pairs (5,6), (7,8), (9,10) each see 3 and 4.
    PerplexityResult sl = Perplexity.sliding(CONTEXT_COUNTER, zeros, 4, 2, 3);
    assertEquals(4, sl.windows());
    assertEquals(10, sl.tokens());
    assertEquals(f(1) + f(2) + f(3) + f(4) + 3 * (f(3) + f(4)), sl.nll(), 1e-5);
    assertTrue(sl.perplexity() < non.perplexity());
  }

  @Test
  void rejectsBadWindows() {
    long[] t = new long[10];
    assertThrows(IllegalArgumentException.class, () -> Perplexity.sliding(CONTEXT_COUNTER, t, 4, 5, 1));
    assertThrows(IllegalArgumentException.class, () -> Perplexity.sliding(CONTEXT_COUNTER, t, 4, 0, 1));
    assertThrows(IllegalArgumentException.class, () -> Perplexity.nonOverlapping(CONTEXT_COUNTER, new long[1], 4, 1));
  }

  @Test
  void fixtureModelMatchesTransformersLogProbabilities() throws Exception {
    try (SafetensorsFile ref = SafetensorsFile.open(Fixtures.dir("tiny-llama").resolve("reference.safetensors"));
         LlamaModel m = LlamaModel.load(DefaultModel.path(), Tensors.CPU, ScalarType.Float);
         PointerScope scope = new PointerScope()) {
      // Row 0 holds 67 real tokens (then padding); HF's fp32 logits give the full-context NLL.
      int n = 67;
      Tensor ids = ref.load("input_ids").select(0, 0).narrow(0, 0, n);
      long[] tokens = Tensors.toLongs(ids);
      Tensor lp = ref.load("logits").select(0, 0).narrow(0, 0, n - 1).log_softmax(-1);
      double expected = -lp.gather(-1, ids.narrow(0, 1, n - 1).unsqueeze(-1)).sum().item_double();

      LogitsModel model = LogitsModel.of(m);
      PerplexityResult full = Perplexity.nonOverlapping(model, tokens, 96, 1);
      assertEquals(1, full.windows());
      assertEquals(n - 1, full.tokens());
      assertEquals(expected, full.nll(), 1e-4 * expected);
      System.out.printf("tiny-llama, 66 targets: ppl %.3f full context, %.3f non-overlapping W=16, %.3f sliding W=16 S=4%n",
          full.perplexity(), Perplexity.nonOverlapping(model, tokens, 16, 4).perplexity(),
          Perplexity.sliding(model, tokens, 16, 4, 4).perplexity());
      // Less context costs likelihood; sliding recovers part of it.
      PerplexityResult short16 = Perplexity.nonOverlapping(model, tokens, 16, 4);
      PerplexityResult slide16 = Perplexity.sliding(model, tokens, 16, 4, 4);
      assertTrue(short16.nll() > slide16.nll() && slide16.nll() > full.nll());

      // A text file, one document per line as the fixture's validation protocol.
      Path text = Path.of(PerplexityTest.class.getResource("/data/brown-excerpt.txt").toURI());
      try (Tokenizer tok = Tokenizer.load(DefaultModel.path())) {
        long[] stream = TokenStream.fromFiles(List.of(text), s -> tok.encode(s, false), tok.bosId(), tok.eosIds().get(0), true);
        assertEquals(tok.bosId().longValue(), stream[0]);
        PerplexityResult file = Perplexity.nonOverlapping(model, stream, 128, 2);
        assertEquals(stream.length - 1, file.tokens());
        System.out.printf("tiny-llama on brown-excerpt.txt (%d tokens): ppl %.2f non-overlapping W=128%n", stream.length, file.perplexity());
        assertTrue(file.perplexity() > 5 && file.perplexity() < 500, "ppl " + file.perplexity());
      }
    }
  }

  @Test
  void streamsWrapDocumentsInSpecialTokens(@org.junit.jupiter.api.io.TempDir Path tmp) throws Exception {
    Path a = tmp.resolve("a.txt");
    java.nio.file.Files.writeString(a, "ab\n\n  \ncd\n");
    TextEncoder chars = s -> s.chars().mapToLong(c -> c).toArray();
    assertArrayEquals(new long[] {1, 'a', 'b', 2, 1, 'c', 'd', 2}, TokenStream.fromFiles(List.of(a), chars, 1, 2, true));
    assertArrayEquals(new long[] {'a', 'b', '\n', '\n', ' ', ' ', '\n', 'c', 'd', '\n', 9},
        TokenStream.fromFiles(List.of(a), chars, -1, 9, false));
  }
}
