package dev.liger.eval;

import static org.junit.jupiter.api.Assertions.*;

import dev.liger.train.TT;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class MultipleChoiceTest {
  @TempDir Path tmp;

  static final int SPACE = 26, BOS = 27, V = 28;

  /** One token per character: a-z, space. */
  static final TextEncoder CHARS = text -> text.chars().mapToLong(ch -> ch == ' ' ? SPACE : ch - 'a').toArray();

  /** log q(next | prev) of a bigram model: a few entries fixed, the rest of each row uniform. */
  static final java.util.Map<Integer, Double> FIXED = new java.util.HashMap<>();

  static {
    set('x', 'b', -2.0);
    set('x', 'c', -1.0);
    set('c', 'c', -2.0);
    set('q', 'a', -0.1);
    set(BOS, 'b', -0.5);
  }

  static int tok(int ch) { return ch == ' ' ? SPACE : ch >= 'a' ? ch - 'a' : ch; }

  static void set(int prev, int next, double logq) { FIXED.put(tok(prev) * V + tok(next), logq); }

  static double logq(int prev, int next) {
    int p = tok(prev);
    Double v = FIXED.get(p * V + tok(next));
    if (v != null) return v;
    double fixedMass = 0;
    int free = V;
    for (int n = 0; n < V; n++) {
      Double f = FIXED.get(p * V + n);
      if (f != null) {
        fixedMass += Math.exp(f);
        free--;
      }
    }
    return Math.log((1 - fixedMass) / free);
  }

  /** The bigram model as logits [B, T, V]: row ids[b, t] of the log q table. */
  static LogitsModel bigram() {
    float[] table = new float[V * V];
    for (int p = 0; p < V; p++) for (int n = 0; n < V; n++) table[p * V + n] = (float) logq(p, n);
    Tensor w = TT.floats(table, V, V);
    return ids -> torch.embedding(w, ids);
  }

  @Test
  void scoresAreSummedContinuationLogLikelihoodsAndNormPicksPerByte() {
    MultipleChoice mc = new MultipleChoice(bigram(), CHARS, new long[] {BOS}, true, 64);
    QuestionResult r = mc.score(new Question("ax", List.of("b", "cc"), 1, "q1"));
    assertEquals(-2.0, r.scores().get(0).logLikelihood(), 1e-5);
    assertEquals(-3.0, r.scores().get(1).logLikelihood(), 1e-5);
    assertEquals(1, r.scores().get(0).tokens());
    assertEquals(2, r.scores().get(1).bytes());
    assertEquals(0, r.predicted());     // -2 > -3
    assertEquals(1, r.predictedNorm()); // -1.5 per byte > -2 per byte
    assertFalse(r.correct());
    assertTrue(r.correctNorm());
    assertFalse(r.scores().get(0).greedy());
    assertTrue(r.scores().get(1).greedy()); // c is the argmax after x, and after c
  }

  @Test
  void trailingContextSpaceMovesToTheContinuationAndTruncationKeepsTheEnd() {
    MultipleChoice mc = new MultipleChoice(bigram(), CHARS, new long[] {BOS}, true, 64);
    QuestionResult r = mc.score(new Question("zzx ", List.of("b", "qa"), 0, "q2"));
    assertEquals(2, r.scores().get(0).tokens());
    assertEquals(logq('x', ' ') + logq(' ', 'b'), r.scores().get(0).logLikelihood(), 1e-5);
    assertEquals(logq('x', ' ') + logq(' ', 'q') + logq('q', 'a'), r.scores().get(1).logLikelihood(), 1e-5);
    assertEquals(1, r.scores().get(0).bytes()); // normalised by the choice as given
    // A bigram model only needs the last context token: truncating to 3 tokens changes nothing.
    QuestionResult shortCtx = new MultipleChoice(bigram(), CHARS, new long[] {BOS}, true, 3).score(r.question());
    for (int i = 0; i < 2; i++) assertEquals(r.scores().get(i).logLikelihood(), shortCtx.scores().get(i).logLikelihood(), 1e-6);
  }

  @Test
  void emptyContextConditionsOnThePrefixOrFails() {
    MultipleChoice lmEvalStyle = new MultipleChoice(bigram(), CHARS, new long[] {BOS}, false, 64);
    QuestionResult r = lmEvalStyle.score(new Question("", List.of("b", "c"), 0, "q3"));
    assertEquals(-0.5, r.scores().get(0).logLikelihood(), 1e-5);
    assertEquals(0, r.predicted());
    MultipleChoice noPrefix = new MultipleChoice(bigram(), CHARS, null, false, 64);
    var e = assertThrows(IllegalArgumentException.class, () -> noPrefix.score(new Question("", List.of("b", "c"), 0, "q3")));
    assertTrue(e.getMessage().contains("q3"));
  }

  @Test
  void accuracyAndStandardErrors() {
    MultipleChoice mc = new MultipleChoice(bigram(), CHARS, new long[] {BOS}, true, 64);
    List<Question> qs = List.of(
        new Question("ax", List.of("b", "cc"), 1, "1"),  // acc wrong, acc_norm right
        new Question("ax", List.of("b", "cc"), 0, "2"),  // acc right, acc_norm wrong
        new Question("aq", List.of("z", "a"), 1, "3"),   // both right
        new Question("aq", List.of("a", "z"), 0, "4"));  // both right
    ChoiceResults res = mc.evaluate(qs, 0);
    assertEquals(4, res.questions());
    assertEquals(0.75, res.acc(), 1e-12);
    assertEquals(0.75, res.accNorm(), 1e-12);
    assertEquals(0.25, res.accStderr(), 1e-12); // sqrt(0.75 / 3) / 2
    assertEquals(0.25, res.accNormStderr(), 1e-12);
  }

  @Test
  void readsJsonlAndReportsMalformedLinesWithFileAndLine() throws IOException {
    Path f = tmp.resolve("task.jsonl");
    Files.writeString(f, String.join("\n",
        "{\"context\": \"ax\", \"choices\": [\"b\", \"cc\"], \"gold\": 1}",
        "",
        "{\"context\": \"ax\", \"choices\": [\"b\", \"cc\"], \"gold\": 2}",
        "{not json",
        "{\"context\": \"aq\", \"choices\": [\"z\", \"a\"], \"gold\": 1}") + "\n");
    var e = assertThrows(IOException.class, () -> MultipleChoice.read(f, false, null));
    assertTrue(e.getMessage().contains("task.jsonl:3") && e.getMessage().contains("gold"), e.getMessage());
    ByteArrayOutputStream warn = new ByteArrayOutputStream();
    MultipleChoice.Loaded loaded = MultipleChoice.read(f, true, new PrintStream(warn, true));
    assertEquals(2, loaded.questions().size());
    assertEquals(2, loaded.skipped());
    assertTrue(warn.toString().contains("task.jsonl:4"), warn.toString());
    ChoiceResults res = new MultipleChoice(bigram(), CHARS, new long[] {BOS}, true, 64).evaluate(loaded.questions(), loaded.skipped());
    assertEquals(2, res.skipped());
    assertEquals(0.5, res.acc(), 1e-12);
    assertEquals(1.0, res.accNorm(), 1e-12);
  }
}
