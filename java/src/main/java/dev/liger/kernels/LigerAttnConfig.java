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
 * @param f16Mode   how the CUDA forward and backward take fp16 inputs (ignored for other dtypes, by decode steps
 *                  and on the CPU, which compute in fp32 from any input dtype)
 */
public record LigerAttnConfig(Variant variant, boolean useGate, float gateNorm, float mix, int window, float swaScale,
                              F16Mode f16Mode) {

    public enum Variant {
        GLA(LigerKernels.LIGER_VARIANT_GLA),
        HGRN2(LigerKernels.LIGER_VARIANT_HGRN2);

        final int code;

        Variant(int code) {
            this.code = code;
        }
    }

    /**
     * fp16 inputs on CUDA ({@code liger_f16_mode}): the bf16 kernels are about 16x faster at long lengths than the
     * fp32-tile ones, at bf16's accuracy (about 3e-3 from float64 against 3e-4).
     */
    public enum F16Mode {
        /** The process default: FAST when {@code LIGER_CUDA_F16_FAST=1} is in the environment, else ACCURATE. */
        DEFAULT(LigerKernels.LIGER_F16_DEFAULT),
        /** fp32 tiles and tf32 products: fp16's accuracy. */
        ACCURATE(LigerKernels.LIGER_F16_ACCURATE),
        /** The bf16 kernels, fp16 rows rounded to bf16 in their tiles: bf16's accuracy and speed. */
        FAST(LigerKernels.LIGER_F16_FAST);

        final int code;

        F16Mode(int code) {
            this.code = code;
        }
    }

    /** A configuration whose fp16 inputs follow the process default ({@link F16Mode#DEFAULT}). */
    public LigerAttnConfig(Variant variant, boolean useGate, float gateNorm, float mix, int window, float swaScale) {
        this(variant, useGate, gateNorm, mix, window, swaScale, F16Mode.DEFAULT);
    }

    public LigerAttnConfig {
        if (variant == null) throw new IllegalArgumentException("variant must not be null");
        if (f16Mode == null) throw new IllegalArgumentException("f16Mode must not be null");
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

    public LigerAttnConfig withVariant(Variant v) { return new LigerAttnConfig(v, useGate, gateNorm, mix, window, swaScale, f16Mode); }
    public LigerAttnConfig withUseGate(boolean g) { return new LigerAttnConfig(variant, g, gateNorm, mix, window, swaScale, f16Mode); }
    public LigerAttnConfig withGateNorm(float n) { return new LigerAttnConfig(variant, useGate, n, mix, window, swaScale, f16Mode); }
    public LigerAttnConfig withMix(float a) { return new LigerAttnConfig(variant, useGate, gateNorm, a, window, swaScale, f16Mode); }
    public LigerAttnConfig withWindow(int w) { return new LigerAttnConfig(variant, useGate, gateNorm, mix, w, swaScale, f16Mode); }
    public LigerAttnConfig withSwaScale(float s) { return new LigerAttnConfig(variant, useGate, gateNorm, mix, window, s, f16Mode); }
    public LigerAttnConfig withF16Mode(F16Mode m) { return new LigerAttnConfig(variant, useGate, gateNorm, mix, window, swaScale, m); }

    /** The window-attention scale for head dimension {@code d}. */
    public float swaScaleFor(long d) {
        return Float.isNaN(swaScale) ? (float) (1.0 / Math.sqrt(d)) : swaScale;
    }
}
