package dev.liger.config;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The architecture of a Llama-family checkpoint, read from Hugging Face {@code config.json}.
 * Llama, Mistral and Qwen2 differ only in fields captured here: q/k/v biases, sliding window, RoPE.
 *
 * @param slidingWindow attention window in tokens (key allowed when query_pos - key_pos &lt; window); 0 = full attention
 */
public record ModelConfig(
        String modelType,
        int vocabSize,
        int hiddenSize,
        int intermediateSize,
        int numLayers,
        int numHeads,
        int numKvHeads,
        int headDim,
        double rmsNormEps,
        int maxPositionEmbeddings,
        boolean tieWordEmbeddings,
        boolean attentionBias,
        boolean mlpBias,
        int slidingWindow,
        RopeConfig rope,
        String torchDtype,
        List<Integer> bosTokenIds,
        List<Integer> eosTokenIds) {

    public static final List<String> SUPPORTED_TYPES = List.of("llama", "mistral", "qwen2");

    public ModelConfig {
        if (!SUPPORTED_TYPES.contains(modelType)) {
            throw new ConfigException("unsupported model_type '" + modelType + "' (supported: " + String.join(", ", SUPPORTED_TYPES) + ")");
        }
        positive("vocab_size", vocabSize);
        positive("hidden_size", hiddenSize);
        positive("intermediate_size", intermediateSize);
        positive("num_hidden_layers", numLayers);
        positive("num_attention_heads", numHeads);
        positive("num_key_value_heads", numKvHeads);
        positive("head_dim", headDim);
        if (numHeads % numKvHeads != 0) {
            throw new ConfigException("num_attention_heads " + numHeads + " is not a multiple of num_key_value_heads " + numKvHeads);
        }
        if (headDim % 2 != 0) throw new ConfigException("head_dim " + headDim + " must be even for RoPE");
        if (slidingWindow < 0) throw new ConfigException("sliding_window must be >= 0, got " + slidingWindow);
        bosTokenIds = List.copyOf(bosTokenIds);
        eosTokenIds = List.copyOf(eosTokenIds);
    }

    private static void positive(String key, int v) {
        if (v <= 0) throw new ConfigException("config key '" + key + "' must be positive, got " + v);
    }

    public int groupSize() {
        return numHeads / numKvHeads;
    }

    public static ModelConfig load(Path file) {
        JsonNode root;
        try {
            root = new ObjectMapper().readTree(Files.readString(file));
        } catch (IOException e) {
            throw new ConfigException(file + ": cannot read: " + e.getMessage(), e);
        }
        if (root == null || !root.isObject()) throw new ConfigException(file + ": not a JSON object");
        try {
            return parse(root);
        } catch (ConfigException e) {
            throw new ConfigException(file + ": " + e.getMessage(), e);
        }
    }

    public static ModelConfig parse(JsonNode c) {
        String type = text(c, "model_type", null);
        if (type == null) throw new ConfigException("missing key 'model_type'");
        if (!SUPPORTED_TYPES.contains(type)) {
            throw new ConfigException("unsupported model_type '" + type + "' (supported: " + String.join(", ", SUPPORTED_TYPES) + ")");
        }
        int hidden = integer(c, "hidden_size");
        int heads = integer(c, "num_attention_heads");
        positive("num_attention_heads", heads); // divides hidden_size below
        int kvHeads = c.hasNonNull("num_key_value_heads") ? integer(c, "num_key_value_heads") : heads;
        int headDim = c.hasNonNull("head_dim") ? integer(c, "head_dim") : hidden / heads;
        if (!c.hasNonNull("head_dim") && hidden % heads != 0) {
            throw new ConfigException("hidden_size " + hidden + " is not divisible by num_attention_heads " + heads + " and head_dim is absent");
        }
        boolean bias = type.equals("qwen2") || c.path("attention_bias").asBoolean(false);
        int window = 0;
        if (c.hasNonNull("sliding_window")) {
            // Qwen2 carries a sliding_window value but applies it only with use_sliding_window=true.
            boolean used = !type.equals("qwen2") || c.path("use_sliding_window").asBoolean(false);
            if (used) window = integer(c, "sliding_window");
            if (type.equals("qwen2") && used) {
                throw new ConfigException("qwen2 use_sliding_window=true (per-layer windows via max_window_layers) is not supported");
            }
        }
        int maxPos = c.hasNonNull("max_position_embeddings") ? integer(c, "max_position_embeddings") : 2048;
        return new ModelConfig(
                type,
                integer(c, "vocab_size"),
                hidden,
                integer(c, "intermediate_size"),
                integer(c, "num_hidden_layers"),
                heads,
                kvHeads,
                headDim,
                c.hasNonNull("rms_norm_eps") ? c.get("rms_norm_eps").asDouble() : 1e-6,
                maxPos,
                c.path("tie_word_embeddings").asBoolean(false),
                bias,
                c.path("mlp_bias").asBoolean(false),
                window,
                parseRope(c, maxPos),
                text(c, "torch_dtype", text(c, "dtype", "float32")),
                ids(c.get("bos_token_id")),
                ids(c.get("eos_token_id")));
    }

    /** Accepts transformers 4.x ({@code rope_theta} + {@code rope_scaling}) and 5.x ({@code rope_parameters}). */
    static RopeConfig parseRope(JsonNode c, int maxPos) {
        JsonNode params = c.get("rope_parameters");
        JsonNode scaling = c.get("rope_scaling");
        double theta;
        JsonNode s;
        String where;
        if (params != null && params.isObject()) {
            where = "rope_parameters";
            s = params;
            theta = params.hasNonNull("rope_theta") ? params.get("rope_theta").asDouble()
                    : c.hasNonNull("rope_theta") ? c.get("rope_theta").asDouble() : 10000.0;
        } else {
            where = "rope_scaling";
            s = scaling != null && scaling.isObject() ? scaling : null;
            theta = c.hasNonNull("rope_theta") ? c.get("rope_theta").asDouble() : 10000.0;
        }
        if (s == null) return RopeConfig.plain(theta);
        String type = s.hasNonNull("rope_type") ? s.get("rope_type").asText() : s.hasNonNull("type") ? s.get("type").asText() : RopeConfig.DEFAULT;
        if (!List.of(RopeConfig.DEFAULT, RopeConfig.LINEAR, RopeConfig.DYNAMIC, RopeConfig.LLAMA3).contains(type)) {
            throw new ConfigException("unsupported " + where + ".rope_type '" + type + "' (supported: default, linear, dynamic, llama3)");
        }
        double factor = s.hasNonNull("factor") ? s.get("factor").asDouble() : 1.0;
        int orig = s.hasNonNull("original_max_position_embeddings") ? s.get("original_max_position_embeddings").asInt() : maxPos;
        if (type.equals(RopeConfig.LLAMA3)) {
            for (String k : List.of("factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings")) {
                if (!s.hasNonNull(k)) throw new ConfigException("llama3 rope needs key '" + where + "." + k + "'");
            }
        }
        return new RopeConfig(type, theta, factor,
                s.path("low_freq_factor").asDouble(1.0), s.path("high_freq_factor").asDouble(4.0), orig);
    }

    private static int integer(JsonNode c, String key) {
        JsonNode v = c.get(key);
        if (v == null || v.isNull()) throw new ConfigException("missing key '" + key + "'");
        if (!v.isIntegralNumber()) throw new ConfigException("key '" + key + "' must be an integer, got " + v);
        if (!v.canConvertToInt()) throw new ConfigException("key '" + key + "' = " + v + " is out of the 32-bit integer range");
        return v.asInt();
    }

    private static String text(JsonNode c, String key, String dflt) {
        JsonNode v = c.get(key);
        return v == null || v.isNull() ? dflt : v.asText();
    }

    static List<Integer> ids(JsonNode v) {
        List<Integer> out = new ArrayList<>();
        if (v == null || v.isNull()) return out;
        if (v.isArray()) v.forEach(x -> out.add(x.asInt()));
        else out.add(v.asInt());
        return out;
    }
}
