package dev.liger.train;

import java.io.PrintStream;
import java.util.Locale;

/** The live one-line progress display (step, loss, tokens/s, ETA), redrawn in place with a carriage return. */
final class Progress {
  private final PrintStream out;
  private final long totalSteps;
  private final long startStep;
  private final long startNanos = System.nanoTime();
  private long tokens;
  private long lastDraw;

  Progress(PrintStream out, long startStep, long totalSteps) {
    this.out = out;
    this.startStep = startStep;
    this.totalSteps = totalSteps;
  }

  double tokensPerSecond() {
    double s = (System.nanoTime() - startNanos) / 1e9;
    return s > 0 ? tokens / s : 0;
  }

  void update(StepStats st) {
    tokens += st.tokens();
    if (out == null) return;
    long now = System.nanoTime();
    boolean last = st.step() >= totalSteps;
    if (!last && now - lastDraw < 200_000_000L) return;
    lastDraw = now;
    double elapsed = (now - startNanos) / 1e9;
    long done = st.step() - startStep;
    double eta = done > 0 ? elapsed / done * (totalSteps - st.step()) : 0;
    out.print(String.format(Locale.ROOT, "\rstep %d/%d  loss %.4f  lr %.2e  %.0f tok/s  ETA %s%s   ",
        st.step(), totalSteps, st.loss(), st.lr(), tokensPerSecond(), clock(eta), st.skipped() ? "  (skipped)" : ""));
    if (last) out.println();
    out.flush();
  }

  void message(String line) {
    if (out == null) return;
    out.print("\r");
    out.println(line);
    out.flush();
  }

  private static String clock(double seconds) {
    long s = Math.round(seconds);
    return String.format(Locale.ROOT, "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60);
  }
}
