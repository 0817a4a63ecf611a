package dev.liger.cli;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.liger.model.LlamaModel;
import dev.liger.model.Positions;
import dev.liger.model.Tensors;
import dev.liger.surgery.LigerAttention;
import dev.liger.surgery.LigerConfig;
import dev.liger.surgery.LigerModels;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The Liger commands end to end on the embedded model: linearize, finetune (with resume), eval, export. */
class LigerCommandsTest {
    static CliTest.Run run(String... args) {
        return CliTest.run(args);
    }

    static Path textFile(Path dir) throws Exception {
        List<String> lines = new ArrayList<>();
        try (var in = LigerCommandsTest.class.getResourceAsStream("/dev/liger/data/demo-train.txt")) {
            lines.addAll(new String(in.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8).lines().limit(200).toList());
        }
        Path f = dir.resolve("train.txt");
        Files.write(f, lines);
        return f;
    }

    @Test
    void linearizeWritesAConvertedCheckpointThatEveryCommandLoads(@TempDir Path tmp) throws Exception {
        Path out = tmp.resolve("liger");
        CliTest.Run r = run("linearize", "--out", out.toString(), "--window", "16", "--hybrid-every", "2");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("linearized 2 of 4 layers"), r.out());
        LigerConfig cfg = LigerConfig.read(out.resolve(LigerConfig.FILE_NAME));
        assertEquals(16, cfg.window());
        assertEquals(List.of(1, 3), cfg.fullAttentionLayers());

        CliTest.Run again = run("linearize", "--model", out.toString(), "--out", tmp.resolve("x").toString());
        assertEquals(2, again.code());
        assertTrue(again.err().contains("already a Liger checkpoint"), again.err());

        CliTest.Run gen = run("generate", "--model", out.toString(), "--json", "-n", "8", "The jury said");
        assertEquals(0, gen.code(), gen.err());
        JsonNode ids = new ObjectMapper().readTree(gen.out()).get(0).get("new_ids");
        assertEquals(8, ids.size());
        // the fp16 kernel choice is for CUDA; on the CPU (float32 here) the tokens are the same
        CliTest.Run fast = run("generate", "--model", out.toString(), "--cuda-f16", "fast", "--json", "-n", "8", "The jury said");
        assertEquals(0, fast.code(), fast.err());
        assertEquals(ids, new ObjectMapper().readTree(fast.out()).get(0).get("new_ids"));

        // score on the converted model equals the logits of the in-memory conversion (logits parity for others)
        CliTest.Run score = run("score", "--model", out.toString(), "--ids", "1,341,446,1250,626", "--logits-at", "-1");
        assertEquals(0, score.code(), score.err());
        JsonNode logits = new ObjectMapper().readTree(score.out()).get("logits").get(0).get("logits");
        try (PointerScope s = new PointerScope();
             LlamaModel m = LigerModels.load(out, Tensors.CPU, ScalarType.Float, LigerAttention.Backend.REFERENCE)) {
            Tensor l = m.forward(Tensors.longs(new long[] {1, 341, 446, 1250, 626}, 1, 5), Positions.contiguous(1, 5, 0, Tensors.CPU));
            float[] want = Tensors.toFloats(l.select(1, 4));
            for (int i = 0; i < want.length; i += 97) assertEquals(want[i], logits.get(i).floatValue(), 1e-3 * Math.max(1, Math.abs(want[i])));
        }
    }

    @Test
    void finetuneResumeEvalAndExport(@TempDir Path tmp) throws Exception {
        Path data = textFile(tmp);
        Path run = tmp.resolve("run");
        String[] common = {"finetune", "--data", data.toString(), "--out", run.toString(), "--seq-len", "64",
                "--batch", "2", "--window", "8", "--checkpoint-every", "2", "--seed", "3"};
        List<String> first = new ArrayList<>(List.of(common));
        first.addAll(List.of("--steps", "2"));
        CliTest.Run r1 = run(first.toArray(String[]::new));
        assertEquals(0, r1.code(), r1.err());
        assertTrue(Files.isRegularFile(run.resolve("adapter").resolve("adapter_model.safetensors")));
        assertTrue(Files.isRegularFile(run.resolve("adapter").resolve("adapter_config.json")));
        assertTrue(Files.size(run.resolve("train.jsonl")) > 0);

        List<String> second = new ArrayList<>(List.of(common));
        second.addAll(List.of("--steps", "4", "--resume", "--export", tmp.resolve("merged").toString()));
        CliTest.Run r2 = run(second.toArray(String[]::new));
        assertEquals(0, r2.code(), r2.err());
        assertTrue(r2.out().contains("resumed from step 2"), r2.out());
        assertTrue(Files.isRegularFile(tmp.resolve("merged").resolve(LigerConfig.FILE_NAME)));

        // the merged export and base + adapter score the same text identically
        Path held = tmp.resolve("held.txt");
        Files.write(held, List.of("The committee met on Tuesday to discuss the budget.", "It was a long day."));
        CliTest.Run merged = run("eval", "--model", tmp.resolve("merged").toString(), "--text", held.toString(), "--window", "32", "--json");
        assertEquals(0, merged.code(), merged.err());
        double pm = new ObjectMapper().readTree(merged.out()).get("perplexity").get("perplexity").asDouble();
        Path base = tmp.resolve("liger");
        assertEquals(0, run("linearize", "--out", base.toString(), "--window", "8").code());
        CliTest.Run adapted = run("eval", "--model", base.toString(), "--adapter", run.resolve("adapter").toString(),
                "--text", held.toString(), "--window", "32", "--json");
        assertEquals(0, adapted.code(), adapted.err());
        double pa = new ObjectMapper().readTree(adapted.out()).get("perplexity").get("perplexity").asDouble();
        assertEquals(pa, pm, 1e-3 * pa);
        CliTest.Run plain = run("eval", "--model", base.toString(), "--text", held.toString(), "--window", "32", "--json");
        double p0 = new ObjectMapper().readTree(plain.out()).get("perplexity").get("perplexity").asDouble();
        assertNotEquals(p0, pa, "the adapter must change the model");

        Path exported = tmp.resolve("exported");
        CliTest.Run ex = run("export", "--model", base.toString(), "--adapter", run.resolve("adapter").toString(), "--out", exported.toString());
        assertEquals(0, ex.code(), ex.err());
        CliTest.Run pe = run("eval", "--model", exported.toString(), "--text", held.toString(), "--window", "32", "--json");
        assertEquals(pa, new ObjectMapper().readTree(pe.out()).get("perplexity").get("perplexity").asDouble(), 1e-3 * pa);
    }

    @Test
    void badDataIsReportedWithFileAndLine(@TempDir Path tmp) throws Exception {
        Path bad = tmp.resolve("bad.jsonl");
        Files.writeString(bad, "{\"text\": \"fine\"}\n{not json\n");
        CliTest.Run r = run("finetune", "--data", bad.toString(), "--out", tmp.resolve("r").toString(), "--on-malformed", "reject", "--steps", "1");
        assertNotEquals(0, r.code());
        assertTrue(r.err().contains("bad.jsonl") && r.err().contains("2"), r.err());
    }
}
