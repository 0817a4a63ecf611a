package dev.liger.bench;

import dev.liger.data.OnMalformed;
import dev.liger.data.PackedDataset;
import dev.liger.data.Packer;
import dev.liger.data.PackingConfig;
import dev.liger.eval.LogitsModel;
import dev.liger.eval.Perplexity;
import dev.liger.lora.LoraConfig;
import dev.liger.model.DefaultModel;
import dev.liger.model.LlamaModel;
import dev.liger.model.Tensors;
import dev.liger.pipeline.Corpus;
import dev.liger.pipeline.Finetune;
import dev.liger.surgery.LigerAttention;
import dev.liger.surgery.LigerConfig;
import dev.liger.surgery.Linearizer;
import dev.liger.tokenizer.Tokenizer;
import dev.liger.train.AdamWConfig;
import dev.liger.train.LrSchedule;
import dev.liger.train.NonFinitePolicy;
import dev.liger.train.Precision;
import dev.liger.train.TrainConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * Recovery of the embedded teacher after linearization: held-out perplexity of the teacher, the zero-shot
 * conversion, and the conversion after LoRA at several token budgets, plus ablations at one budget. Prints a
 * Markdown table. A benchmark, not a test.
 *
 * <pre>
 * java -cp target/test-classes:target/classes:target/lib/* dev.liger.bench.RecoveryBenchmark DATA_DIR [budgets...]
 * </pre>
 * Liger-GLA and Liger-GDN run at every budget, the ablations at the first one. With
 * {@code -Dliger.recovery.ablations=false} only Liger-GLA and Liger-GDN run (for long budgets).
 * DATA_DIR holds brown.txt and nlp.txt; training uses their training lines, evaluation the fixture's held-out
 * lines (last n // 20 non-blank lines of each file).
 */
public final class RecoveryBenchmark {
    static final int SEQ = 256, BATCH = 4, EVAL_TOKENS = 16384;

    public static void main(String[] args) throws Exception {
        Path data = Path.of(args[0]);
        List<Long> budgets = new ArrayList<>();
        for (int i = 1; i < args.length; i++) budgets.add(Long.parseLong(args[i]));
        if (budgets.isEmpty()) budgets = List.of(16_384L, 49_152L, 98_304L);
        long ablationBudget = budgets.get(0);

        Path dir = DefaultModel.path();
        Path work = Files.createTempDirectory("liger-recovery");
        List<String> trainLines = new ArrayList<>(), heldLines = new ArrayList<>();
        for (String f : List.of("nlp.txt", "brown.txt")) {
            List<String> lines = Files.readAllLines(data.resolve(f)).stream().filter(l -> !l.strip().isEmpty()).toList();
            int held = lines.size() / 20;
            trainLines.addAll(lines.subList(0, lines.size() - held));
            heldLines.addAll(lines.subList(lines.size() - held, lines.size()));
        }
        Path trainFile = work.resolve("train.txt"), heldFile = work.resolve("held.txt");
        Files.write(trainFile, trainLines);
        Files.write(heldFile, heldLines);

        Map<String, String> rows = new LinkedHashMap<>();
        try (Tokenizer tok = Tokenizer.load(dir)) {
            var enc = Corpus.encoder(tok);
            long[] held = Corpus.stream(Corpus.read(List.of(heldFile), Corpus.Format.LINES, OnMalformed.REJECT, System.err), enc);
            held = java.util.Arrays.copyOf(held, Math.min(held.length, EVAL_TOKENS));
            var docs = Corpus.tokenize(Corpus.read(List.of(trainFile), Corpus.Format.LINES, OnMalformed.REJECT, System.err), enc);
            PackedDataset ds = Packer.pack(docs, new PackingConfig(SEQ, tok.specialTokens().getOrDefault("<pad>", 0), 0.0, 7));
            System.err.printf("held-out tokens %d, training rows %d x %d%n", held.length, ds.train().size(), SEQ);

            try (LlamaModel teacher = LlamaModel.load(dir, Tensors.CPU, ScalarType.Float)) {
                rows.put("teacher (softmax attention)", fmt(ppl(teacher, held)) + " | (the target) ");
            }
            LigerConfig base = LigerConfig.defaults();
            Map<String, LigerConfig> variants = new LinkedHashMap<>();
            variants.put("Liger-GLA", base);
            variants.put("Liger-GDN", base.withVariant(LigerConfig.Variant.GDN));
            variants.put("GRM only (a = 1)", base.withMix(1f));
            variants.put("SWA only (a = 0)", base.withMix(0f));
            variants.put("no gate", base.withUseGate(false));
            variants.put("Liger-HGRN2", base.withVariant(LigerConfig.Variant.HGRN2));
            variants.put("hybrid: softmax in layer 3", base.withFullAttentionLayers(List.of(3)));
            if (!Boolean.parseBoolean(System.getProperty("liger.recovery.ablations", "true")))
                variants.keySet().retainAll(List.of("Liger-GLA", "Liger-GDN"));
            for (var v : variants.entrySet()) {
                List<Long> bs = v.getKey().startsWith("Liger-GLA") || v.getKey().startsWith("Liger-GDN") ? budgets : List.of(ablationBudget);
                double zero = Double.NaN;
                StringBuilder after = new StringBuilder();
                for (long budget : bs) {
                    try (LlamaModel m = LlamaModel.load(dir, Tensors.CPU, ScalarType.Float)) {
                        Linearizer.linearize(m, v.getValue(), LigerAttention.Backend.NATIVE);
                        if (Double.isNaN(zero)) zero = ppl(m, held);
                        long steps = Math.max(1, budget / ((long) SEQ * BATCH));
                        TrainConfig tc = new TrainConfig(AdamWConfig.defaults(), LrSchedule.constant(), steps, 1, 1.0, 0,
                                Precision.FP32, 0, 0, 1, NonFinitePolicy.STOP, work.resolve("run"), true);
                        long t0 = System.nanoTime();
                        Finetune.run(m, LoraConfig.defaults(), tc, ds.train(), List.of(), BATCH, false, System.err);
                        double s = (System.nanoTime() - t0) / 1e9;
                        double p = ppl(m, held);
                        after.append(String.format("%s%d tok: %s (%.0f s)", after.length() == 0 ? "" : "; ", steps * SEQ * BATCH, fmt(p), s));
                        System.err.printf("%s after %d tokens: %.2f%n", v.getKey(), steps * SEQ * BATCH, p);
                        deleteTree(work.resolve("run"));
                    }
                }
                rows.put(v.getKey(), fmt(zero) + " | " + after);
            }
        }
        System.out.println("| model | held-out perplexity, no fine-tuning | after LoRA (tokens: perplexity (time)) |");
        System.out.println("|---|---|---|");
        for (var r : rows.entrySet()) System.out.println("| " + r.getKey() + " | " + r.getValue() + " |");
    }

    static double ppl(LlamaModel m, long[] tokens) {
        try (NoGradGuard ng = new NoGradGuard()) {
            return Perplexity.nonOverlapping(LogitsModel.of(m), tokens, SEQ, 8).perplexity();
        }
    }

    static String fmt(double p) {
        return String.format("%.2f", p);
    }

    static void deleteTree(Path p) throws java.io.IOException {
        if (!Files.exists(p)) return;
        try (var s = Files.walk(p)) {
            for (Path x : s.sorted(java.util.Comparator.reverseOrder()).toList()) Files.delete(x);
        }
    }
}
