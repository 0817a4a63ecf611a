package dev.liger.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.liger.data.OnMalformed;
import dev.liger.eval.ChoiceResults;
import dev.liger.eval.LogitsModel;
import dev.liger.eval.MultipleChoice;
import dev.liger.eval.Perplexity;
import dev.liger.eval.PerplexityResult;
import dev.liger.lora.LoraAdapters;
import dev.liger.pipeline.Corpus;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.global.torch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** Perplexity over text files and lm-eval-style multiple-choice accuracy, for Transformers and Liger models alike. */
@Command(name = "eval", mixinStandardHelpOptions = true,
        description = "Perplexity over text (non-overlapping windows, or sliding with --stride) and zero-shot multiple choice (acc, acc_norm).")
public final class EvalCommand implements Callable<Integer> {
    @Mixin
    ModelOptions model;

    @Option(names = "--adapter", paramLabel = "DIR", description = "LoRA adapter (PEFT layout) to apply.")
    Path adapter;

    @Option(names = "--text", split = ",", paramLabel = "FILE", description = "Text files for perplexity (documents per --format).")
    List<Path> text = new ArrayList<>();

    @Option(names = "--format", defaultValue = "lines", description = "lines, blocks or jsonl. Default: ${DEFAULT-VALUE}.")
    String format;

    @Option(names = "--window", defaultValue = "512", description = "Tokens per window. Default: ${DEFAULT-VALUE}.")
    int window;

    @Option(names = "--stride", defaultValue = "0", description = "Sliding windows advancing by this many tokens, scoring only new ones (0 = non-overlapping). Default: ${DEFAULT-VALUE}.")
    int stride;

    @Option(names = "--max-tokens", defaultValue = "0", description = "Evaluate at most this many tokens of the stream (0 = all). Default: ${DEFAULT-VALUE}.")
    int maxTokens;

    @Option(names = "--choices", split = ",", paramLabel = "FILE", description = "Multiple-choice JSONL files: {\"context\", \"choices\", \"gold\"}.")
    List<Path> choices = new ArrayList<>();

    @Option(names = "--batch", defaultValue = "4", description = "Windows per forward. Default: ${DEFAULT-VALUE}.")
    int batch;

    @Option(names = "--json", description = "Print the results as one JSON object.")
    boolean json;

    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        if (text.isEmpty() && choices.isEmpty()) throw new IllegalArgumentException("nothing to evaluate: give --text and/or --choices");
        PrintWriter w = spec.commandLine().getOut();
        ObjectMapper om = new ObjectMapper();
        ObjectNode result = om.createObjectNode();
        result.put("model", model.displayName());
        try (ModelOptions.Loaded loaded = model.load(); NoGradGuard ng = new NoGradGuard()) {
            if (adapter != null) {
                LoraAdapters.load(adapter, loaded.model(), torch.make_generator_cpu()).train(false);
                result.put("adapter", adapter.toString());
            }
            LogitsModel lm = LogitsModel.of(loaded.model());
            if (!text.isEmpty()) {
                long[] stream = Corpus.stream(Corpus.read(text, Corpus.Format.parse(format), OnMalformed.SKIP, System.err),
                        Corpus.encoder(loaded.tokenizer()));
                if (maxTokens > 0 && stream.length > maxTokens) stream = java.util.Arrays.copyOf(stream, maxTokens);
                PerplexityResult p = stride > 0 ? Perplexity.sliding(lm, stream, window, stride, batch)
                        : Perplexity.nonOverlapping(lm, stream, window, batch);
                ObjectNode n = result.putObject("perplexity");
                n.put("tokens", p.tokens());
                n.put("windows", p.windows());
                n.put("window", p.window());
                n.put("stride", p.stride());
                n.put("mean_nll", p.meanNll());
                n.put("perplexity", p.perplexity());
                if (!json) w.printf("perplexity %.3f (%d tokens scored, %d windows of %d%s)%n", p.perplexity(), p.tokens(),
                        p.windows(), p.window(), stride > 0 ? ", stride " + stride : "");
            }
            if (!choices.isEmpty()) {
                MultipleChoice mc = new MultipleChoice(lm, s -> loaded.tokenizer().encode(s, false),
                        loaded.tokenizer().bosId() == null ? new long[0] : new long[] {loaded.tokenizer().bosId()}, true, 2048);
                ObjectNode tasks = result.putObject("multiple_choice");
                for (Path f : choices) {
                    MultipleChoice.Loaded q = MultipleChoice.read(f, true, System.err);
                    ChoiceResults r = mc.evaluate(q.questions(), q.skipped());
                    ObjectNode n = tasks.putObject(f.getFileName().toString());
                    n.put("questions", r.questions());
                    n.put("skipped", r.skipped());
                    n.put("acc", r.acc());
                    n.put("acc_stderr", r.accStderr());
                    n.put("acc_norm", r.accNorm());
                    n.put("acc_norm_stderr", r.accNormStderr());
                    if (!json) w.printf("%s: acc %.4f ± %.4f, acc_norm %.4f ± %.4f (%d questions, %d skipped)%n", f.getFileName(),
                            r.acc(), r.accStderr(), r.accNorm(), r.accNormStderr(), r.questions(), r.skipped());
                }
            }
        }
        if (json) w.println(om.writerWithDefaultPrettyPrinter().writeValueAsString(result));
        return 0;
    }
}
