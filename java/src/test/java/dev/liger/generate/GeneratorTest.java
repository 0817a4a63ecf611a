package dev.liger.generate;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.liger.model.DefaultModel;
import dev.liger.model.Fixtures;
import dev.liger.model.LlamaModel;
import dev.liger.model.Tensors;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class GeneratorTest {
    static LlamaModel model;
    static JsonNode cases;

    @BeforeAll
    static void load() throws IOException {
        model = LlamaModel.load(DefaultModel.path(), Tensors.CPU, ScalarType.Float);
        cases = new ObjectMapper().readTree(Fixtures.dir("tiny-llama").resolve("generate_cases.json").toFile());
    }

    @AfterAll
    static void close() {
        model.close();
    }

    private static long[] ids(JsonNode a) {
        long[] out = new long[a.size()];
        for (int i = 0; i < out.length; i++) out[i] = a.get(i).asLong();
        return out;
    }

    @Test
    void greedyMatchesTransformersGenerate() {
        Generator g = new Generator(model);
        for (JsonNode c : cases) {
            long[] expected = ids(c.get("new_ids"));
            SamplingParams p = SamplingParams.greedy(expected.length, Set.of(2L));
            List<Long> streamed = new ArrayList<>();
            GenerationResult r = g.generate(ids(c.get("prompt_ids")), p, (seq, tok) -> streamed.add(tok));
            assertArrayEquals(expected, r.tokens(), "continuation of " + c.get("prompt").asText());
            assertArrayEquals(expected, streamed.stream().mapToLong(Long::longValue).toArray());
            boolean endsWithEos = expected[expected.length - 1] == 2;
            assertEquals(endsWithEos ? GenerationResult.StopReason.STOP_TOKEN : GenerationResult.StopReason.MAX_TOKENS, r.reason());
        }
    }

    @Test
    void batchOfPromptsEqualsEachAlone() {
        Generator g = new Generator(model);
        List<long[]> prompts = new ArrayList<>();
        for (JsonNode c : cases) prompts.add(ids(c.get("prompt_ids")));
        prompts.add(new long[] {1}); // lengths differ: rows are left-padded
        SamplingParams p = SamplingParams.greedy(12, Set.of(2L));
        List<GenerationResult> batch = g.generate(prompts, p, null);
        for (int i = 0; i < prompts.size(); i++) {
            assertArrayEquals(g.generate(prompts.get(i), p, null).tokens(), batch.get(i).tokens(), "prompt " + i);
        }
        // Sampling draws row i from a stream seeded by (seed, i): a batch is reproducible, and row 0 equals a lone prompt.
        SamplingParams s = new SamplingParams(0.9, 40, 0.95, 1234, 12, Set.of());
        List<GenerationResult> sb = g.generate(prompts, s, null);
        List<GenerationResult> again = g.generate(prompts, s, null);
        for (int i = 0; i < prompts.size(); i++) assertArrayEquals(sb.get(i).tokens(), again.get(i).tokens(), "sampled row " + i);
        assertArrayEquals(g.generate(prompts.get(0), s, null).tokens(), sb.get(0).tokens());
    }

    @Test
    void samplingIsDeterministicPerSeedAndRespondsToIt() {
        Generator g = new Generator(model);
        long[] prompt = ids(cases.get(0).get("prompt_ids"));
        SamplingParams a = new SamplingParams(1.0, 0, 1.0, 42, 20, Set.of());
        long[] x = g.generate(prompt, a, null).tokens();
        assertArrayEquals(x, g.generate(prompt, a, null).tokens());
        int differing = 0;
        for (long seed = 1; seed <= 5; seed++) {
            long[] y = g.generate(prompt, new SamplingParams(1.0, 0, 1.0, seed, 20, Set.of()), null).tokens();
            if (!Arrays.equals(x, y)) differing++;
        }
        assertTrue(differing >= 4, "different seeds should give different samples, got " + differing + "/5 differing");
        // top-k 1 is greedy whatever the temperature.
        long[] greedy = g.generate(prompt, SamplingParams.greedy(20, Set.of()), null).tokens();
        assertArrayEquals(greedy, g.generate(prompt, new SamplingParams(2.0, 1, 1.0, 9, 20, Set.of()), null).tokens());
    }

    @Test
    void maxTokensAndStopTokensEndGeneration() {
        Generator g = new Generator(model);
        JsonNode c = cases.get(0);
        long[] expected = ids(c.get("new_ids"));
        GenerationResult r = g.generate(ids(c.get("prompt_ids")), SamplingParams.greedy(5, Set.of()), null);
        assertArrayEquals(Arrays.copyOf(expected, 5), r.tokens());
        assertEquals(GenerationResult.StopReason.MAX_TOKENS, r.reason());
        long stop = expected[3];
        r = g.generate(ids(c.get("prompt_ids")), SamplingParams.greedy(50, Set.of(stop)), null);
        int first = 0;
        while (expected[first] != stop) first++;
        assertArrayEquals(Arrays.copyOf(expected, first + 1), r.tokens());
        assertEquals(GenerationResult.StopReason.STOP_TOKEN, r.reason());
        assertEquals(0, g.generate(ids(c.get("prompt_ids")), SamplingParams.greedy(0, Set.of()), null).tokens().length);
        assertThrows(IllegalArgumentException.class, () -> g.generate(new long[0], SamplingParams.greedy(3, Set.of()), null));
        assertThrows(IllegalArgumentException.class, () -> g.generate(new long[] {1, 99999}, SamplingParams.greedy(3, Set.of()), null));
    }
}
