package dev.liger.eval;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;

/**
 * Zero-shot multiple choice in the style of lm-evaluation-harness. For each choice, the log-likelihood
 * of the continuation tokens given the context is summed; acc picks the highest sum, acc_norm the
 * highest sum per UTF-8 byte of the choice (lm-eval divides by len(choice) in characters: the same for
 * ASCII text).
 *
 * <p>Tokenisation as lm-eval: trailing whitespace of the context moves to the start of the
 * continuation; context+continuation is encoded as a whole and the continuation is what follows the
 * encoded context, so tokens merging across the boundary are attributed to the continuation.
 * {@code prefix} (e.g. the BOS id) is prepended to every context; lm-eval prepends it only to empty
 * contexts, so pass {@code alwaysPrefix = false} to match it exactly. Inputs longer than
 * {@code maxLength} lose tokens from the left.
 */
public final class MultipleChoice {
  private static final ObjectMapper JSON = new ObjectMapper();

  private final LogitsModel model;
  private final TextEncoder encoder;
  private final long[] prefix;
  private final boolean alwaysPrefix;
  private final int maxLength;

  public MultipleChoice(LogitsModel model, TextEncoder encoder, long[] prefix, boolean alwaysPrefix, int maxLength) {
    if (maxLength < 2) throw new IllegalArgumentException("max length must be >= 2, got " + maxLength);
    this.model = model;
    this.encoder = encoder;
    this.prefix = prefix == null ? new long[0] : prefix.clone();
    this.alwaysPrefix = alwaysPrefix;
    this.maxLength = maxLength;
  }

  /**
   * Reads JSONL lines {"context": str, "choices": [str, ...], "gold": int}. Blank lines are ignored.
   * A malformed line throws (naming file and line) unless {@code skipMalformed}, which reports it to
   * {@code warnings} (may be null) and counts it in the returned list's {@code skipped}.
   */
  public static Loaded read(Path file, boolean skipMalformed, PrintStream warnings) throws IOException {
    List<Question> out = new ArrayList<>();
    int skipped = 0;
    try (BufferedReader r = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
      String line;
      int no = 0;
      while ((line = r.readLine()) != null) {
        no++;
        if (line.isBlank()) continue;
        String where = file + ":" + no;
        try {
          out.add(parse(line, where));
        } catch (IllegalArgumentException e) {
          if (!skipMalformed) throw new IOException(e.getMessage(), e);
          skipped++;
          if (warnings != null) warnings.println("skipping " + e.getMessage());
        }
      }
    }
    return new Loaded(out, skipped);
  }

  /** Questions read from a file, and how many malformed records were skipped. */
  public record Loaded(List<Question> questions, int skipped) {}

  static Question parse(String line, String where) {
    JsonNode n;
    try {
      n = JSON.readTree(line);
    } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
      throw new IllegalArgumentException(where + ": not valid JSON (" + e.getOriginalMessage() + ")");
    }
    if (n == null || !n.isObject()) throw new IllegalArgumentException(where + ": expected a JSON object");
    JsonNode ctx = n.get("context"), ch = n.get("choices"), gold = n.get("gold");
    if (ctx == null || !ctx.isTextual()) throw new IllegalArgumentException(where + ": \"context\" must be a string");
    if (ch == null || !ch.isArray()) throw new IllegalArgumentException(where + ": \"choices\" must be a list of strings");
    if (gold == null || !gold.canConvertToInt() || !gold.isIntegralNumber()) throw new IllegalArgumentException(where + ": \"gold\" must be an integer");
    List<String> choices = new ArrayList<>();
    for (JsonNode c : ch) {
      if (!c.isTextual()) throw new IllegalArgumentException(where + ": \"choices\" must be a list of strings");
      choices.add(c.asText());
    }
    return new Question(ctx.asText(), choices, gold.asInt(), where);
  }

  public ChoiceResults evaluate(List<Question> questions, int skipped) {
    List<QuestionResult> results = new ArrayList<>();
    for (Question q : questions) results.add(score(q));
    return ChoiceResults.of(results, skipped);
  }

  public QuestionResult score(Question q) {
    int c = q.choices().size();
    long[][] ctx = new long[c][], cont = new long[c][];
    for (int i = 0; i < c; i++) {
      long[][] pair = encodePair(q.context(), q.choices().get(i), q.source());
      ctx[i] = pair[0];
      cont[i] = pair[1];
    }
    List<ChoiceScore> scores = scoreBatch(ctx, cont, q.choices());
    int best = 0, bestNorm = 0;
    for (int i = 1; i < c; i++) {
      if (scores.get(i).logLikelihood() > scores.get(best).logLikelihood()) best = i;
      if (scores.get(i).perByte() > scores.get(bestNorm).perByte()) bestNorm = i;
    }
    return new QuestionResult(q, scores, best, bestNorm);
  }

  /** [context tokens (with prefix), continuation tokens] as lm-eval's _encode_pair. */
  long[][] encodePair(String context, String continuation, String where) {
    int trailing = context.length() - context.stripTrailing().length();
    if (trailing > 0) {
      continuation = context.substring(context.length() - trailing) + continuation;
      context = context.substring(0, context.length() - trailing);
    }
    long[] contTokens;
    long[] ctxTokens;
    if (context.isEmpty()) {
      ctxTokens = new long[0];
      contTokens = encoder.encode(continuation);
    } else {
      long[] whole = encoder.encode(context + continuation);
      ctxTokens = encoder.encode(context);
      if (ctxTokens.length > whole.length) throw new IllegalArgumentException(where + ": context encodes longer than context+choice");
      contTokens = Arrays.copyOfRange(whole, ctxTokens.length, whole.length);
    }
    if (contTokens.length == 0) throw new IllegalArgumentException(where + ": choice '" + continuation + "' encodes to no tokens");
    if (alwaysPrefix || ctxTokens.length == 0) {
      if (ctxTokens.length == 0 && prefix.length == 0) {
        throw new IllegalArgumentException(where + ": empty context and no prefix token to condition on");
      }
      long[] p = new long[prefix.length + ctxTokens.length];
      System.arraycopy(prefix, 0, p, 0, prefix.length);
      System.arraycopy(ctxTokens, 0, p, prefix.length, ctxTokens.length);
      ctxTokens = p;
    }
    return new long[][] {ctxTokens, contTokens};
  }

  /** One right-padded batch per question: causal models ignore what follows, so padding is harmless. */
  private List<ChoiceScore> scoreBatch(long[][] ctx, long[][] cont, List<String> choices) {
    int c = ctx.length;
    long[][] rows = new long[c][];
    int len = 0;
    for (int i = 0; i < c; i++) {
      long[] all = new long[ctx[i].length + cont[i].length];
      System.arraycopy(ctx[i], 0, all, 0, ctx[i].length);
      System.arraycopy(cont[i], 0, all, ctx[i].length, cont[i].length);
      if (cont[i].length > maxLength) throw new IllegalArgumentException("choice " + i + " alone is longer than max length " + maxLength);
      // Keep the last maxLength+1 tokens; the model reads all but the last.
      int from = Math.max(0, all.length - (maxLength + 1));
      rows[i] = Arrays.copyOfRange(all, from, all.length);
      len = Math.max(len, rows[i].length);
    }
    long[] ids = new long[c * len];
    for (int i = 0; i < c; i++) System.arraycopy(rows[i], 0, ids, i * len, rows[i].length);
    List<ChoiceScore> out = new ArrayList<>();
    try (PointerScope scope = new PointerScope(); NoGradGuard g = new NoGradGuard(); LongPointer p = new LongPointer(ids)) {
      Tensor input = torch.from_blob(p, new long[] {c, len}, new TensorOptions(torch.ScalarType.Long)).clone();
      Tensor logits = model.logits(input.narrow(1, 0, len - 1));
      Tensor logp = logits.to(torch.ScalarType.Float).log_softmax(-1);
      Tensor targets = input.narrow(1, 1, len - 1);
      Tensor tokenLp = logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1);
      Tensor greedy = logp.argmax(new org.bytedeco.pytorch.LongOptional(-1), false).eq(targets);
      float[] lp = new float[(int) tokenLp.numel()];
      tokenLp.contiguous().data_ptr_float().get(lp);
      boolean[] gr = new boolean[lp.length];
      Tensor gb = greedy.to(torch.ScalarType.Byte).contiguous();
      byte[] gbytes = new byte[gr.length];
      gb.data_ptr_byte().get(gbytes);
      for (int i = 0; i < c; i++) {
        int n = cont[i].length, end = rows[i].length - 1; // predictions for row tokens 1..end sit at 0..end-1
        double sum = 0;
        boolean allGreedy = true;
        for (int k = end - n; k < end; k++) {
          sum += lp[i * (len - 1) + k];
          allGreedy &= gbytes[i * (len - 1) + k] != 0;
        }
        out.add(new ChoiceScore(sum, n, choices.get(i).getBytes(StandardCharsets.UTF_8).length, allGreedy));
      }
    }
    return out;
  }
}
