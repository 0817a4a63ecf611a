package dev.liger.lora;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.liger.io.SafetensorsException;
import dev.liger.io.SafetensorsFile;
import dev.liger.io.SafetensorsWriter;
import dev.liger.model.Linear;
import dev.liger.model.LlamaModel;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Generator;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * The LoRA adapters of one model, keyed by HF module path (model.layers.0.self_attn.q_proj), with
 * PEFT's on-disk layout: adapter_model.safetensors holding
 * {@code base_model.model.<path>.lora_A.weight} / {@code .lora_B.weight}, and adapter_config.json.
 */
public final class LoraAdapters {
  public static final String WEIGHTS_FILE = "adapter_model.safetensors";
  public static final String CONFIG_FILE = "adapter_config.json";
  private static final String PREFIX = "base_model.model.";
  private static final ObjectMapper JSON = new ObjectMapper();

  private final LoraConfig config;
  private final Map<String, LoraLinear> layers;
  private final Map<String, LinearSlot> slots;

  private LoraAdapters(LoraConfig config, Map<String, LoraLinear> layers, Map<String, LinearSlot> slots) {
    this.config = config;
    this.layers = Collections.unmodifiableMap(layers);
    this.slots = slots;
    for (var e : layers.entrySet()) slots.get(e.getKey()).install().accept(e.getValue());
  }

  /** Fresh adapters installed into a Llama-family model; every model weight is frozen first. */
  public static LoraAdapters attach(LlamaModel model, LoraConfig config, Generator rng) {
    freeze(model);
    return create(ModelLinears.of(model), config, rng);
  }

  /** Adapters saved by {@link #save} or by PEFT, installed into a Llama-family model (weights frozen). */
  public static LoraAdapters load(Path dir, LlamaModel model, Generator rng) throws IOException {
    freeze(model);
    return load(dir, ModelLinears.of(model), rng);
  }

  private static void freeze(LlamaModel model) {
    for (Tensor t : model.weights().values()) t.set_requires_grad(false);
  }

  /**
   * Fresh adapters on every slot whose path the config targets, installed through the slots' setters;
   * the base weights of all slots are frozen. The generator is seeded with config.seed() (A's init)
   * and then drives dropout.
   */
  public static LoraAdapters create(Map<String, LinearSlot> slots, LoraConfig config, Generator rng) {
    rng.set_current_seed(config.seed());
    Map<String, LoraLinear> out = new LinkedHashMap<>();
    for (var e : slots.entrySet()) {
      Linear base = base(e.getKey(), e.getValue());
      if (!config.targets(e.getKey())) continue;
      out.put(e.getKey(), LoraLinear.init(e.getKey(), base, config, rng));
    }
    requireMatches(out, slots, config);
    return new LoraAdapters(config, out, new LinkedHashMap<>(slots));
  }

  private static Linear base(String name, LinearSlot slot) {
    if (slot.linear() instanceof LoraLinear) throw new IllegalStateException(name + " already has a LoRA adapter");
    slot.linear().weight().set_requires_grad(false);
    if (slot.linear().bias() != null) slot.linear().bias().set_requires_grad(false);
    return slot.linear();
  }

  public LoraConfig config() { return config; }

  /** Adapted layers by module path, in model order. */
  public Map<String, LoraLinear> layers() { return layers; }

  public LoraLinear get(String modulePath) { return layers.get(modulePath); }

  /** Trainable tensors by their PEFT key, in model order (A then B per layer). */
  public Map<String, Tensor> trainable() {
    Map<String, Tensor> out = new LinkedHashMap<>();
    for (var e : layers.entrySet()) {
      out.put(PREFIX + e.getKey() + ".lora_A.weight", e.getValue().loraA());
      out.put(PREFIX + e.getKey() + ".lora_B.weight", e.getValue().loraB());
    }
    return out;
  }

  public long trainableCount() {
    long n = 0;
    for (Tensor t : trainable().values()) n += t.numel();
    return n;
  }

  public void train(boolean on) { layers.values().forEach(l -> l.train(on)); }

  /** Folds every adapter into its base weight (W += scaling B A); the wrappers stay installed, now plain. */
  public void merge() { layers.values().forEach(LoraLinear::merge); }

  /** Merges, then puts plain linear layers (holding the merged weights) back into the model. */
  public void mergeAndUnload() {
    for (var e : layers.entrySet()) {
      if (!e.getValue().merged()) e.getValue().merge();
      slots.get(e.getKey()).install().accept(new Linear(e.getValue().weight(), e.getValue().bias()));
    }
  }

  /** Writes adapter_model.safetensors and adapter_config.json (PEFT layout) into dir. */
  public void save(Path dir, String baseModelNameOrPath) throws IOException {
    Files.createDirectories(dir);
    try {
      SafetensorsWriter.write(dir.resolve(WEIGHTS_FILE), trainable(), Map.of("format", "pt"));
    } catch (SafetensorsException e) {
      throw new IOException(e.getMessage(), e);
    }
    ObjectNode c = JSON.createObjectNode();
    c.putObject("alpha_pattern");
    c.putNull("auto_mapping");
    if (baseModelNameOrPath == null) c.putNull("base_model_name_or_path");
    else c.put("base_model_name_or_path", baseModelNameOrPath);
    c.put("bias", "none");
    c.put("fan_in_fan_out", false);
    c.put("inference_mode", true);
    c.put("init_lora_weights", true);
    c.putNull("layers_pattern");
    c.putNull("layers_to_transform");
    c.put("lora_alpha", config.alpha());
    c.put("lora_dropout", config.dropout());
    c.putNull("modules_to_save");
    c.put("peft_type", "LORA");
    c.put("r", config.rank());
    c.putObject("rank_pattern");
    c.putNull("revision");
    ArrayNode targets = c.putArray("target_modules");
    config.targetModules().forEach(targets::add);
    c.put("task_type", "CAUSAL_LM");
    c.put("use_dora", false);
    c.put("use_rslora", config.rsLora());
    Files.write(dir.resolve(CONFIG_FILE), JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(c));
  }

  /** Reads adapter_config.json; PEFT features this project does not implement are rejected by name. */
  public static LoraConfig readConfig(Path dir) throws IOException {
    Path f = dir.resolve(CONFIG_FILE);
    if (!Files.isRegularFile(f)) throw new IOException("no " + CONFIG_FILE + " in " + dir);
    JsonNode c;
    try {
      c = JSON.readTree(f.toFile());
    } catch (IOException e) {
      throw new IOException(f + ": not valid JSON: " + e.getMessage(), e);
    }
    String type = c.path("peft_type").asText("");
    if (!type.equals("LORA")) throw new IOException(f + ": peft_type is '" + type + "', only LORA is supported");
    if (!c.path("bias").asText("none").equals("none")) throw new IOException(f + ": bias '" + c.path("bias").asText() + "' is unsupported (only none)");
    unsupportedIfTrue(c, f, "use_dora");
    unsupportedIfTrue(c, f, "fan_in_fan_out");
    unsupportedIfSet(c, f, "modules_to_save");
    unsupportedIfSet(c, f, "layers_to_transform");
    unsupportedIfSet(c, f, "rank_pattern");
    unsupportedIfSet(c, f, "alpha_pattern");
    if (!c.path("r").canConvertToInt() || !c.path("lora_alpha").isNumber()) throw new IOException(f + ": r and lora_alpha must be numbers");
    List<String> targets = new ArrayList<>();
    JsonNode t = c.path("target_modules");
    if (t.isTextual()) throw new IOException(f + ": target_modules as a regular expression is unsupported; give a list");
    if (!t.isArray()) throw new IOException(f + ": target_modules must be a list");
    t.forEach(n -> targets.add(n.asText()));
    try {
      return new LoraConfig(c.path("r").asInt(), c.path("lora_alpha").asDouble(), c.path("lora_dropout").asDouble(0),
          targets, c.path("use_rslora").asBoolean(false), 0);
    } catch (IllegalArgumentException e) {
      throw new IOException(f + ": " + e.getMessage(), e);
    }
  }

  /**
   * Loads adapters saved by {@link #save} or by PEFT onto the given slots and installs them. Every
   * tensor in the file must belong to a targeted layer and every targeted layer must have both tensors.
   */
  public static LoraAdapters load(Path dir, Map<String, LinearSlot> slots, Generator rng) throws IOException {
    LoraConfig config = readConfig(dir);
    Path wf = dir.resolve(WEIGHTS_FILE);
    if (!Files.isRegularFile(wf)) throw new IOException("no " + WEIGHTS_FILE + " in " + dir);
    Set<String> used = new TreeSet<>();
    Map<String, LoraLinear> out = new LinkedHashMap<>();
    try (SafetensorsFile file = SafetensorsFile.open(wf); PointerScope scope = new PointerScope()) {
      for (var e : slots.entrySet()) {
        Linear base = base(e.getKey(), e.getValue());
        if (!config.targets(e.getKey())) continue;
        String ka = PREFIX + e.getKey() + ".lora_A.weight", kb = PREFIX + e.getKey() + ".lora_B.weight";
        if (!file.contains(ka) || !file.contains(kb)) throw new IOException(wf + ": missing " + (file.contains(ka) ? kb : ka));
        used.add(ka);
        used.add(kb);
        var device = base.weight().device();
        Tensor a = file.load(ka).to(device, torch.ScalarType.Float);
        Tensor b = file.load(kb).to(device, torch.ScalarType.Float);
        if (a.dim() != 2 || a.size(0) != config.rank()) {
          throw new IOException(wf + ": " + ka + " has rank " + (a.dim() == 2 ? a.size(0) : -1)
              + " but adapter_config.json says r=" + config.rank());
        }
        try {
          out.put(e.getKey(), new LoraLinear(e.getKey(), base, a, b, config.scaling(), config.dropout(), rng));
        } catch (IllegalArgumentException ex) {
          throw new IOException(wf + ": " + ex.getMessage(), ex);
        }
      }
      Set<String> extra = new TreeSet<>(file.names());
      extra.removeAll(used);
      if (!extra.isEmpty()) throw new IOException(wf + ": tensors that match no targeted layer of the model: " + extra);
    } catch (SafetensorsException e) {
      throw new IOException(e.getMessage(), e);
    }
    requireMatches(out, slots, config);
    return new LoraAdapters(config, out, new LinkedHashMap<>(slots));
  }

  private static void requireMatches(Map<String, LoraLinear> out, Map<String, LinearSlot> linears, LoraConfig config) {
    if (out.isEmpty()) {
      throw new IllegalArgumentException("LoRA targets " + config.targetModules() + " match none of the model's "
          + linears.size() + " linear layers");
    }
  }

  private static void unsupportedIfTrue(JsonNode c, Path f, String key) throws IOException {
    if (c.path(key).asBoolean(false)) throw new IOException(f + ": " + key + "=true is unsupported");
  }

  private static void unsupportedIfSet(JsonNode c, Path f, String key) throws IOException {
    JsonNode n = c.path(key);
    if (n.isMissingNode() || n.isNull() || (n.isContainerNode() && n.isEmpty())) return;
    throw new IOException(f + ": " + key + " is unsupported (got " + n + ")");
  }
}
