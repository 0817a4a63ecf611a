package dev.liger.surgery;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * How a Transformer is linearized (DESIGN.md 1.1). Stored as {@code liger_config.json} beside an exported
 * checkpoint's {@code config.json}.
 *
 * @param variant            recurrence flavour
 * @param gateNormalizer     N in g = logsigmoid(k) / N (GLA) or logsigmoid(mean_D k) / N (GDN)
 * @param window             sliding-window size W of the softmax branch
 * @param mix                a in o = a * o_grm + (1 - a) * o_swa (1 = GRM only, 0 = SWA only)
 * @param useGate            false gives the no-gate ablation (g = 0)
 * @param gdnBeta            write strength beta of the gated delta rule, in (0, 2] (GDN only)
 * @param featureMap         feature map on q and k; "softmax" is the Liger map
 * @param fullAttentionLayers layers that keep ordinary softmax attention (inter-layer hybrid)
 */
public record LigerConfig(Variant variant, float gateNormalizer, int window, float mix, boolean useGate,
                          float gdnBeta, String featureMap, List<Integer> fullAttentionLayers) {

    public enum Variant {
        GLA, HGRN2, GDN;

        static Variant parse(String s) {
            return switch (s.toLowerCase(Locale.ROOT)) {
                case "gla" -> GLA;
                case "hgrn2" -> HGRN2;
                case "gdn" -> GDN;
                default -> throw new IllegalArgumentException(
                        "liger variant '" + s + "' is not one of gla, hgrn2, gdn");
            };
        }

        public String key() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    public static final String FILE_NAME = "liger_config.json";
    private static final Set<String> KEYS = Set.of("liger_variant", "gate_normalizer", "window_size", "mix",
            "use_gate", "gdn_beta", "feature_map", "full_attention_layers");

    public LigerConfig {
        if (variant == null) throw new IllegalArgumentException("liger variant is required");
        if (!(gateNormalizer > 0)) throw new IllegalArgumentException("gate_normalizer must be > 0, got " + gateNormalizer);
        if (window < 1) throw new IllegalArgumentException("window_size must be >= 1, got " + window);
        if (!(mix >= 0 && mix <= 1)) throw new IllegalArgumentException("mix must be in [0, 1], got " + mix);
        // beta in (0, 2] keeps I - beta k k^T (unit k) a contraction: |1 - beta| <= 1
        if (!(gdnBeta > 0 && gdnBeta <= 2)) throw new IllegalArgumentException("gdn_beta must be in (0, 2], got " + gdnBeta);
        if (!"softmax".equals(featureMap))
            throw new IllegalArgumentException("feature_map '" + featureMap + "' is unsupported (only softmax)");
        fullAttentionLayers = List.copyOf(fullAttentionLayers);
        for (int l : fullAttentionLayers)
            if (l < 0) throw new IllegalArgumentException("full_attention_layers has a negative layer " + l);
    }

    /**
     * The paper's defaults: GLA, N = 16, W = 64, a = 0.5, gate on, softmax feature map, no full-attention layers
     * (and beta = 1 for GDN).
     */
    public static LigerConfig defaults() {
        return new LigerConfig(Variant.GLA, 16f, 64, 0.5f, true, 1f, "softmax", List.of());
    }

    public LigerConfig withVariant(Variant v) { return new LigerConfig(v, gateNormalizer, window, mix, useGate, gdnBeta, featureMap, fullAttentionLayers); }
    public LigerConfig withGateNormalizer(float n) { return new LigerConfig(variant, n, window, mix, useGate, gdnBeta, featureMap, fullAttentionLayers); }
    public LigerConfig withWindow(int w) { return new LigerConfig(variant, gateNormalizer, w, mix, useGate, gdnBeta, featureMap, fullAttentionLayers); }
    public LigerConfig withMix(float a) { return new LigerConfig(variant, gateNormalizer, window, a, useGate, gdnBeta, featureMap, fullAttentionLayers); }
    public LigerConfig withUseGate(boolean g) { return new LigerConfig(variant, gateNormalizer, window, mix, g, gdnBeta, featureMap, fullAttentionLayers); }
    public LigerConfig withGdnBeta(float b) { return new LigerConfig(variant, gateNormalizer, window, mix, useGate, b, featureMap, fullAttentionLayers); }
    public LigerConfig withFullAttentionLayers(List<Integer> layers) { return new LigerConfig(variant, gateNormalizer, window, mix, useGate, gdnBeta, featureMap, layers); }

    /** Every k-th layer (k-1, 2k-1, ...) keeps softmax attention: the paper's "-H" models use k = 8. */
    public static List<Integer> everyKth(int k, int numLayers) {
        if (k < 1) throw new IllegalArgumentException("hybrid interval must be >= 1, got " + k);
        List<Integer> out = new ArrayList<>();
        for (int l = k - 1; l < numLayers; l += k) out.add(l);
        return out;
    }

    public boolean isFullAttention(int layer) {
        return fullAttentionLayers.contains(layer);
    }

    public ObjectNode toJson(ObjectMapper mapper) {
        ObjectNode n = mapper.createObjectNode();
        n.put("liger_variant", variant.key());
        n.put("gate_normalizer", gateNormalizer);
        n.put("window_size", window);
        n.put("mix", mix);
        n.put("use_gate", useGate);
        n.put("gdn_beta", gdnBeta);
        n.put("feature_map", featureMap);
        n.putPOJO("full_attention_layers", fullAttentionLayers);
        return n;
    }

    /** Reads a config; absent keys take the defaults, unknown keys are an error naming the key. */
    public static LigerConfig fromJson(JsonNode n, String source) {
        if (n == null || !n.isObject()) throw new IllegalArgumentException(source + ": liger config must be a JSON object");
        for (Iterator<String> it = n.fieldNames(); it.hasNext(); ) {
            String k = it.next();
            if (!KEYS.contains(k)) throw new IllegalArgumentException(source + ": unknown liger config key '" + k + "'");
        }
        LigerConfig d = defaults();
        try {
            List<Integer> layers = new ArrayList<>();
            JsonNode fl = n.get("full_attention_layers");
            if (fl != null && !fl.isNull()) {
                if (!fl.isArray()) throw new IllegalArgumentException("full_attention_layers must be an array of layer indices");
                for (JsonNode e : fl) {
                    if (!e.isInt()) throw new IllegalArgumentException("full_attention_layers must hold integers, got " + e);
                    layers.add(e.intValue());
                }
            }
            return new LigerConfig(
                    n.has("liger_variant") ? Variant.parse(text(n, "liger_variant")) : d.variant(),
                    n.has("gate_normalizer") ? (float) number(n, "gate_normalizer") : d.gateNormalizer(),
                    n.has("window_size") ? (int) number(n, "window_size") : d.window(),
                    n.has("mix") ? (float) number(n, "mix") : d.mix(),
                    n.has("use_gate") ? bool(n, "use_gate") : d.useGate(),
                    n.has("gdn_beta") ? (float) number(n, "gdn_beta") : d.gdnBeta(),
                    n.has("feature_map") ? text(n, "feature_map") : d.featureMap(),
                    layers);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(source + ": " + e.getMessage(), e);
        }
    }

    public static LigerConfig read(Path file) {
        try {
            return fromJson(new ObjectMapper().readTree(file.toFile()), file.toString());
        } catch (IOException e) {
            throw new UncheckedIOException(file + ": cannot read liger config: " + e.getMessage(), e);
        }
    }

    public void write(Path file) {
        ObjectMapper m = new ObjectMapper();
        try {
            Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
            Files.writeString(tmp, m.writerWithDefaultPrettyPrinter().writeValueAsString(toJson(m)));
            Files.move(tmp, file, java.nio.file.StandardCopyOption.REPLACE_EXISTING,
                    java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new UncheckedIOException(file + ": cannot write liger config: " + e.getMessage(), e);
        }
    }

    private static String text(JsonNode n, String k) {
        JsonNode v = n.get(k);
        if (!v.isTextual()) throw new IllegalArgumentException(k + " must be a string, got " + v);
        return v.textValue();
    }

    private static double number(JsonNode n, String k) {
        JsonNode v = n.get(k);
        if (!v.isNumber()) throw new IllegalArgumentException(k + " must be a number, got " + v);
        return v.doubleValue();
    }

    private static boolean bool(JsonNode n, String k) {
        JsonNode v = n.get(k);
        if (!v.isBoolean()) throw new IllegalArgumentException(k + " must be true or false, got " + v);
        return v.booleanValue();
    }
}
