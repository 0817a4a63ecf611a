package dev.liger.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.liger.config.ModelConfig;
import dev.liger.io.Checkpoint;
import dev.liger.io.TensorInfo;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** Model summary from config.json and the safetensors headers (no weights are read). */
@Command(name = "info", mixinStandardHelpOptions = true, description = "Summarize a checkpoint: family, layers, heads, parameters, dtype.")
public final class InfoCommand implements Callable<Integer> {
    @Mixin
    ModelOptions model;

    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Option(names = "--json", description = "Print the summary as JSON.")
    boolean json;

    @Override
    public Integer call() throws Exception {
        java.io.PrintWriter out = spec.commandLine().getOut();
        Path dir = model.directory();
        ModelConfig c = ModelConfig.load(dir.resolve("config.json"));
        long params = 0, bytes = 0;
        Map<String, Long> byDtype = new TreeMap<>();
        int tensors;
        try (Checkpoint ckpt = Checkpoint.open(dir)) {
            tensors = ckpt.names().size();
            for (String n : ckpt.names()) {
                TensorInfo t = ckpt.info(n);
                params += t.numel();
                bytes += t.byteSize();
                byDtype.merge(t.dtype().name(), t.numel(), Long::sum);
            }
        }
        Map<String, Object> s = new LinkedHashMap<>();
        s.put("model", model.displayName());
        s.put("path", dir.toString());
        s.put("family", c.modelType());
        s.put("layers", c.numLayers());
        s.put("hidden_size", c.hiddenSize());
        s.put("intermediate_size", c.intermediateSize());
        s.put("attention_heads", c.numHeads());
        s.put("kv_heads", c.numKvHeads());
        s.put("head_dim", c.headDim());
        s.put("vocab_size", c.vocabSize());
        s.put("parameters", params);
        s.put("tensors", tensors);
        s.put("weight_bytes", bytes);
        s.put("stored_dtypes", byDtype);
        s.put("config_dtype", c.torchDtype());
        s.put("tied_embeddings", c.tieWordEmbeddings());
        s.put("qkv_bias", c.attentionBias());
        s.put("sliding_window", c.slidingWindow() == 0 ? null : c.slidingWindow());
        s.put("rope", Map.of("type", c.rope().type(), "theta", c.rope().theta(), "factor", c.rope().factor()));
        s.put("max_position_embeddings", c.maxPositionEmbeddings());
        if (json) {
            out.println(new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValueAsString(s));
            out.flush();
            return 0;
        }
        out.printf("model          %s%n", s.get("model"));
        out.printf("path           %s%n", dir);
        out.printf("family         %s%n", c.modelType());
        out.printf("layers         %d%n", c.numLayers());
        out.printf("hidden         %d (MLP %d)%n", c.hiddenSize(), c.intermediateSize());
        out.printf("heads          %d query, %d key/value (GQA group %d), head_dim %d%n", c.numHeads(), c.numKvHeads(), c.groupSize(), c.headDim());
        out.printf("vocab          %d%n", c.vocabSize());
        out.printf("parameters     %,d (%s)%n", params, human(params));
        out.printf("dtype          %s stored %s, %s on disk%n", c.torchDtype(), byDtype.keySet(), humanBytes(bytes));
        out.printf("embeddings     %s%n", c.tieWordEmbeddings() ? "tied (LM head = embedding)" : "separate LM head");
        out.printf("attention      %s%s%n", c.attentionBias() ? "q/k/v biases, " : "", c.slidingWindow() > 0 ? "sliding window " + c.slidingWindow() : "full causal");
        out.printf("rope           %s, theta %s%s, max positions %d%n", c.rope().type(), c.rope().theta(),
                c.rope().type().equals("default") ? "" : ", factor " + c.rope().factor(), c.maxPositionEmbeddings());
        out.flush();
        return 0;
    }

    static String human(long n) {
        if (n >= 1_000_000_000L) return String.format("%.2fB", n / 1e9);
        if (n >= 1_000_000L) return String.format("%.2fM", n / 1e6);
        if (n >= 1_000L) return String.format("%.1fK", n / 1e3);
        return Long.toString(n);
    }

    static String humanBytes(long n) {
        if (n >= 1L << 30) return String.format("%.2f GiB", n / (double) (1L << 30));
        if (n >= 1L << 20) return String.format("%.2f MiB", n / (double) (1L << 20));
        return String.format("%.1f KiB", n / 1024.0);
    }
}
