package dev.liger.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.liger.generate.Scorer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * Teacher-forced per-token log-likelihoods as JSON, with perplexity and optionally the full logits at chosen
 * positions: what one runs to compare against another implementation.
 */
@Command(name = "score", mixinStandardHelpOptions = true,
        description = "Per-token log-likelihoods (JSON), perplexity, and full logits at chosen positions.")
public final class ScoreCommand implements Callable<Integer> {
    @Mixin
    ModelOptions model;

    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    static final class Input {
        @Option(names = "--text", paramLabel = "TEXT", description = "Text to score (tokenized with the model's tokenizer).")
        String text;

        @Option(names = "--text-file", paramLabel = "FILE", description = "UTF-8 file whose content is scored.")
        Path textFile;

        @Option(names = "--ids", paramLabel = "ID", split = ",", description = "Token ids to score, comma-separated.")
        List<Long> ids;
    }

    @ArgGroup(exclusive = true, multiplicity = "1")
    Input input;

    @Option(names = "--logits-at", paramLabel = "POS", split = ",",
            description = "Positions whose full logit rows to include (negative counts from the end).")
    List<Integer> logitsAt = new ArrayList<>();

    @Option(names = "--no-bos", description = "Do not let the tokenizer add BOS/special tokens to the text.")
    boolean noBos;

    @Option(names = "--pretty", description = "Indent the JSON.")
    boolean pretty;

    @Override
    public Integer call() throws Exception {
        java.io.PrintWriter out = spec.commandLine().getOut();
        try (ModelOptions.Loaded loaded = model.load()) {
            long[] ids;
            String text = input.text;
            if (input.textFile != null) {
                if (!Files.isRegularFile(input.textFile)) throw new IllegalArgumentException("--text-file " + input.textFile + ": no such file");
                text = Files.readString(input.textFile);
            }
            if (input.ids != null) {
                ids = input.ids.stream().mapToLong(Long::longValue).toArray();
            } else {
                ids = loaded.tokenizer().encode(text, !noBos);
            }
            if (ids.length == 0) throw new IllegalArgumentException("nothing to score: the input has no tokens");
            int[] at = new int[logitsAt.size()];
            for (int i = 0; i < at.length; i++) {
                int p = logitsAt.get(i);
                at[i] = p < 0 ? ids.length + p : p;
                if (at[i] < 0 || at[i] >= ids.length) {
                    throw new IllegalArgumentException("--logits-at " + p + ": outside the " + ids.length + " scored tokens");
                }
            }
            Scorer.Score s = new Scorer(loaded.model()).score(ids, at);
            Map<String, Object> res = new LinkedHashMap<>();
            res.put("model", model.displayName());
            res.put("dtype", ModelOptions.dtypeName(loaded.model().dtype()));
            res.put("num_tokens", ids.length);
            List<Map<String, Object>> toks = new ArrayList<>();
            double sum = 0;
            for (int i = 0; i < ids.length; i++) {
                Map<String, Object> t = new LinkedHashMap<>();
                t.put("position", i);
                t.put("id", ids[i]);
                t.put("token", loaded.tokenizer().decode(new long[] {ids[i]}, false));
                t.put("logprob", i == 0 ? null : s.logProbs()[i - 1]);
                if (i > 0) sum += s.logProbs()[i - 1];
                toks.add(t);
            }
            res.put("tokens", toks);
            res.put("total_logprob", sum);
            res.put("mean_nll", ids.length > 1 ? -sum / (ids.length - 1) : null);
            res.put("perplexity", ids.length > 1 ? s.perplexity() : null);
            if (at.length > 0) {
                List<Map<String, Object>> rows = new ArrayList<>();
                for (int i = 0; i < at.length; i++) {
                    Map<String, Object> r = new LinkedHashMap<>();
                    r.put("position", at[i]);
                    r.put("logits", s.logits()[i]);
                    rows.add(r);
                }
                res.put("logits", rows);
            }
            ObjectMapper json = new ObjectMapper();
            if (pretty) json.enable(SerializationFeature.INDENT_OUTPUT);
            out.println(json.writeValueAsString(res));
            out.flush();
            return 0;
        }
    }
}
