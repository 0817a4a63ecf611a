package dev.liger.config;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.liger.model.Fixtures;
import java.util.List;
import org.junit.jupiter.api.Test;

class ModelConfigTest {
    private static ModelConfig parse(String json) throws Exception {
        return ModelConfig.parse(new ObjectMapper().readTree(json));
    }

    private static final String BASE = "\"vocab_size\": 100, \"hidden_size\": 64, \"intermediate_size\": 128, \"num_hidden_layers\": 2, \"num_attention_heads\": 4";

    @Test
    void fixturesParse() {
        ModelConfig q = ModelConfig.load(Fixtures.dir("tiny-qwen2").resolve("config.json"));
        assertEquals("qwen2", q.modelType());
        assertTrue(q.attentionBias());
        ModelConfig m = ModelConfig.load(Fixtures.dir("tiny-mistral").resolve("config.json"));
        assertEquals(16, m.slidingWindow());
        ModelConfig l3 = ModelConfig.load(Fixtures.dir("tiny-llama3-rope").resolve("config.json"));
        assertEquals("llama3", l3.rope().type());
        assertEquals(500000.0, l3.rope().theta());
        assertEquals(8.0, l3.rope().factor());
        assertEquals(32, l3.rope().originalMaxPositionEmbeddings());
        assertFalse(l3.tieWordEmbeddings());
    }

    @Test
    void transformers4And5RopeStylesAgree() throws Exception {
        ModelConfig v4 = parse("{\"model_type\": \"llama\", " + BASE + ", \"rope_theta\": 5000.0, \"rope_scaling\": {\"type\": \"linear\", \"factor\": 2.0}}");
        ModelConfig v5 = parse("{\"model_type\": \"llama\", " + BASE + ", \"rope_parameters\": {\"rope_type\": \"linear\", \"rope_theta\": 5000.0, \"factor\": 2.0}}");
        assertEquals(v4.rope(), v5.rope());
        assertEquals("linear", v5.rope().type());
        ModelConfig plain = parse("{\"model_type\": \"llama\", " + BASE + "}");
        assertEquals(RopeConfig.plain(10000.0), plain.rope());
        ModelConfig dyn = parse("{\"model_type\": \"llama\", " + BASE + ", \"max_position_embeddings\": 512, \"rope_scaling\": {\"rope_type\": \"dynamic\", \"factor\": 4.0}}");
        assertEquals("dynamic", dyn.rope().type());
        assertEquals(512, dyn.rope().originalMaxPositionEmbeddings());
    }

    @Test
    void headDimIsExplicitOrDerived() throws Exception {
        assertEquals(16, parse("{\"model_type\": \"llama\", " + BASE + "}").headDim());
        assertEquals(32, parse("{\"model_type\": \"llama\", " + BASE + ", \"head_dim\": 32}").headDim());
        assertEquals(4, parse("{\"model_type\": \"llama\", " + BASE + "}").numKvHeads());
    }

    @Test
    void eosListsAndSingleIdsAreAccepted() throws Exception {
        assertEquals(List.of(2, 7), parse("{\"model_type\": \"llama\", " + BASE + ", \"eos_token_id\": [2, 7]}").eosTokenIds());
        assertEquals(List.of(2), parse("{\"model_type\": \"mistral\", " + BASE + ", \"eos_token_id\": 2}").eosTokenIds());
    }

    @Test
    void unsupportedThingsNameTheirKey() {
        ConfigException e = assertThrows(ConfigException.class, () -> parse("{\"model_type\": \"gpt2\", " + BASE + "}"));
        assertTrue(e.getMessage().contains("model_type") && e.getMessage().contains("gpt2"), e.getMessage());
        e = assertThrows(ConfigException.class, () -> parse("{\"model_type\": \"llama\", " + BASE + ", \"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4.0}}"));
        assertTrue(e.getMessage().contains("rope_scaling.rope_type") && e.getMessage().contains("yarn"), e.getMessage());
        e = assertThrows(ConfigException.class, () -> parse("{\"model_type\": \"llama\", " + BASE + ", \"rope_parameters\": {\"rope_type\": \"longrope\"}}"));
        assertTrue(e.getMessage().contains("rope_parameters.rope_type"), e.getMessage());
        e = assertThrows(ConfigException.class, () -> parse("{\"model_type\": \"llama\", \"vocab_size\": 100}"));
        assertTrue(e.getMessage().contains("hidden_size"), e.getMessage());
        e = assertThrows(ConfigException.class, () -> parse("{\"model_type\": \"llama\", " + BASE + ", \"num_key_value_heads\": 3}"));
        assertTrue(e.getMessage().contains("num_key_value_heads"), e.getMessage());
        e = assertThrows(ConfigException.class, () -> parse("{\"model_type\": \"llama\", " + BASE + ", \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8.0}}"));
        assertTrue(e.getMessage().contains("low_freq_factor"), e.getMessage());
    }
}
