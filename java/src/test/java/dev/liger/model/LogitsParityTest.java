package dev.liger.model;

import static org.junit.jupiter.api.Assertions.*;

import dev.liger.io.SafetensorsFile;
import java.nio.file.Path;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Java logits against Hugging Face transformers' fp32 logits for the same token ids (1e-4 relative). */
class LogitsParityTest {
    @ParameterizedTest
    @ValueSource(strings = {"tiny-llama", "tiny-qwen2", "tiny-mistral", "tiny-llama3-rope"})
    void fp32LogitsMatchTransformers(String name) {
        Path model = name.equals("tiny-llama") ? DefaultModel.path() : Fixtures.dir(name);
        try (SafetensorsFile ref = SafetensorsFile.open(Fixtures.dir(name).resolve("reference.safetensors"));
             LlamaModel m = LlamaModel.load(model, Tensors.CPU, ScalarType.Float);
             PointerScope scope = new PointerScope()) {
            Tensor ids = ref.load("input_ids");
            float[] expected = Tensors.toFloats(ref.load("logits"));
            int b = (int) ids.size(0), t = (int) ids.size(1);
            float[] actual = Tensors.toFloats(m.forward(ids, Positions.contiguous(b, t, 0, Tensors.CPU)));
            double rel = Fixtures.relativeError(actual, expected);
            System.out.printf("%s: fp32 logits [%d, %d, %d] max relative error %.3g%n", name, b, t, m.config().vocabSize(), rel);
            assertTrue(rel <= 1e-4, name + ": relative error " + rel);
        }
    }
}
