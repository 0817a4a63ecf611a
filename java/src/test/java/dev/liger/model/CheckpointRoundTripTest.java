package dev.liger.model;

import static org.junit.jupiter.api.Assertions.*;

import dev.liger.io.Checkpoint;
import dev.liger.io.SafetensorsWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Load a real checkpoint, save it with our writer, reload: identical bytes, and the model still matches. */
class CheckpointRoundTripTest {
    private static byte[] bytes(Tensor t) {
        Tensor c = t.contiguous();
        byte[] b = new byte[(int) c.nbytes()];
        if (b.length > 0) new BytePointer(c.data_ptr()).get(b);
        return b;
    }

    @Test
    void saveAndReloadIsByteIdentical(@TempDir Path dir) throws Exception {
        Path src = DefaultModel.path();
        try (PointerScope scope = new PointerScope(); Checkpoint ck = Checkpoint.open(src)) {
            Map<String, Tensor> all = new LinkedHashMap<>();
            for (String n : ck.names()) all.put(n, ck.load(n));
            SafetensorsWriter.write(dir.resolve("model.safetensors"), all, Map.of("format", "pt"));
            for (String f : new String[] {"config.json", "tokenizer.json"}) Files.copy(src.resolve(f), dir.resolve(f));
            try (Checkpoint back = Checkpoint.open(dir)) {
                assertEquals(ck.names().stream().sorted().toList(), back.names());
                for (String n : ck.names()) {
                    Tensor t = back.load(n);
                    assertEquals(ScalarType.BFloat16, t.scalar_type().intern(), n);
                    assertArrayEquals(bytes(all.get(n)), bytes(t), n);
                }
            }
            try (LlamaModel a = LlamaModel.load(src, Tensors.CPU, ScalarType.Float);
                 LlamaModel b = LlamaModel.load(dir, Tensors.CPU, ScalarType.Float)) {
                Tensor ids = Tensors.longs(new long[] {1, 341, 446, 1250, 626}, 1, 5);
                Positions p = Positions.contiguous(1, 5, 0, Tensors.CPU);
                assertArrayEquals(Tensors.toFloats(a.forward(ids, p)), Tensors.toFloats(b.forward(ids, p)));
            }
        }
    }
}
