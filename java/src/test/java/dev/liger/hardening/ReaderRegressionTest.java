package dev.liger.hardening;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.liger.config.ConfigException;
import dev.liger.config.ModelConfig;
import dev.liger.model.DefaultModel;
import dev.liger.tokenizer.Tokenizer;
import java.io.IOException;
import org.junit.jupiter.api.Test;

/** Findings of the fuzz targets, kept as plain regression tests (their inputs are also in the seed corpora). */
class ReaderRegressionTest {
    private static ObjectNode tinyConfig() throws IOException {
        return (ObjectNode) new ObjectMapper().readTree(DefaultModel.path().resolve("config.json").toFile());
    }

    /** num_attention_heads = 0 without head_dim divided hidden_size by zero (ArithmeticException). */
    @Test
    void zeroHeadsIsAConfigError() throws IOException {
        ObjectNode c = tinyConfig();
        c.put("num_attention_heads", 0);
        c.remove("head_dim");
        ConfigException e = assertThrows(ConfigException.class, () -> ModelConfig.parse(c));
        assertTrue(e.getMessage().contains("num_attention_heads"), e.getMessage());
    }

    /** An integer beyond 32 bits was silently truncated (4294967297 read as 1). */
    @Test
    void integersBeyond32BitsAreRefused() throws IOException {
        ObjectNode c = tinyConfig();
        c.put("hidden_size", 4294967297L);
        ConfigException e = assertThrows(ConfigException.class, () -> ModelConfig.parse(c));
        assertTrue(e.getMessage().contains("hidden_size") && e.getMessage().contains("4294967297"), e.getMessage());
        c.put("hidden_size", 256);
        assertEquals(256, ModelConfig.parse(c).hiddenSize());
    }

    /** Ids beyond u32 wrapped onto other tokens in the native tokenizer (2^32 + 5 decoded as id 5). */
    @Test
    void tokenIdsThatWouldWrapAreRefused() {
        try (Tokenizer t = Tokenizer.load(DefaultModel.path())) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> t.decode(new long[] {7, (1L << 32) + 5}, false));
            assertTrue(e.getMessage().contains("token id 4294967301 at index 1"), e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> t.decode(new long[] {-1}, false));
            assertEquals(t.decode(new long[] {5}, false), t.decode(new long[] {5}, false));
            assertEquals("", t.decode(new long[] {100_000}, false)); // in u32 but not in the vocabulary: nothing
        }
    }
}
