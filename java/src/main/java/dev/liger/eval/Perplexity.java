package dev.liger.eval;

import java.util.ArrayList;
import java.util.List;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;

/**
 * Perplexity of a token stream t[0..N-1] under a causal model reading W tokens per call. Token 0 has no
 * context and is never scored; every other token is scored exactly once, so both modes score N-1 targets.
 * A window starting at b reads t[b, b+W) and can score the targets t[b+1, b+W].
 *
 * <ul>
 *   <li><b>Non-overlapping</b> (stride W): windows start at 0, W, 2W, ...; each scores all its W targets,
 *       so the context restarts every W tokens (the first target of a window sees one token, the last
 *       sees W). Cheapest, pessimistic. This is lm-evaluation-harness's rolling log-likelihood and the
 *       fixture's validation protocol (rows of W+1 tokens overlapping by one).</li>
 *   <li><b>Sliding</b> (stride S, 1 &lt;= S &lt; W): windows start at 0, S, 2S, ...; the first scores all
 *       its targets, each later one only the S targets it adds, so every target after the first window
 *       sees at least W-S+1 tokens. Smaller S: more context per token, N/S calls.</li>
 * </ul>
 * Windows of equal length are batched {@code batch} at a time.
 */
public final class Perplexity {
  private Perplexity() {}

  /** One model call: inputs t[begin, targetEnd-1), scored targets t[scoreFrom, targetEnd). */
  record Window(int begin, int targetEnd, int scoreFrom) {
    int inputs() { return targetEnd - 1 - begin; }
    int scored() { return targetEnd - scoreFrom; }
  }

  public static PerplexityResult nonOverlapping(LogitsModel model, long[] tokens, int window, int batch) {
    return sliding(model, tokens, window, window, batch);
  }

  public static PerplexityResult sliding(LogitsModel model, long[] tokens, int window, int stride, int batch) {
    List<Window> ws = windows(tokens.length, window, stride);
    if (batch < 1) throw new IllegalArgumentException("batch must be >= 1, got " + batch);
    double nll = 0;
    long scored = 0;
    for (int i = 0; i < ws.size(); ) {
      int len = ws.get(i).inputs();
      int j = i;
      while (j < ws.size() && j - i < batch && ws.get(j).inputs() == len) j++;
      nll += score(model, tokens, ws.subList(i, j), len);
      for (Window w : ws.subList(i, j)) scored += w.scored();
      i = j;
    }
    return new PerplexityResult(scored, nll, ws.size(), window, stride);
  }

  static List<Window> windows(int n, int window, int stride) {
    if (window < 1) throw new IllegalArgumentException("window must be >= 1 token, got " + window);
    if (stride < 1 || stride > window) {
      throw new IllegalArgumentException("stride must be in [1, window] = [1, " + window + "], got " + stride);
    }
    if (n < 2) throw new IllegalArgumentException("perplexity needs at least 2 tokens, got " + n);
    List<Window> out = new ArrayList<>();
    int prevEnd = 1;
    for (int begin = 0; ; begin += stride) {
      int end = Math.min(begin + window + 1, n);
      int from = Math.max(prevEnd, begin + 1);
      if (from < end) out.add(new Window(begin, end, from));
      prevEnd = end;
      if (end == n) break;
    }
    return out;
  }

  /** Summed NLL of the windows' targets; all windows read len tokens. */
  private static double score(LogitsModel model, long[] tokens, List<Window> ws, int len) {
    long[] ids = new long[ws.size() * (len + 1)];
    for (int r = 0; r < ws.size(); r++) System.arraycopy(tokens, ws.get(r).begin(), ids, r * (len + 1), len + 1);
    try (PointerScope scope = new PointerScope(); NoGradGuard g = new NoGradGuard(); LongPointer p = new LongPointer(ids)) {
      Tensor rows = torch.from_blob(p, new long[] {ws.size(), len + 1}, new TensorOptions(torch.ScalarType.Long)).clone();
      Tensor logp = logProbs(model, rows);
      double total = 0;
      for (int r = 0; r < ws.size(); r++) {
        Window w = ws.get(r);
        // Target t[k] is predicted at input position k-1-begin.
        total -= logp.select(0, r).narrow(0, w.scoreFrom() - 1 - w.begin(), w.scored()).sum().item_double();
      }
      return total;
    }
  }

  /** For rows [B, L+1]: log p(rows[:, k+1] | rows[:, <=k]) for k < L, shape [B, L], fp32; the model reads rows[:, :L]. */
  static Tensor logProbs(LogitsModel model, Tensor rows) {
    long b = rows.size(0), l = rows.size(1) - 1;
    Tensor logits = model.logits(rows.narrow(1, 0, l));
    if (logits.dim() != 3 || logits.size(0) != b || logits.size(1) != l) {
      throw new IllegalStateException("model returned logits of shape " + java.util.Arrays.toString(dev.liger.train.Tensors.shape(logits))
          + " for ids [" + b + ", " + l + "]");
    }
    Tensor lp = logits.to(torch.ScalarType.Float).log_softmax(-1);
    return lp.gather(-1, rows.narrow(1, 1, l).unsqueeze(-1)).squeeze(-1);
  }
}
