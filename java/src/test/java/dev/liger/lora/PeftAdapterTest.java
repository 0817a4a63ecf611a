package dev.liger.lora;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.liger.io.SafetensorsFile;
import dev.liger.model.DefaultModel;
import dev.liger.model.Fixtures;
import dev.liger.model.LlamaModel;
import dev.liger.model.Positions;
import dev.liger.model.Tensors;
import dev.liger.train.TT;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** PEFT layout: our save/load round trip, and parity with an adapter written by PEFT itself. */
class PeftAdapterTest {
  @TempDir Path tmp;

  private static Tensor logits(LlamaModel m, Tensor ids) {
    return m.forward(ids, Positions.contiguous((int) ids.size(0), (int) ids.size(1), 0, Tensors.CPU));
  }

  @Test
  void peftAdapterOnTheFixtureModelMatchesTransformersLogits() throws IOException {
    Path dir = Fixtures.dir("tiny-llama-lora");
    try (SafetensorsFile ref = SafetensorsFile.open(dir.resolve("reference.safetensors"));
         LlamaModel m = LlamaModel.load(DefaultModel.path(), Tensors.CPU, ScalarType.Float);
         PointerScope scope = new PointerScope()) {
      Tensor ids = ref.load("input_ids");
      Tensor base = logits(m, ids).detach().clone();
      LoraAdapters lora = LoraAdapters.load(dir, m, torch.createCPUGenerator(0));
      assertEquals(4, lora.config().rank());
      assertEquals(12, lora.layers().size()); // q, k, v in 4 layers
      lora.train(false);
      float[] adapted = Tensors.toFloats(logits(m, ids));
      double rel = Fixtures.relativeError(adapted, Tensors.toFloats(ref.load("logits")));
      System.out.printf("PEFT adapter: logits relative error %.3g%n", rel);
      assertTrue(rel <= 1e-4, "adapted logits relative error " + rel);
      assertTrue(TT.maxAbsDiff(base, ref.load("logits")) > 0.5, "the adapter must matter for this test to mean anything");

      lora.mergeAndUnload();
      float[] merged = Tensors.toFloats(logits(m, ids));
      double relMerged = Fixtures.relativeError(merged, Tensors.toFloats(ref.load("merged_logits")));
      System.out.printf("PEFT adapter merged: logits relative error %.3g%n", relMerged);
      assertTrue(relMerged <= 1e-4, "merged logits relative error " + relMerged);
      assertTrue(Fixtures.relativeError(merged, adapted) <= 1e-5, "merged == unmerged");
      for (LinearSlot s : ModelLinears.of(m).values()) assertFalse(s.linear() instanceof LoraLinear);
    }
  }

  @Test
  void saveWritesPeftLayoutAndLoadRestoresTheSameModel() throws IOException {
    try (LlamaModel m = LlamaModel.load(DefaultModel.path(), Tensors.CPU, ScalarType.Float);
         LlamaModel m2 = LlamaModel.load(DefaultModel.path(), Tensors.CPU, ScalarType.Float);
         PointerScope scope = new PointerScope()) {
      LoraAdapters lora = LoraAdapters.attach(m, LoraConfig.defaults().withSeed(3), torch.createCPUGenerator(0));
      // Base weights frozen, only A and B trainable; 4 layers x (q 256->256, k 256->128, v 256->128) at r = 8.
      for (Tensor w : m.weights().values()) assertFalse(w.requires_grad());
      assertEquals(4L * 8 * ((256 + 256) + (256 + 128) + (256 + 128)), lora.trainableCount());
      try (var g = new org.bytedeco.pytorch.NoGradGuard()) {
        long i = 0;
        for (LoraLinear l : lora.layers().values()) l.loraB().copy_(TT.randn(100 + i++, l.loraB().size(0), l.loraB().size(1)).mul(new org.bytedeco.pytorch.Scalar(0.05)));
      }
      Tensor ids = Tensors.longs(new long[] {1, 50, 60, 70, 80, 90, 100, 5}, 1, 8);
      Tensor expected = logits(m, ids).detach().clone();

      lora.save(tmp, "tiny-llama");
      JsonNode cfg = new ObjectMapper().readTree(tmp.resolve(LoraAdapters.CONFIG_FILE).toFile());
      assertEquals("LORA", cfg.get("peft_type").asText());
      assertEquals(8, cfg.get("r").asInt());
      assertEquals(8.0, cfg.get("lora_alpha").asDouble());
      assertEquals(0.0, cfg.get("lora_dropout").asDouble());
      assertEquals("none", cfg.get("bias").asText());
      assertEquals("CAUSAL_LM", cfg.get("task_type").asText());
      assertEquals(List.of("q_proj", "k_proj", "v_proj"), List.of(cfg.get("target_modules").get(0).asText(),
          cfg.get("target_modules").get(1).asText(), cfg.get("target_modules").get(2).asText()));
      try (SafetensorsFile f = SafetensorsFile.open(tmp.resolve(LoraAdapters.WEIGHTS_FILE))) {
        Set<String> names = new TreeSet<>(f.names());
        assertEquals(24, names.size());
        assertTrue(names.contains("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"));
        assertTrue(names.contains("base_model.model.model.layers.3.self_attn.v_proj.lora_B.weight"));
        assertArrayEquals(new long[] {8, 256}, f.info("base_model.model.model.layers.0.self_attn.k_proj.lora_A.weight").shape());
        assertArrayEquals(new long[] {128, 8}, f.info("base_model.model.model.layers.0.self_attn.k_proj.lora_B.weight").shape());
      }

      LoraAdapters back = LoraAdapters.load(tmp, m2, torch.createCPUGenerator(0));
      assertTrue(logits(m2, ids).equal(expected));
      for (var e : lora.trainable().entrySet()) assertTrue(e.getValue().equal(back.trainable().get(e.getKey())), e.getKey());
    }
  }

  @Test
  void gradientsReachOnlyTheAdapters() {
    try (LlamaModel m = LlamaModel.load(DefaultModel.path(), Tensors.CPU, ScalarType.Float);
         PointerScope scope = new PointerScope()) {
      LoraAdapters lora = LoraAdapters.attach(m, LoraConfig.defaults(), torch.createCPUGenerator(0));
      Tensor ids = Tensors.longs(new long[] {1, 50, 60, 70, 80, 90}, 1, 6);
      dev.liger.train.NextTokenLoss.sum(logits(m, ids), ids, null).backward();
      for (var e : lora.trainable().entrySet()) {
        // B starts at zero, so only B receives a non-zero gradient at the first step.
        if (e.getKey().endsWith("lora_B.weight")) assertTrue(e.getValue().grad().abs().sum().item_double() > 0, e.getKey());
        else assertTrue(e.getValue().grad().defined(), e.getKey());
      }
      for (var e : m.weights().entrySet()) assertFalse(e.getValue().grad().defined(), e.getKey());
    }
  }

  @Test
  void unsupportedPeftFeaturesAndBrokenFilesAreNamed() throws IOException {
    Path src = Fixtures.dir("tiny-llama-lora");
    ObjectMapper json = new ObjectMapper();
    for (var bad : Map.of("use_dora", "true", "bias", "\"all\"", "peft_type", "\"IA3\"", "rank_pattern", "{\"q_proj\": 2}").entrySet()) {
      Path d = Files.createDirectories(tmp.resolve(bad.getKey()));
      var node = (com.fasterxml.jackson.databind.node.ObjectNode) json.readTree(src.resolve(LoraAdapters.CONFIG_FILE).toFile());
      node.set(bad.getKey(), json.readTree(bad.getValue()));
      json.writeValue(d.resolve(LoraAdapters.CONFIG_FILE).toFile(), node);
      var e = assertThrows(IOException.class, () -> LoraAdapters.readConfig(d));
      assertTrue(e.getMessage().contains(bad.getKey()) || e.getMessage().contains("IA3"), e.getMessage());
    }
    // A weights file lacking one tensor.
    Path d = Files.createDirectories(tmp.resolve("missing"));
    Files.copy(src.resolve(LoraAdapters.CONFIG_FILE), d.resolve(LoraAdapters.CONFIG_FILE));
    try (SafetensorsFile f = SafetensorsFile.open(src.resolve(LoraAdapters.WEIGHTS_FILE));
         LlamaModel m = LlamaModel.load(DefaultModel.path(), Tensors.CPU, ScalarType.Float)) {
      Map<String, Tensor> all = new java.util.LinkedHashMap<>();
      for (String n : f.names()) if (!n.contains("layers.2.self_attn.v_proj.lora_B")) all.put(n, f.load(n));
      dev.liger.io.SafetensorsWriter.write(d.resolve(LoraAdapters.WEIGHTS_FILE), all);
      var e = assertThrows(IOException.class, () -> LoraAdapters.load(d, m, torch.createCPUGenerator(0)));
      assertTrue(e.getMessage().contains("layers.2.self_attn.v_proj.lora_B.weight"), e.getMessage());
    }
  }
}
