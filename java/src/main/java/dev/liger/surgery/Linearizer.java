package dev.liger.surgery;

import dev.liger.autograd.Tape;
import dev.liger.kernels.LigerAttnConfig;
import dev.liger.model.DecoderLayer;
import dev.liger.model.LlamaModel;
import dev.liger.model.SoftmaxAttention;
import dev.liger.model.TokenMixer;

import java.util.ArrayList;
import java.util.List;

/**
 * Model surgery: replaces the softmax attention of every layer (except the configured full-attention layers)
 * with {@link LigerAttention} over the same projections. No parameter is added; the conversion is in place.
 */
public final class Linearizer {
    private Linearizer() {}

    /**
     * The kernel-level parameters of a Liger config. For Liger-GDN they describe the window branch and the mix
     * (the fused kernel's recurrence is not used); {@link #gdnConfig} gives the delta-rule branch.
     */
    public static LigerAttnConfig kernelConfig(LigerConfig c) {
        LigerAttnConfig.Variant v = c.variant() == LigerConfig.Variant.HGRN2 ? LigerAttnConfig.Variant.HGRN2
                : LigerAttnConfig.Variant.GLA;
        return new LigerAttnConfig(v, c.useGate(), c.gateNormalizer(), c.mix(), c.window(), Float.NaN);
    }

    /** The gated delta rule branch of a Liger-GDN config; null for the other variants. */
    public static LigerAttention.Gdn gdnConfig(LigerConfig c) {
        return c.variant() == LigerConfig.Variant.GDN
                ? new LigerAttention.Gdn(c.gateNormalizer(), c.gdnBeta(), c.useGate()) : null;
    }

    /** Converts {@code model} in place and returns the Liger layers it installed (fp16 as the process default). */
    public static List<LigerAttention> linearize(LlamaModel model, LigerConfig config, LigerAttention.Backend backend) {
        return linearize(model, config, backend, LigerAttnConfig.F16Mode.DEFAULT);
    }

    /**
     * Converts {@code model} in place and returns the Liger layers it installed; {@code f16} chooses the CUDA kernels
     * for fp16 weights (a run-time choice, not part of the Liger config: it is not exported).
     */
    public static List<LigerAttention> linearize(LlamaModel model, LigerConfig config, LigerAttention.Backend backend,
                                                 LigerAttnConfig.F16Mode f16) {
        int n = model.layers().size();
        for (int l : config.fullAttentionLayers())
            if (l >= n) throw new IllegalArgumentException("full_attention_layers names layer " + l
                    + " but the model has " + n + " layers (0.." + (n - 1) + ")");
        LigerAttnConfig kc = kernelConfig(config).withF16Mode(f16);
        LigerAttention.Gdn gdn = gdnConfig(config);
        List<LigerAttention> out = new ArrayList<>();
        for (DecoderLayer layer : model.layers()) {
            if (config.isFullAttention(layer.index())) continue;
            TokenMixer m = layer.mixer();
            if (m instanceof LigerAttention) throw new IllegalStateException("layer " + layer.index() + " is already linearized");
            if (!(m instanceof SoftmaxAttention sa))
                throw new IllegalArgumentException("layer " + layer.index() + " has a " + m.getClass().getSimpleName()
                        + " mixer; only softmax attention can be linearized");
            LigerAttention la = new LigerAttention(sa.qProj(), sa.kProj(), sa.vProj(), sa.oProj(), sa.heads(),
                    sa.kvHeads(), sa.headDim(), kc, gdn, sa.rope(), backend);
            layer.setMixer(la); // the old mixer shares its projections with the new one: not closed
            out.add(la);
        }
        return out;
    }

    /** The Liger layers of a model, in layer order. */
    public static List<LigerAttention> ligerLayers(LlamaModel model) {
        List<LigerAttention> out = new ArrayList<>();
        for (DecoderLayer layer : model.layers())
            if (layer.mixer() instanceof LigerAttention la) out.add(la);
        return out;
    }

    /** Native Liger layers record on {@code tape} while grad mode is on; null stops recording. */
    public static void setTape(LlamaModel model, Tape tape) {
        for (LigerAttention la : ligerLayers(model)) la.setTape(tape);
        ResidualBoundary boundary = new ResidualBoundary();
        model.setLayerInputHook(tape == null ? null : x -> tape.apply(boundary, x)[0]);
    }
}
