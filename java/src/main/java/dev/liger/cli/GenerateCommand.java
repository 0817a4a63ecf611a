package dev.liger.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.liger.generate.GenerationResult;
import dev.liger.generate.Generator;
import dev.liger.generate.SamplingParams;
import dev.liger.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** Generates a continuation; with one prompt the text streams as it is produced. */
@Command(name = "generate", mixinStandardHelpOptions = true, description = "Continue one or more prompts (streams a single prompt's text).")
public final class GenerateCommand implements Callable<Integer> {
    @Mixin
    ModelOptions model;

    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Parameters(paramLabel = "PROMPT", arity = "0..*", description = "Prompt text; several prompts run as one left-padded batch.")
    List<String> prompts = new ArrayList<>();

    @Option(names = {"-p", "--prompt"}, paramLabel = "TEXT", description = "Prompt text (repeatable; same as the positional argument).")
    List<String> promptOptions = new ArrayList<>();

    @Option(names = {"-n", "--max-tokens"}, defaultValue = "64", description = "Maximum new tokens. Default: ${DEFAULT-VALUE}.")
    int maxTokens;

    @Option(names = {"-t", "--temperature"}, defaultValue = "0", description = "Sampling temperature; 0 = greedy. Default: ${DEFAULT-VALUE}.")
    double temperature;

    @Option(names = "--top-k", defaultValue = "0", description = "Keep the k most likely tokens (0 = all). Default: ${DEFAULT-VALUE}.")
    int topK;

    @Option(names = "--top-p", defaultValue = "1.0", description = "Nucleus sampling mass (1 = off). Default: ${DEFAULT-VALUE}.")
    double topP;

    @Option(names = "--seed", defaultValue = "0", description = "Random seed for sampling. Default: ${DEFAULT-VALUE}.")
    long seed;

    @Option(names = "--stop", paramLabel = "ID", split = ",", description = "Extra stop token ids (the tokenizer's EOS always stops).")
    List<Long> stop = new ArrayList<>();

    @Option(names = "--ignore-eos", description = "Do not stop at the EOS token.")
    boolean ignoreEos;

    @Option(names = "--no-bos", description = "Do not let the tokenizer add BOS/special tokens to the prompt.")
    boolean noBos;

    @Option(names = "--json", description = "Print results as JSON (ids, text, stop reason) instead of streaming text.")
    boolean json;

    @Override
    public Integer call() throws Exception {
        List<String> all = new ArrayList<>(promptOptions);
        all.addAll(prompts);
        if (all.isEmpty()) throw new IllegalArgumentException("no prompt given (pass text, or --prompt TEXT)");
        SamplingParams base = new SamplingParams(temperature, topK, topP, seed, maxTokens, Set.of());
        try (ModelOptions.Loaded loaded = model.load()) {
            Tokenizer tok = loaded.tokenizer();
            Set<Long> stops = new HashSet<>(stop);
            if (!ignoreEos) tok.eosIds().forEach(e -> stops.add((long) e));
            SamplingParams params = new SamplingParams(base.temperature(), base.topK(), base.topP(), base.seed(), base.maxNewTokens(), stops);
            List<long[]> ids = new ArrayList<>();
            for (String p : all) {
                long[] e = tok.encode(p, !noBos);
                if (e.length == 0) throw new IllegalArgumentException("prompt '" + p + "' encodes to no tokens (use it without --no-bos)");
                ids.add(e);
            }
            Generator gen = new Generator(loaded.model());
            java.io.PrintWriter out = spec.commandLine().getOut();
            boolean stream = !json && all.size() == 1;
            long t0 = System.nanoTime();
            List<GenerationResult> results;
            if (stream) {
                out.print(all.get(0));
                out.flush();
                StreamingDecoder dec = new StreamingDecoder(tok, tok.eosIds());
                results = gen.generate(ids, params, (seq, token) -> {
                    out.print(dec.push(token));
                    out.flush();
                });
                out.println();
            } else {
                results = gen.generate(ids, params, null);
            }
            double secs = (System.nanoTime() - t0) / 1e9;
            long total = results.stream().mapToLong(r -> r.tokens().length).sum();
            if (json) {
                List<Map<String, Object>> rows = new ArrayList<>();
                for (int i = 0; i < all.size(); i++) {
                    Map<String, Object> r = new LinkedHashMap<>();
                    r.put("prompt", all.get(i));
                    r.put("prompt_ids", ids.get(i));
                    r.put("new_ids", results.get(i).tokens());
                    r.put("text", tok.decode(results.get(i).tokens(), true));
                    r.put("stop_reason", results.get(i).reason().name().toLowerCase());
                    rows.add(r);
                }
                out.println(new ObjectMapper().writeValueAsString(rows));
            } else if (!stream) {
                for (int i = 0; i < all.size(); i++) {
                    out.println(all.get(i) + tok.decode(results.get(i).tokens(), true));
                    if (i + 1 < all.size()) out.println("---");
                }
            }
            out.flush();
            spec.commandLine().getErr().printf("[%d new tokens in %.2f s, %.1f tokens/s]%n", total, secs, total / Math.max(secs, 1e-9));
            return 0;
        }
    }

    /** Turns a token stream into text pieces, holding back bytes that do not yet form whole characters. */
    static final class StreamingDecoder {
        private final Tokenizer tok;
        private final Set<Integer> hidden;
        private final List<Long> ids = new ArrayList<>();
        private String emitted = "";

        StreamingDecoder(Tokenizer tok, List<Integer> hidden) {
            this.tok = tok;
            this.hidden = new HashSet<>(hidden);
        }

        String push(long token) {
            if (hidden.contains((int) token)) return "";
            ids.add(token);
            String text = tok.decode(ids, true);
            if (text.endsWith("\uFFFD") || !text.startsWith(emitted)) return "";
            String delta = text.substring(emitted.length());
            emitted = text;
            return delta;
        }
    }
}
