package dev.liger.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.liger.data.OnMalformed;
import dev.liger.data.PackedDataset;
import dev.liger.data.Packer;
import dev.liger.data.PackingConfig;
import dev.liger.eval.LogitsModel;
import dev.liger.eval.Perplexity;
import dev.liger.generate.GenerationResult;
import dev.liger.generate.Generator;
import dev.liger.generate.SamplingParams;
import dev.liger.lora.LoraConfig;
import dev.liger.model.DefaultModel;
import dev.liger.model.LlamaModel;
import dev.liger.model.Tensors;
import dev.liger.pipeline.Corpus;
import dev.liger.pipeline.Finetune;
import dev.liger.report.DecodeProfile;
import dev.liger.report.LineChart;
import dev.liger.surgery.LigerAttention;
import dev.liger.surgery.LigerConfig;
import dev.liger.surgery.Linearizer;
import dev.liger.tokenizer.Tokenizer;
import dev.liger.train.AdamWConfig;
import dev.liger.train.LrSchedule;
import dev.liger.train.NonFinitePolicy;
import dev.liger.train.Precision;
import dev.liger.train.TrainConfig;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.global.torch.ScalarType;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * The whole story on the embedded model: linearize, fine-tune briefly on the bundled text, compare held-out
 * perplexity of the teacher, the zero-shot conversion and the fine-tuned one, generate a sample, and chart
 * decode memory and per-token latency against context length for the Transformer and its conversion.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = "Linearize the embedded model, fine-tune it briefly, compare perplexities, generate, and chart decoding cost.")
public final class DemoCommand implements Callable<Integer> {
    @Option(names = {"-o", "--out"}, defaultValue = "liger-demo", paramLabel = "DIR", description = "Output directory. Default: ${DEFAULT-VALUE}.")
    Path out;

    @Option(names = "--steps", defaultValue = "120", description = "LoRA fine-tuning steps. Default: ${DEFAULT-VALUE}.")
    long steps;

    @Option(names = "--seq-len", defaultValue = "256", description = "Training sequence length. Default: ${DEFAULT-VALUE}.")
    int seqLen;

    @Option(names = "--batch", defaultValue = "4", description = "Rows per step. Default: ${DEFAULT-VALUE}.")
    int batch;

    @Option(names = "--eval-tokens", defaultValue = "16384", description = "Held-out tokens scored for perplexity. Default: ${DEFAULT-VALUE}.")
    int evalTokens;

    @Option(names = "--decode-tokens", defaultValue = "4096", description = "Longest context of the decoding chart. Default: ${DEFAULT-VALUE}.")
    int decodeTokens;

    @Option(names = "--prompt", defaultValue = "The city council said that", description = "Prompt of the generated sample.")
    String prompt;

    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        PrintWriter w = spec.commandLine().getOut();
        Files.createDirectories(out);
        Path train = resource("demo-train.txt"), heldout = resource("demo-heldout.txt");
        Path modelDir = DefaultModel.path();
        ObjectMapper om = new ObjectMapper();
        ObjectNode summary = om.createObjectNode();
        LigerConfig cfg = LigerConfig.defaults();

        try (LlamaModel model = LlamaModel.load(modelDir, Tensors.CPU, ScalarType.Float);
             Tokenizer tok = Tokenizer.load(modelDir)) {
            var encoder = Corpus.encoder(tok);
            long[] stream = Corpus.stream(Corpus.read(List.of(heldout), Corpus.Format.LINES, OnMalformed.REJECT, System.err), encoder);
            if (stream.length > evalTokens) stream = java.util.Arrays.copyOf(stream, evalTokens);
            w.printf("Liger demo on the embedded %s (%d layers, %d query / %d KV heads, %.1fM parameters)%n",
                    DefaultModel.NAME, model.layers().size(), model.config().numHeads(), model.config().numKvHeads(),
                    model.parameterCount() / 1e6);
            w.printf("held-out text: %d tokens, non-overlapping windows of %d%n%n", stream.length, seqLen);

            double teacher = perplexity(model, stream);
            w.printf("  teacher (softmax attention)     perplexity %8.2f%n", teacher);
            String teacherSample = sample(model, tok);
            List<DecodeProfile.Point> tfProfile = DecodeProfile.run(model, checkpoints(), 64, tok.bosId() == null ? 1 : tok.bosId());
            w.flush();

            Linearizer.linearize(model, cfg, LigerAttention.Backend.NATIVE);
            double zeroShot = perplexity(model, stream);
            w.printf("  Liger, zero-shot                perplexity %8.2f%n", zeroShot);
            w.flush();

            var docs = Corpus.tokenize(Corpus.read(List.of(train), Corpus.Format.LINES, OnMalformed.REJECT, System.err), encoder);
            PackedDataset ds = Packer.pack(docs, new PackingConfig(seqLen, tok.specialTokens().getOrDefault("<pad>", 0), 0.0, 0));
            Path runDir = out.resolve("finetune");
            TrainConfig tc = new TrainConfig(AdamWConfig.defaults(), LrSchedule.constant(), steps, 1, 1.0, 0, Precision.FP32,
                    0, 0, 1, NonFinitePolicy.STOP, runDir, true);
            long t0 = System.nanoTime();
            Finetune.Result r = Finetune.run(model, LoraConfig.defaults(), tc, ds.train(), List.of(), batch, false, System.err);
            double seconds = (System.nanoTime() - t0) / 1e9;
            r.adapters().save(runDir.resolve("adapter"), modelDir.toString());
            double tuned = perplexity(model, stream);
            long tokens = steps * batch * seqLen;
            w.printf("  Liger, LoRA-tuned (%d tokens)  perplexity %8.2f   (%.0f s, %.0f tokens/s)%n%n", tokens, tuned, seconds, tokens / seconds);

            String ligerSample = sample(model, tok);
            w.printf("teacher: %s%s%n", prompt, teacherSample);
            w.printf("liger:   %s%s%n%n", prompt, ligerSample);
            List<DecodeProfile.Point> lgProfile = DecodeProfile.run(model, checkpoints(), 64, tok.bosId() == null ? 1 : tok.bosId());

            w.printf("%8s  %14s %14s  %12s %12s%n", "context", "KV-cache KiB", "Liger KiB", "TF ms/tok", "Liger ms/tok");
            for (int i = 0; i < tfProfile.size(); i++) {
                DecodeProfile.Point a = tfProfile.get(i), b = lgProfile.get(i);
                w.printf("%8d  %14.0f %14.0f  %12.2f %12.2f%n", a.length(), a.cacheBytes() / 1024.0, b.cacheBytes() / 1024.0,
                        a.msPerToken(), b.msPerToken());
            }
            Path png = out.resolve("decode.png");
            LineChart.writePng(png, "Decoding cost against context length (" + DefaultModel.NAME + ", CPU)", List.of(
                    new LineChart.Panel("Cache memory", "tokens in context", "KiB", List.of(
                            series("Transformer KV-cache", tfProfile, true), series("Liger state + window", lgProfile, true))),
                    new LineChart.Panel("Per-token latency", "tokens in context", "ms / token", List.of(
                            series("Transformer", tfProfile, false), series("Liger", lgProfile, false)))));
            w.printf("%nchart: %s%n", png);

            summary.put("model", DefaultModel.NAME);
            summary.set("liger_config", cfg.toJson(om));
            summary.put("heldout_tokens", stream.length);
            summary.put("ppl_teacher", teacher);
            summary.put("ppl_liger_zero_shot", zeroShot);
            summary.put("ppl_liger_lora", tuned);
            summary.put("finetune_tokens", tokens);
            summary.put("finetune_seconds", seconds);
            summary.put("sample_teacher", prompt + teacherSample);
            summary.put("sample_liger", prompt + ligerSample);
            summary.set("decode_transformer", points(om, tfProfile));
            summary.set("decode_liger", points(om, lgProfile));
            Files.writeString(out.resolve("summary.json"), om.writerWithDefaultPrettyPrinter().writeValueAsString(summary));
            w.printf("summary: %s%n", out.resolve("summary.json"));
        }
        return 0;
    }

    private int[] checkpoints() {
        List<Integer> c = new ArrayList<>();
        for (int n = 256; n <= decodeTokens; n *= 2) c.add(n);
        if (c.isEmpty() || c.get(c.size() - 1) != decodeTokens) c.add(decodeTokens);
        return c.stream().mapToInt(Integer::intValue).toArray();
    }

    private double perplexity(LlamaModel model, long[] stream) {
        try (NoGradGuard ng = new NoGradGuard()) {
            return Perplexity.nonOverlapping(LogitsModel.of(model), stream, seqLen, 4).perplexity();
        }
    }

    private String sample(LlamaModel model, Tokenizer tok) {
        SamplingParams p = new SamplingParams(0, 0, 1.0, 0, 32, Set.copyOf(tok.eosIds().stream().map(Integer::longValue).toList()));
        try (NoGradGuard ng = new NoGradGuard()) {
            GenerationResult g = new Generator(model).generate(List.of(tok.encode(prompt, true)), p, null).get(0);
            return tok.decode(g.tokens(), true);
        }
    }

    private static LineChart.Series series(String name, List<DecodeProfile.Point> pts, boolean memory) {
        double[] x = new double[pts.size()], y = new double[pts.size()];
        for (int i = 0; i < x.length; i++) {
            x[i] = pts.get(i).length();
            y[i] = memory ? pts.get(i).cacheBytes() / 1024.0 : pts.get(i).msPerToken();
        }
        return new LineChart.Series(name, x, y);
    }

    private static ArrayNode points(ObjectMapper om, List<DecodeProfile.Point> pts) {
        ArrayNode a = om.createArrayNode();
        for (DecodeProfile.Point p : pts)
            a.addObject().put("tokens", p.length()).put("cache_bytes", p.cacheBytes()).put("rss_bytes", p.rssBytes())
                    .put("heap_bytes", p.heapBytes()).put("ms_per_token", p.msPerToken());
        return a;
    }

    /** Bundled text is extracted next to the output, since the readers take files. */
    private Path resource(String name) throws IOException {
        Path target = out.resolve("data").resolve(name);
        Files.createDirectories(target.getParent());
        try (InputStream in = DemoCommand.class.getResourceAsStream("/dev/liger/data/" + name)) {
            if (in == null) throw new IOException("bundled resource /dev/liger/data/" + name + " is missing from the jar");
            Files.copy(in, target, StandardCopyOption.REPLACE_EXISTING);
        }
        return target;
    }
}
