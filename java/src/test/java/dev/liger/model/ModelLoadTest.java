package dev.liger.model;

import static org.junit.jupiter.api.Assertions.*;

import dev.liger.io.Checkpoint;
import dev.liger.io.SafetensorsWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ModelLoadTest {
    /** Copies the qwen2 fixture with one tensor changed (null = removed). */
    private static Path variant(Path dir, String name, Tensor replacement) throws Exception {
        Path src = Fixtures.dir("tiny-qwen2");
        Files.copy(src.resolve("config.json"), dir.resolve("config.json"));
        try (Checkpoint ck = Checkpoint.open(src)) {
            Map<String, Tensor> all = new LinkedHashMap<>();
            for (String n : ck.names()) all.put(n, ck.load(n));
            if (replacement == null) all.remove(name);
            else all.put(name, replacement);
            SafetensorsWriter.write(dir.resolve("model.safetensors"), all);
        }
        return dir;
    }

    @Test
    void missingTensorIsNamed(@TempDir Path dir) throws Exception {
        try (PointerScope s = new PointerScope()) {
            variant(dir, "model.layers.1.self_attn.k_proj.bias", null);
            ModelLoadException e = assertThrows(ModelLoadException.class, () -> LlamaModel.load(dir, Tensors.CPU, ScalarType.Float));
            assertTrue(e.getMessage().contains("'model.layers.1.self_attn.k_proj.bias'") && e.getMessage().contains(dir.toString()), e.getMessage());
        }
    }

    @Test
    void wrongShapeIsNamed(@TempDir Path dir) throws Exception {
        try (PointerScope s = new PointerScope()) {
            variant(dir, "model.layers.0.mlp.up_proj.weight", torch.zeros(127, 64));
            ModelLoadException e = assertThrows(ModelLoadException.class, () -> LlamaModel.load(dir, Tensors.CPU, ScalarType.Float));
            assertTrue(e.getMessage().contains("'model.layers.0.mlp.up_proj.weight'") && e.getMessage().contains("[127, 64]")
                    && e.getMessage().contains("[128, 64]"), e.getMessage());
        }
    }

    @Test
    void modelExposesLayersWeightsAndRopeTables() {
        try (LlamaModel m = LlamaModel.load(DefaultModel.path(), Tensors.CPU, ScalarType.BFloat16)) {
            assertEquals(4, m.layers().size());
            assertTrue(m.layers().get(0).mixer() instanceof SoftmaxAttention);
            assertEquals(ScalarType.BFloat16, m.weights().get("model.layers.0.self_attn.q_proj.weight").scalar_type().intern());
            assertEquals(3_950_848L, m.parameterCount());
            assertArrayEquals(new long[] {2048, 32}, Tensors.shape(m.rope().cos()));
            assertEquals(ScalarType.Float, m.rope().cos().scalar_type().intern());
            // Tied head: the LM head is the embedding tensor itself.
            assertEquals(m.embedTokens().data_ptr().address(), m.lmHead().weight().data_ptr().address());
        }
    }

    @Test
    void defaultModelExtractsOnceToAStableDirectory() {
        Path a = DefaultModel.path();
        assertEquals(a, DefaultModel.path());
        for (String f : DefaultModel.FILES) assertTrue(Files.isRegularFile(a.resolve(f)), f);
    }
}
