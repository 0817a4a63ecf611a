package dev.liger.train;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Consumer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Generator;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * The training loop over any {@link Objective}: gradient accumulation normalised by the step's total
 * number of targets (so it equals one big batch), global-norm clipping, AdamW, a learning-rate
 * schedule, periodic validation and atomic checkpoints, and a resume that continues the same run
 * bit-for-bit on CPU. Each micro-batch's loss goes through the pluggable {@link Backward} (a native-op
 * tape's backward when the model records native ops) and then the {@link #afterBackward} hook.
 */
public final class Trainer<B> {
  private static final ObjectMapper JSON = new ObjectMapper();

  private final TrainConfig config;
  private final Map<String, Tensor> params;
  private final Objective<B> objective;
  private final BatchSource<B> source;
  private final AdamW optimizer;
  private Backward backward = Tensor::backward;
  private Runnable afterBackward = () -> {};
  private Evaluator evaluator;
  private Generator rng;
  private Consumer<StepStats> onStep = s -> {};
  private java.io.PrintStream progressOut = System.err;
  private long step;
  private boolean started;
  private double spikeFactor;
  private int spikeWindow;
  private final java.util.ArrayDeque<Double> recentLosses = new java.util.ArrayDeque<>();

  /** params: the trainable leaves (requires_grad), by name; everything else is frozen by the caller. */
  public Trainer(TrainConfig config, Map<String, Tensor> params, Objective<B> objective, BatchSource<B> source) {
    if (params.isEmpty()) throw new IllegalArgumentException("no trainable parameters");
    this.config = config;
    this.params = new LinkedHashMap<>(params);
    this.objective = objective;
    this.source = source;
    this.optimizer = new AdamW(this.params, config.optimizer());
  }

  /**
   * How a micro-batch's (scaled) loss is back-propagated; plain {@code loss.backward()} by default. With
   * native ops recorded on a tape this is {@code tape::backward}, which keeps the graph for the tape's
   * walk through shared segments.
   */
  public interface Backward {
    void backward(Tensor loss);
  }

  public Trainer<B> backward(Backward b) { this.backward = b; return this; }

  /** Runs after each micro-batch's backward (before the next forward). */
  public Trainer<B> afterBackward(Runnable hook) { this.afterBackward = hook; return this; }

  public Trainer<B> evaluator(Evaluator e) { this.evaluator = e; return this; }

  /** A generator the model draws from (dropout); seeded at start, saved in checkpoints. */
  public Trainer<B> rng(Generator g) { this.rng = g; return this; }

  public Trainer<B> onStep(Consumer<StepStats> listener) { this.onStep = listener; return this; }

  /**
   * Treats a step whose mean loss exceeds {@code factor} x the mean of the last {@code window} applied steps
   * as a fault, handled by the non-finite policy (STOP throws {@link LossSpikeException}, SKIP drops the
   * step). The window restarts after a resume. factor &lt;= 0 disables the check (the default).
   */
  public Trainer<B> lossSpike(double factor, int window) {
    if (factor > 0 && (window < 1 || !(factor > 1))) throw new IllegalArgumentException("loss spike needs factor > 1 and window >= 1");
    this.spikeFactor = factor;
    this.spikeWindow = window;
    return this;
  }

  /** Where the live progress line goes (stderr by default; null for none). */
  public Trainer<B> progressTo(java.io.PrintStream out) { this.progressOut = out; return this; }

  public long step() { return step; }
  public AdamW optimizer() { return optimizer; }
  public Path checkpointDir() { return config.outputDir().resolve("checkpoints"); }
  public Path logFile() { return config.outputDir().resolve("train.jsonl"); }

  /**
   * Restores the latest complete checkpoint under outputDir/checkpoints, if any: parameters,
   * optimizer state, step, data cursor and RNG states. Returns the checkpoint's step.
   */
  public Optional<Long> resume() throws IOException {
    Optional<Path> latest = Checkpoint.latest(checkpointDir());
    if (latest.isEmpty()) return Optional.empty();
    Checkpoint c = Checkpoint.load(latest.get());
    try (PointerScope scope = new PointerScope(); NoGradGuard g = new NoGradGuard()) {
      // Check everything before changing anything, so a mismatched checkpoint leaves the model as it was.
      if (c.params().size() != params.size()) {
        throw new IOException(latest.get() + ": checkpoint has " + c.params().size() + " trainable tensors, the model "
            + params.size());
      }
      for (var e : params.entrySet()) {
        Tensor src = c.params().get(e.getKey());
        if (src == null) throw new IOException(latest.get() + ": checkpoint lacks trainable tensor " + e.getKey());
        Tensors.requireShape(e.getKey() + " in " + latest.get(), src, Tensors.shape(e.getValue()));
      }
      for (var e : params.entrySet()) e.getValue().copy_(c.params().get(e.getKey()));
    }
    optimizer.load(c.optimizer(), c.optimizerStep());
    Tensor defaultRng = c.rng().get("torch_default");
    if (defaultRng != null) torch.getDefaultCPUGenerator().set_state(defaultRng);
    if (rng != null) {
      Tensor r = c.rng().get("trainer");
      if (r == null) throw new IOException(latest.get() + ": checkpoint has no trainer RNG state");
      rng.set_state(r);
    }
    source.seek(c.cursor());
    step = c.step();
    started = true;
    return Optional.of(step);
  }

  /** Trains until config.steps; returns the stats of the steps run by this call. */
  public List<StepStats> run() throws IOException {
    if (!started) {
      torch.manual_seed(config.seed());
      if (rng != null) rng.set_current_seed(config.seed());
      started = true;
    }
    Files.createDirectories(config.outputDir());
    List<StepStats> out = new ArrayList<>();
    Progress progress = new Progress(config.progress() ? progressOut : null, step, config.steps());
    try (BufferedWriter log = Files.newBufferedWriter(logFile(), StandardCharsets.UTF_8,
        StandardOpenOption.CREATE, StandardOpenOption.APPEND)) {
      while (step < config.steps()) {
        StepStats st = trainStep();
        out.add(st);
        progress.update(st);
        onStep.accept(st);
        ObjectNode line = JSON.createObjectNode();
        line.put("step", st.step());
        number(line, "loss", st.loss());
        line.put("lr", st.lr());
        number(line, "grad_norm", st.gradNorm());
        line.put("tokens", st.tokens()).put("seconds", st.seconds()).put("tokens_per_s", progress.tokensPerSecond());
        if (st.skipped()) line.put("skipped", true);
        writeLine(log, line);
        if (config.evalEvery() > 0 && (step % config.evalEvery() == 0 || step == config.steps()) && evaluator != null) {
          double val = validate();
          progress.message(String.format(java.util.Locale.ROOT, "step %d  val_loss %.4f", step, val));
          writeLine(log, JSON.createObjectNode().put("step", step).put("val_loss", val));
        }
        if (config.checkpointEvery() > 0 && (step % config.checkpointEvery() == 0 || step == config.steps())) {
          Path dir = saveCheckpoint();
          writeLine(log, JSON.createObjectNode().put("step", step).put("checkpoint", dir.toString()));
        }
      }
    }
    return out;
  }

  /** Validation loss under no-grad (fp32 or the configured autocast). */
  public double validate() {
    try (PointerScope scope = new PointerScope(); NoGradGuard g = new NoGradGuard();
         Autocast ac = Autocast.open(config.precision(), deviceType())) {
      return evaluator.validationLoss();
    }
  }

  /** Writes a checkpoint of the current state now; refuses if any trainable tensor is non-finite. */
  public Path saveCheckpoint() throws IOException {
    try (PointerScope scope = new PointerScope(); NoGradGuard g = new NoGradGuard()) {
      for (var e : params.entrySet()) {
        if (!e.getValue().isfinite().all().item().toBool()) {
          throw new IllegalStateException("refusing to checkpoint: trainable tensor " + e.getKey() + " is not finite");
        }
      }
    }
    Map<String, Tensor> rngs = new LinkedHashMap<>();
    rngs.put("torch_default", torch.getDefaultCPUGenerator().get_state());
    if (rng != null) rngs.put("trainer", rng.get_state());
    Map<String, String> info = new LinkedHashMap<>();
    info.put("seed", Long.toString(config.seed()));
    info.put("grad_accum", Integer.toString(config.gradAccum()));
    Path dir = new Checkpoint(step, optimizer.stepCount(), source.cursor(), params, optimizer.state(), rngs, info)
        .save(checkpointDir());
    Checkpoint.prune(checkpointDir(), config.keepCheckpoints());
    return dir;
  }

  private StepStats trainStep() {
    long t0 = System.nanoTime();
    long index = step;
    double lr = config.schedule().lr(index, config.optimizer().lr());
    List<B> micro = new ArrayList<>(config.gradAccum());
    long total = 0;
    for (int i = 0; i < config.gradAccum(); i++) {
      B b = source.next();
      micro.add(b);
      total += objective.targets(b);
    }
    if (total <= 0) throw new IllegalStateException("step " + (index + 1) + " has no loss targets in its batches");
    optimizer.zeroGrad();
    double lossSum = 0;
    String bad = null;
    double badValue = 0;
    for (B b : micro) {
      try (PointerScope scope = new PointerScope()) {
        Tensor loss;
        try (Autocast ac = Autocast.open(config.precision(), deviceType())) {
          loss = objective.lossSum(b);
        }
        double v = loss.item_double();
        if (!Double.isFinite(v)) {
          bad = "loss";
          badValue = v;
          break;
        }
        backward.backward(loss.div(new Scalar((double) total)));
        afterBackward.run();
        lossSum += v;
      }
    }
    double norm = bad == null ? clipGradients() : Double.NaN;
    if (bad == null && !Double.isFinite(norm)) {
      bad = "gradient norm" + NonFiniteAudit.where("non-finite gradients", NonFiniteAudit.gradients(params));
      badValue = norm;
    } else if (bad != null) {
      bad += NonFiniteAudit.where("non-finite parameters", NonFiniteAudit.values(params));
    }
    step++;
    if (bad != null) {
      optimizer.zeroGrad();
      release(micro);
      if (config.nonFinite() == NonFinitePolicy.STOP) {
        step--;
        throw new NonFiniteLossException(index + 1, bad, badValue);
      }
      return new StepStats(step, badValue, lr, norm, total, (System.nanoTime() - t0) / 1e9, true);
    }
    double mean = lossSum / total;
    if (spikeFactor > 0 && recentLosses.size() == spikeWindow) {
      double recent = recentLosses.stream().mapToDouble(Double::doubleValue).average().orElse(mean);
      if (mean > spikeFactor * recent) {
        optimizer.zeroGrad();
        if (config.nonFinite() == NonFinitePolicy.STOP) {
          step--;
          throw new LossSpikeException(index + 1, mean, recent, spikeFactor);
        }
        return new StepStats(step, mean, lr, norm, total, (System.nanoTime() - t0) / 1e9, true);
      }
    }
    if (spikeFactor > 0) {
      recentLosses.addLast(mean);
      if (recentLosses.size() > spikeWindow) recentLosses.removeFirst();
    }
    optimizer.step(lr);
    release(micro);
    return new StepStats(step, lossSum / total, lr, norm, total, (System.nanoTime() - t0) / 1e9, false);
  }

  /** Batches that hold native memory (AutoCloseable) are freed as soon as their step is done. */
  private static void release(List<?> batches) {
    for (Object b : batches) {
      if (b instanceof AutoCloseable c) {
        try {
          c.close();
        } catch (Exception e) {
          throw new IllegalStateException("cannot release a batch", e);
        }
      }
    }
  }

  private double clipGradients() {
    return clip(params.values(), config.clipNorm());
  }

  /**
   * Global L2 norm of the parameters' gradients (fp32 accumulation) before clipping; when maxNorm > 0
   * and the norm exceeds it, scales every gradient by maxNorm / (norm + 1e-6) as torch's clip_grad_norm_.
   */
  static double clip(java.util.Collection<Tensor> parameters, double maxNorm) {
    try (PointerScope scope = new PointerScope(); NoGradGuard g = new NoGradGuard()) {
      Tensor sq = null;
      List<Tensor> grads = new ArrayList<>();
      for (Tensor p : parameters) {
        Tensor gr = p.grad();
        if (!gr.defined()) continue;
        grads.add(gr);
        Tensor s = gr.to(torch.ScalarType.Float).pow(new Scalar(2.0)).sum();
        sq = sq == null ? s : sq.add(s);
      }
      if (sq == null) return 0;
      double norm = Math.sqrt(sq.item_double());
      if (maxNorm > 0 && Double.isFinite(norm)) {
        double coef = maxNorm / (norm + 1e-6);
        if (coef < 1) for (Tensor gr : grads) gr.mul_(new Scalar(coef));
      }
      return norm;
    }
  }

  private torch.DeviceType deviceType() {
    return Tensors.deviceType(params.values().iterator().next());
  }


  /** JSON has no NaN or Infinity: a non-finite value is logged as null. */
  private static void number(ObjectNode node, String key, double v) {
    if (Double.isFinite(v)) node.put(key, v);
    else node.putNull(key);
  }

  private static void writeLine(BufferedWriter w, ObjectNode node) {
    try {
      w.write(JSON.writeValueAsString(node));
      w.newLine();
      w.flush();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write the training log", e);
    }
  }
}
