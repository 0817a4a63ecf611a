package dev.liger.fuzz;

import com.code_intelligence.jazzer.junit.FuzzTest;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.liger.config.ConfigException;
import dev.liger.config.ModelConfig;
import java.nio.file.Path;

/**
 * config.json parsing on arbitrary bytes. Documented outcome: a {@link ModelConfig} or
 * {@link ConfigException}. An accepted config must carry exactly the integers the file gives (no silent
 * truncation of out-of-range numbers) and satisfy the invariants the model relies on.
 */
public class ModelConfigFuzzTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    public static void fuzzerTestOneInput(byte[] data) {
        Path file = FuzzSupport.write("config.json", data);
        ModelConfig c;
        try {
            c = ModelConfig.load(file);
        } catch (Throwable e) {
            FuzzSupport.expectDocumented(e, ConfigException.class);
            return;
        }
        JsonNode root;
        try {
            root = JSON.readTree(data);
        } catch (Exception e) {
            throw new AssertionError("config accepted but the bytes are not JSON", e);
        }
        same(root, "vocab_size", c.vocabSize());
        same(root, "hidden_size", c.hiddenSize());
        same(root, "intermediate_size", c.intermediateSize());
        same(root, "num_hidden_layers", c.numLayers());
        same(root, "num_attention_heads", c.numHeads());
        same(root, "num_key_value_heads", c.numKvHeads());
        same(root, "head_dim", c.headDim());
        if (c.numHeads() <= 0 || c.numKvHeads() <= 0 || c.numHeads() % c.numKvHeads() != 0 || c.headDim() <= 0)
            throw new AssertionError("accepted config breaks head invariants: " + c);
    }

    private static void same(JsonNode root, String key, int parsed) {
        JsonNode v = root.get(key);
        if (v == null || v.isNull()) return;
        if (!v.isIntegralNumber() || !v.canConvertToInt() || v.intValue() != parsed)
            throw new AssertionError("config key '" + key + "' is " + v + " in the file but parsed as " + parsed);
    }

    @FuzzTest(maxDuration = "15s")
    void modelConfig(byte[] data) {
        fuzzerTestOneInput(data);
    }
}
