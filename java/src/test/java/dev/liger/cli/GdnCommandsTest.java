package dev.liger.cli;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.liger.kernels.GdnSupport;
import dev.liger.surgery.LigerConfig;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code linearize --variant gdn} writes a Liger-GDN checkpoint that {@code generate} and {@code score} load. */
class GdnCommandsTest {

    @Test
    void linearizeGdnThenGenerate(@TempDir Path tmp) throws Exception {
        GdnSupport.assumeNativeGdn(GdnSupport.Entry.FORWARD, GdnSupport.Entry.DECODE);
        Path out = tmp.resolve("gdn");
        CliTest.Run r = CliTest.run("linearize", "--out", out.toString(), "--variant", "gdn", "--gdn-beta", "0.5",
                "--window", "16");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("gdn beta 0.5"), r.out());
        LigerConfig cfg = LigerConfig.read(out.resolve(LigerConfig.FILE_NAME));
        assertEquals(LigerConfig.Variant.GDN, cfg.variant());
        assertEquals(0.5f, cfg.gdnBeta());
        assertEquals(16, cfg.window());

        // greedy generation is the same through the native kernels and through the reference
        String[] gen = {"generate", "--model", out.toString(), "--json", "-n", "24", "--ignore-eos", "The jury said"};
        CliTest.Run nat = CliTest.run(gen);
        assertEquals(0, nat.code(), nat.err());
        JsonNode ids = new ObjectMapper().readTree(nat.out()).get(0).get("new_ids");
        assertEquals(24, ids.size());
        String[] genRef = java.util.Arrays.copyOf(gen, gen.length + 2);
        genRef[gen.length] = "--liger-backend";
        genRef[gen.length + 1] = "reference";
        CliTest.Run ref = CliTest.run(genRef);
        assertEquals(0, ref.code(), ref.err());
        assertEquals(ids, new ObjectMapper().readTree(ref.out()).get(0).get("new_ids"), "native and reference generate the same tokens");

        CliTest.Run score = CliTest.run("score", "--model", out.toString(), "--ids", "1,341,446,1250,626");
        assertEquals(0, score.code(), score.err());
        double ppl = new ObjectMapper().readTree(score.out()).get("perplexity").asDouble();
        assertTrue(Double.isFinite(ppl) && ppl > 1, "perplexity " + ppl);
    }

    @Test
    void badBetaIsRejectedWithTheFlagName(@TempDir Path tmp) {
        CliTest.Run r = CliTest.run("linearize", "--out", tmp.resolve("x").toString(), "--variant", "gdn", "--gdn-beta", "3");
        assertEquals(2, r.code(), r.out());
        assertTrue(r.err().contains("gdn_beta"), r.err());
    }
}
