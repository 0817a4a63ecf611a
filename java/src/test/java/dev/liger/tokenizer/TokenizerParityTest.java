package dev.liger.tokenizer;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.liger.model.DefaultModel;
import dev.liger.model.Fixtures;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The Java tokenizer against Hugging Face tokenizers on ASCII, Unicode, whitespace runs and the empty string. */
class TokenizerParityTest {
    private static long[] ids(JsonNode a) {
        long[] out = new long[a.size()];
        for (int i = 0; i < out.length; i++) out[i] = a.get(i).asLong();
        return out;
    }

    @Test
    void idsMatchTransformers() throws IOException {
        JsonNode cases = new ObjectMapper().readTree(Fixtures.dir("tiny-llama").resolve("tokenizer_cases.json").toFile());
        assertTrue(cases.size() >= 10);
        try (Tokenizer tok = Tokenizer.load(DefaultModel.path())) {
            for (JsonNode c : cases) {
                String text = c.get("text").asText();
                assertArrayEquals(ids(c.get("ids")), tok.encode(text, false), "ids of " + text);
                assertArrayEquals(ids(c.get("ids_with_special")), tok.encode(text, true), "ids with specials of " + text);
                if (c.has("decoded")) assertEquals(c.get("decoded").asText(), tok.decode(ids(c.get("ids")), false), "decode of " + text);
            }
        }
    }

    @Test
    void specialTokensComeFromConfigFiles() {
        try (Tokenizer tok = Tokenizer.load(DefaultModel.path())) {
            assertEquals(1, tok.bosId());
            assertEquals(List.of(2), tok.eosIds());
            assertEquals(3, tok.specialTokens().get("<pad>"));
        }
    }

    @Test
    void missingTokenizerIsAClearError(@TempDir Path dir) throws IOException {
        TokenizerException e = assertThrows(TokenizerException.class, () -> Tokenizer.load(dir));
        assertTrue(e.getMessage().contains("tokenizer.json"), e.getMessage());
        Files.writeString(dir.resolve("tokenizer.json"), "{not json");
        e = assertThrows(TokenizerException.class, () -> Tokenizer.load(dir));
        assertTrue(e.getMessage().contains(dir.resolve("tokenizer.json").toString()), e.getMessage());
    }
}
