package dev.liger.cli;

import dev.liger.surgery.LigerConfig;
import java.nio.file.Path;
import java.util.List;
import picocli.CommandLine.Option;

/** How to linearize: a liger_config.json and/or flags (flags win over the file). Use with @Mixin. */
public final class LigerOptions {
    @Option(names = "--liger-config", paramLabel = "FILE", description = "A liger_config.json to start from.")
    Path configFile;

    @Option(names = "--variant", paramLabel = "NAME", description = "gla (default), hgrn2 or gdn (gated delta rule).")
    String variant;

    @Option(names = "--gate-normalizer", paramLabel = "N", description = "Gate normalizer of Liger-GLA and Liger-GDN (default 16).")
    Float gateNormalizer;

    @Option(names = "--gdn-beta", paramLabel = "B", description = "Write strength beta of Liger-GDN, in (0, 2] (default 1).")
    Float gdnBeta;

    @Option(names = "--window", paramLabel = "W", description = "Sliding-window size of the softmax branch (default 64).")
    Integer window;

    @Option(names = "--mix", paramLabel = "A", description = "Weight of the recurrent branch: o = a*GRM + (1-a)*SWA (default 0.5).")
    Float mix;

    @Option(names = "--grm-only", description = "Ablation: recurrent branch only (mix 1).")
    boolean grmOnly;

    @Option(names = "--swa-only", description = "Ablation: sliding-window attention only (mix 0).")
    boolean swaOnly;

    @Option(names = "--no-gate", description = "Ablation: no key-derived gate (g = 0).")
    boolean noGate;

    @Option(names = "--full-attention-layers", paramLabel = "L", split = ",",
            description = "Layers that keep softmax attention (inter-layer hybrid), e.g. 3,7.")
    List<Integer> fullAttentionLayers;

    @Option(names = "--hybrid-every", paramLabel = "K",
            description = "Keep softmax attention in every K-th layer (the paper's -H models use 8).")
    Integer hybridEvery;

    public LigerConfig config(int numLayers) {
        LigerConfig c = configFile == null ? LigerConfig.defaults() : LigerConfig.read(configFile);
        if (grmOnly && swaOnly) throw new IllegalArgumentException("--grm-only and --swa-only exclude each other");
        if (mix != null && (grmOnly || swaOnly)) throw new IllegalArgumentException("--mix cannot be combined with --grm-only/--swa-only");
        if (fullAttentionLayers != null && hybridEvery != null)
            throw new IllegalArgumentException("--full-attention-layers and --hybrid-every exclude each other");
        if (variant != null) c = c.withVariant(parseVariant(variant));
        if (gateNormalizer != null) c = c.withGateNormalizer(gateNormalizer);
        if (gdnBeta != null) c = c.withGdnBeta(gdnBeta);
        if (window != null) c = c.withWindow(window);
        if (mix != null) c = c.withMix(mix);
        if (grmOnly) c = c.withMix(1f);
        if (swaOnly) c = c.withMix(0f);
        if (noGate) c = c.withUseGate(false);
        if (fullAttentionLayers != null) c = c.withFullAttentionLayers(fullAttentionLayers);
        if (hybridEvery != null) c = c.withFullAttentionLayers(LigerConfig.everyKth(hybridEvery, numLayers));
        return c;
    }

    private static LigerConfig.Variant parseVariant(String s) {
        return LigerConfig.fromJson(new com.fasterxml.jackson.databind.ObjectMapper().createObjectNode().put("liger_variant", s),
                "--variant").variant();
    }
}
