package dev.liger.kernels;

/**
 * Hyper-parameters of one fused Liger attention layer (DESIGN.md 1.1).
 *
 * @param variant   recurrence flavour (GLA: softmax key features and gate / gateNorm; HGRN2: 1 - sigmoid keys)
 * @param useGate   false is the no-gate ablation (g = 0)
 * @param gateNorm  GLA gate normalizer N (ignored by HGRN2)
 * @param mix       weight a of the GRM branch; 1 = GRM only, 0 = SWA only
 * @param window    sliding-window size W (keys t-W+1..t), at least 1
 * @param swaScale  softmax scale of the window attention; NaN means the default 1/sqrt(D)
 */
public record LigerAttnConfig(Variant variant, boolean useGate, float gateNorm, float mix, int window, float swaScale) {

    public enum Variant {
        GLA(LigerKernels.LIGER_VARIANT_GLA),
        HGRN2(LigerKernels.LIGER_VARIANT_HGRN2);

        final int code;

        Variant(int code) {
            this.code = code;
        }
    }

    public LigerAttnConfig {
        if (variant == null) throw new IllegalArgumentException("variant must not be null");
        if (!(gateNorm > 0) || Float.isInfinite(gateNorm))
            throw new IllegalArgumentException("gateNorm must be a positive finite number, got " + gateNorm);
        if (!(mix >= 0 && mix <= 1)) throw new IllegalArgumentException("mix must be in [0, 1], got " + mix);
        if (window < 1) throw new IllegalArgumentException("window must be >= 1, got " + window);
        if (!Float.isNaN(swaScale) && !(swaScale > 0 && !Float.isInfinite(swaScale)))
            throw new IllegalArgumentException("swaScale must be positive and finite (or NaN for 1/sqrt(D)), got " + swaScale);
    }

    /** Liger-GLA with the paper's defaults: gate on, N = 16, a = 0.5, W = 64, scale 1/sqrt(D). */
    public static LigerAttnConfig defaults() {
        return new LigerAttnConfig(Variant.GLA, true, 16f, 0.5f, 64, Float.NaN);
    }

    public LigerAttnConfig withVariant(Variant v) { return new LigerAttnConfig(v, useGate, gateNorm, mix, window, swaScale); }
    public LigerAttnConfig withUseGate(boolean g) { return new LigerAttnConfig(variant, g, gateNorm, mix, window, swaScale); }
    public LigerAttnConfig withGateNorm(float n) { return new LigerAttnConfig(variant, useGate, n, mix, window, swaScale); }
    public LigerAttnConfig withMix(float a) { return new LigerAttnConfig(variant, useGate, gateNorm, a, window, swaScale); }
    public LigerAttnConfig withWindow(int w) { return new LigerAttnConfig(variant, useGate, gateNorm, mix, w, swaScale); }
    public LigerAttnConfig withSwaScale(float s) { return new LigerAttnConfig(variant, useGate, gateNorm, mix, window, s); }

    /** The window-attention scale for head dimension {@code d}. */
    public float swaScaleFor(long d) {
        return Float.isNaN(swaScale) ? (float) (1.0 / Math.sqrt(d)) : swaScale;
    }
}
