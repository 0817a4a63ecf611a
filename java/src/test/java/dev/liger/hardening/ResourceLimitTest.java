package dev.liger.hardening;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.liger.config.ModelConfig;
import dev.liger.generate.Generator;
import dev.liger.generate.SamplingParams;
import dev.liger.io.SafetensorsFile;
import dev.liger.io.SafetensorsWriter;
import dev.liger.model.DefaultModel;
import dev.liger.model.LlamaModel;
import dev.liger.model.Tensors;
import dev.liger.report.DecodeProfile;
import dev.liger.resources.InsufficientMemoryException;
import dev.liger.resources.MemoryBudget;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Oversized requests are refused before allocation with the numbers (needed vs available): a model whose
 * config describes 70B parameters, a safetensors tensor of 1 TiB in a sparse file, and a Transformer
 * generation batch whose KV-cache cannot fit. Resident memory does not move while refusing.
 */
class ResourceLimitTest {
    @TempDir Path tmp;

    @Test
    void parameterCountMatchesTheRealModel() {
        try (LlamaModel m = LlamaModel.load(DefaultModel.path(), Tensors.CPU, ScalarType.Float)) {
            assertEquals(m.parameterCount(), MemoryBudget.parameters(m.config()));
        }
    }

    @Test
    void hugeConfigIsRefusedBeforeLoading() throws IOException {
        Path dir = tmp.resolve("fake-70b");
        Files.createDirectories(dir);
        ObjectNode c = new ObjectMapper().createObjectNode();
        c.put("model_type", "llama").put("vocab_size", 128256).put("hidden_size", 8192).put("intermediate_size", 28672)
                .put("num_hidden_layers", 80).put("num_attention_heads", 64).put("num_key_value_heads", 8)
                .put("max_position_embeddings", 8192).put("rope_theta", 500000.0).put("tie_word_embeddings", false);
        Files.writeString(dir.resolve("config.json"), c.toString());
        // A checkpoint that holds one small tensor: the refusal must come before any tensor is read.
        SafetensorsWriter.write(dir.resolve("model.safetensors"),
                Map.of("model.norm.weight", torch.ones(8192)), Map.of("format", "pt"));
        ModelConfig cfg = ModelConfig.load(dir.resolve("config.json"));
        long params = MemoryBudget.parameters(cfg);
        assertTrue(params > 70_000_000_000L && params < 71_000_000_000L, "Llama-3-70B shape has ~70.6B parameters, got " + params);

        long rss0 = DecodeProfile.residentBytes();
        InsufficientMemoryException e = assertThrows(InsufficientMemoryException.class,
                () -> LlamaModel.load(dir, Tensors.CPU, ScalarType.Float));
        long rss1 = DecodeProfile.residentBytes();
        assertEquals(4 * params, e.needed());
        assertTrue(e.available() < e.needed());
        assertTrue(e.getMessage().contains("model.safetensors") || e.getMessage().contains(dir.toString()), e.getMessage());
        assertTrue(e.getMessage().contains("needs 262.8 GiB") && e.getMessage().contains("available"), e.getMessage());
        assertTrue(rss1 - rss0 < 16L << 20, "refusal allocated " + ((rss1 - rss0) >> 20) + " MiB");
        System.out.println("refused: " + e.getMessage());
    }

    @Test
    void hugeTensorInASparseFileIsRefusedBeforeAllocation() throws IOException {
        Path f = tmp.resolve("huge.safetensors");
        long bytes = 1L << 40;
        String header = "{\"w\":{\"dtype\":\"F32\",\"shape\":[262144,1048576],\"data_offsets\":[0," + bytes + "]}}";
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        try (RandomAccessFile raf = new RandomAccessFile(f.toFile(), "rw")) {
            raf.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(h.length).array());
            raf.write(h);
            raf.setLength(8 + h.length + bytes); // sparse: no disk blocks are written
        }
        try (SafetensorsFile st = SafetensorsFile.open(f)) {
            long rss0 = DecodeProfile.residentBytes();
            InsufficientMemoryException e = assertThrows(InsufficientMemoryException.class, () -> st.load("w"));
            assertTrue(DecodeProfile.residentBytes() - rss0 < 16L << 20);
            assertEquals(bytes, e.needed());
            assertTrue(e.getMessage().contains("tensor 'w'") && e.getMessage().contains("1.0 TiB"), e.getMessage());
        }
    }

    @Test
    void transformerGenerationThatCannotFitIsRefused() {
        try (LlamaModel m = LlamaModel.load(DefaultModel.path(), Tensors.CPU, ScalarType.Float)) {
            Generator g = new Generator(m);
            long[] prompt = {1, 42, 43};
            // Fits: a short generation runs.
            assertEquals(4, g.generate(prompt, SamplingParams.greedy(4, Set.of()), null).tokens().length);
            List<long[]> batch = java.util.Collections.nCopies(256, prompt);
            long rss0 = DecodeProfile.residentBytes();
            InsufficientMemoryException e = assertThrows(InsufficientMemoryException.class,
                    () -> g.generate(batch, SamplingParams.greedy(Integer.MAX_VALUE - 8, Set.of()), null));
            assertTrue(DecodeProfile.residentBytes() - rss0 < 16L << 20);
            assertTrue(e.getMessage().contains("256 sequence(s)") && e.getMessage().contains("KV-cache"), e.getMessage());
            assertTrue(e.needed() > e.available());
        }
    }

    @Test
    void requireComparesAndOverflowSaturates() {
        MemoryBudget.require("small", 10, 11);
        InsufficientMemoryException e = assertThrows(InsufficientMemoryException.class, () -> MemoryBudget.require("big", 12, 11));
        assertEquals(12, e.needed());
        assertEquals(11, e.available());
        ModelConfig absurd = new ModelConfig("llama", Integer.MAX_VALUE, Integer.MAX_VALUE, Integer.MAX_VALUE, Integer.MAX_VALUE,
                2, 1, 2, 1e-6, 2048, false, false, false, 0, dev.liger.config.RopeConfig.plain(10000), "float32", List.of(), List.of());
        assertEquals(Long.MAX_VALUE, MemoryBudget.modelBytes(absurd, 4));
        assertTrue(MemoryBudget.available() > 0);
    }
}
