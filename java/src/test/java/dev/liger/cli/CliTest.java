package dev.liger.cli;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.liger.io.SafetensorsFile;
import dev.liger.model.Fixtures;
import dev.liger.model.Tensors;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** Runs the CLI in-process on the embedded model and the fixtures, checking output and exit codes. */
class CliTest {
    record Run(int code, String out, String err) {}

    static Run run(String... args) {
        CommandLine cl = LigerCli.commandLine();
        StringWriter out = new StringWriter(), err = new StringWriter();
        cl.setOut(new PrintWriter(out));
        cl.setErr(new PrintWriter(err));
        int code = cl.execute(args);
        return new Run(code, out.toString(), err.toString());
    }

    @Test
    void infoSummarizesTheEmbeddedModel() throws Exception {
        Run r = run("info", "--json");
        assertEquals(0, r.code(), r.err());
        JsonNode j = new ObjectMapper().readTree(r.out());
        assertEquals("llama", j.get("family").asText());
        assertEquals(4, j.get("layers").asInt());
        assertEquals(4, j.get("attention_heads").asInt());
        assertEquals(2, j.get("kv_heads").asInt());
        assertEquals(4096L * 256 + 4 * (256L * 256 * 2 + 256L * 128 * 2 + 3L * 256 * 688 + 2 * 256) + 256, j.get("parameters").asLong());
        Run text = run("info", "--model", Fixtures.dir("tiny-mistral").toString());
        assertEquals(0, text.code(), text.err());
        assertTrue(text.out().contains("mistral") && text.out().contains("sliding window 16"), text.out());
    }

    @Test
    void generateMatchesTransformersGreedyContinuation() throws Exception {
        JsonNode c = new ObjectMapper().readTree(Fixtures.dir("tiny-llama").resolve("generate_cases.json").toFile()).get(0);
        Run r = run("generate", "--json", "-n", String.valueOf(c.get("new_ids").size()), c.get("prompt").asText());
        assertEquals(0, r.code(), r.err());
        JsonNode j = new ObjectMapper().readTree(r.out()).get(0);
        assertEquals(c.get("new_ids"), j.get("new_ids"));
        assertEquals(c.get("prompt_ids"), j.get("prompt_ids"));
        Run streamed = run("generate", "-n", String.valueOf(c.get("new_ids").size()), c.get("prompt").asText());
        assertEquals(0, streamed.code(), streamed.err());
        assertEquals(c.get("prompt").asText() + c.get("new_text").asText(), streamed.out().strip());
    }

    @Test
    void scoreReportsLogLikelihoodsAndLogitsMatchingTransformers() throws Exception {
        Path ref = Fixtures.dir("tiny-llama").resolve("reference.safetensors");
        long[] ids;
        float[] logits;
        try (SafetensorsFile f = SafetensorsFile.open(ref)) {
            ids = java.util.Arrays.copyOf(Tensors.toLongs(f.load("input_ids")), 20);
            logits = Tensors.toFloats(f.load("logits"));
        }
        StringBuilder list = new StringBuilder();
        for (long id : ids) list.append(list.length() == 0 ? "" : ",").append(id);
        Run r = run("score", "--ids", list.toString(), "--logits-at", "3,-1");
        assertEquals(0, r.code(), r.err());
        JsonNode j = new ObjectMapper().readTree(r.out());
        assertEquals(20, j.get("num_tokens").asInt());
        int v = 4096;
        // logprob of token t is the log-softmax of HF's logits at t-1.
        double total = 0;
        for (int t = 1; t < 20; t++) {
            double max = Double.NEGATIVE_INFINITY, sum = 0;
            for (int k = 0; k < v; k++) max = Math.max(max, logits[(t - 1) * v + k]);
            for (int k = 0; k < v; k++) sum += Math.exp(logits[(t - 1) * v + k] - max);
            double expected = logits[(t - 1) * v + (int) ids[t]] - max - Math.log(sum);
            assertEquals(expected, j.get("tokens").get(t).get("logprob").asDouble(), 1e-3, "token " + t);
            total += expected;
        }
        assertTrue(j.get("tokens").get(0).get("logprob").isNull());
        assertEquals(Math.exp(-total / 19), j.get("perplexity").asDouble(), 1e-3 * Math.exp(-total / 19));
        JsonNode rows = j.get("logits");
        assertEquals(3, rows.get(0).get("position").asInt());
        assertEquals(19, rows.get(1).get("position").asInt());
        for (int k = 0; k < v; k += 97) assertEquals(logits[19 * v + k], rows.get(1).get("logits").get(k).floatValue(), 1e-3);
    }

    @Test
    void errorsAreOneLineWithNonZeroExit(@TempDir Path dir) throws Exception {
        Run r = run("generate", "--model", dir.resolve("absent").toString(), "hi");
        assertNotEquals(0, r.code());
        assertEquals(1, r.err().strip().lines().count(), r.err());
        assertTrue(r.err().contains("absent"), r.err());

        Files.writeString(dir.resolve("config.json"), "{\"model_type\": \"gpt2\"}");
        r = run("info", "--model", dir.toString());
        assertNotEquals(0, r.code());
        assertTrue(r.err().contains("unsupported model_type 'gpt2'") && r.err().strip().lines().count() == 1, r.err());

        r = run("score", "--ids", "1,5000");
        assertNotEquals(0, r.code());
        assertTrue(r.err().contains("5000"), r.err());

        r = run("generate", "--top-p", "0", "hi");
        assertNotEquals(0, r.code());
        assertTrue(r.err().contains("top-p"), r.err());

        r = run("generate", "--cuda-f16", "turbo", "hi");
        assertNotEquals(0, r.code());
        assertTrue(r.err().contains("--cuda-f16 turbo") && r.err().strip().lines().count() == 1, r.err());

        r = run("score");
        assertEquals(2, r.code());
        assertTrue(r.err().startsWith("liger: "), r.err());

        r = run("nonsense");
        assertEquals(2, r.code());
    }
}
