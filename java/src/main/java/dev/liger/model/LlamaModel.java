package dev.liger.model;

import dev.liger.config.ModelConfig;
import dev.liger.io.Checkpoint;
import dev.liger.io.TensorInfo;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * A Llama-family causal LM (Llama, Mistral, Qwen2) over libtorch tensors: embedding, decoder layers with
 * replaceable token mixers, final RMSNorm, LM head (tied or not). Weights keep their Hugging Face names.
 *
 * <p>Methods allocate temporaries; callers run them inside a {@link PointerScope} and copy out what they need.
 */
public final class LlamaModel implements AutoCloseable {
    private java.util.function.UnaryOperator<Tensor> layerInputHook;
    private final ModelConfig config;
    private final Device device;
    private final ScalarType dtype;
    private final Tensor embed;
    private final List<DecoderLayer> layers;
    private final RmsNorm norm;
    private Linear lmHead;
    private final Rope rope;
    private final Map<String, Tensor> weights;

    private LlamaModel(ModelConfig config, Device device, ScalarType dtype, Tensor embed, List<DecoderLayer> layers,
                       RmsNorm norm, Linear lmHead, Rope rope, Map<String, Tensor> weights) {
        this.config = config;
        this.device = device;
        this.dtype = dtype;
        this.embed = embed;
        this.layers = layers;
        this.norm = norm;
        this.lmHead = lmHead;
        this.rope = rope;
        this.weights = weights;
    }

    /** Loads {@code dir/config.json} and the checkpoint's weights, converted to {@code dtype} on {@code device}. */
    public static LlamaModel load(Path dir, Device device, ScalarType dtype) {
        ModelConfig config = ModelConfig.load(dir.resolve("config.json"));
        try (Checkpoint ckpt = Checkpoint.open(dir)) {
            return load(config, ckpt, device, dtype);
        }
    }

    /** The dtype named by config.json's torch_dtype (float32, bfloat16, float16); float32 when absent. */
    public static ScalarType configDtype(ModelConfig config) {
        return switch (config.torchDtype()) {
            case "bfloat16" -> ScalarType.BFloat16;
            case "float16" -> ScalarType.Half;
            default -> ScalarType.Float;
        };
    }

    public static LlamaModel load(ModelConfig c, Checkpoint ckpt, Device device, ScalarType dtype) {
        if (!(dtype == ScalarType.Float || dtype == ScalarType.BFloat16 || dtype == ScalarType.Half)) {
            throw new IllegalArgumentException("unsupported model dtype " + dtype + " (use float32, bfloat16 or float16)");
        }
        if (device.is_cpu()) {
            int bytes = dtype == ScalarType.Float ? 4 : 2;
            dev.liger.resources.MemoryBudget.require("model " + ckpt.source() + " (" + dev.liger.resources.MemoryBudget.parameters(c)
                    + " parameters as " + dtype + ")", dev.liger.resources.MemoryBudget.modelBytes(c, bytes));
        }
        Map<String, Tensor> w = new LinkedHashMap<>();
        Loader ld = new Loader(ckpt, device, dtype, w);
        long hidden = c.hiddenSize(), qDim = (long) c.numHeads() * c.headDim(), kvDim = (long) c.numKvHeads() * c.headDim();
        Tensor embed = ld.get("model.embed_tokens.weight", c.vocabSize(), hidden);
        Rope rope = new Rope(c.rope(), c.headDim(), c.maxPositionEmbeddings(), device);
        List<DecoderLayer> layers = new ArrayList<>();
        for (int i = 0; i < c.numLayers(); i++) {
            String p = "model.layers." + i + ".";
            Linear q = ld.linear(p + "self_attn.q_proj", qDim, hidden, c.attentionBias());
            Linear k = ld.linear(p + "self_attn.k_proj", kvDim, hidden, c.attentionBias());
            Linear v = ld.linear(p + "self_attn.v_proj", kvDim, hidden, c.attentionBias());
            // Qwen2 has q/k/v biases but no o_proj bias; Llama's attention_bias covers o_proj too.
            Linear o = ld.linear(p + "self_attn.o_proj", hidden, qDim, c.attentionBias() && !c.modelType().equals("qwen2"));
            Mlp mlp = new Mlp(
                    ld.linear(p + "mlp.gate_proj", c.intermediateSize(), hidden, c.mlpBias()),
                    ld.linear(p + "mlp.up_proj", c.intermediateSize(), hidden, c.mlpBias()),
                    ld.linear(p + "mlp.down_proj", hidden, c.intermediateSize(), c.mlpBias()));
            layers.add(new DecoderLayer(i,
                    ld.norm(p + "input_layernorm.weight", hidden, c.rmsNormEps()),
                    new SoftmaxAttention(q, k, v, o, c.numHeads(), c.numKvHeads(), c.headDim(), c.slidingWindow(), rope),
                    ld.norm(p + "post_attention_layernorm.weight", hidden, c.rmsNormEps()),
                    mlp));
        }
        RmsNorm norm = ld.norm("model.norm.weight", hidden, c.rmsNormEps());
        Linear head;
        if (c.tieWordEmbeddings()) {
            head = new Linear(embed, null);
        } else {
            if (!ckpt.contains("lm_head.weight")) {
                throw new ModelLoadException(ckpt.source() + ": missing tensor 'lm_head.weight' (config says tie_word_embeddings=false)");
            }
            head = ld.linear("lm_head", c.vocabSize(), hidden, false);
        }
        return new LlamaModel(c, device, dtype, embed, Collections.unmodifiableList(layers), norm, head, rope,
                Collections.unmodifiableMap(w));
    }

    /** Reads tensors by HF name (the returned tensor carries one reference for the caller), checks shapes against the config, converts to the model dtype and device. */
    private record Loader(Checkpoint ckpt, Device device, ScalarType dtype, Map<String, Tensor> out) {
        Tensor get(String name, long... shape) {
            if (!ckpt.contains(name)) throw new ModelLoadException(ckpt.source() + ": missing tensor '" + name + "'");
            TensorInfo info = ckpt.info(name);
            if (!Arrays.equals(info.shape(), shape)) {
                throw new ModelLoadException(ckpt.source() + ": tensor '" + name + "' has shape " + Arrays.toString(info.shape())
                        + ", config.json implies " + Arrays.toString(shape));
            }
            if (!(info.dtype() == dev.liger.io.DType.F32 || info.dtype() == dev.liger.io.DType.BF16 || info.dtype() == dev.liger.io.DType.F16)) {
                throw new ModelLoadException(ckpt.source() + ": tensor '" + name + "' has dtype " + info.dtype() + ", expected a float type");
            }
            try (PointerScope scope = new PointerScope()) {
                Tensor t = Tensors.keep(ckpt.load(name).to(device, dtype));
                out.put(name, t);
                return t;
            }
        }

        RmsNorm norm(String name, long dim, double eps) {
            Tensor t = get(name, dim);
            RmsNorm n = new RmsNorm(t, eps);
            Tensors.release(t);
            return n;
        }

        Linear linear(String prefix, long outDim, long inDim, boolean bias) {
            Tensor weight = get(prefix + ".weight", outDim, inDim);
            Tensor b = bias ? get(prefix + ".bias", outDim) : null;
            Linear l = new Linear(weight, b);
            // Linear took its own reference; drop the loader's.
            Tensors.release(weight);
            Tensors.release(b);
            return l;
        }
    }

    /** Logits [B, T, V] of a full sequence (no cache). */
    public Tensor forward(Tensor ids, Positions positions) {
        return lmHead.forward(hidden(ids, positions, null));
    }

    /**
     * Runs T new tokens through the model, extending the per-layer caches (one per layer, from {@link #newCaches}).
     * With {@code lastOnly}, returns logits [B, V] of the last position only (what decoding needs).
     */
    public Tensor step(Tensor ids, Positions positions, List<MixerCache> caches, boolean lastOnly) {
        if (caches.size() != layers.size()) throw new IllegalArgumentException("need " + layers.size() + " caches, got " + caches.size());
        Tensor h = hidden(ids, positions, caches);
        if (lastOnly) h = h.select(1, h.size(1) - 1);
        return lmHead.forward(h);
    }

    /** Final-norm hidden states [B, T, C]. */
    public Tensor hidden(Tensor ids, Positions positions, List<MixerCache> caches) {
        if (ids.dim() != 2) throw new IllegalArgumentException("token ids must be [B, T], got " + ids.dim() + "-D");
        Tensor x = torch.embedding(embed, ids.to(device, ScalarType.Long));
        for (int i = 0; i < layers.size(); i++) {
            if (layerInputHook != null) x = layerInputHook.apply(x);
            x = layers.get(i).forward(x, positions, caches == null ? null : caches.get(i));
        }
        return norm.forward(x);
    }

    public List<MixerCache> newCaches(int batch, int capacityHint) {
        List<MixerCache> out = new ArrayList<>();
        for (DecoderLayer l : layers) out.add(l.mixer().newCache(batch, capacityHint));
        return out;
    }

    public ModelConfig config() {
        return config;
    }

    public Device device() {
        return device;
    }

    public ScalarType dtype() {
        return dtype;
    }

    public List<DecoderLayer> layers() {
        return layers;
    }

    public RmsNorm norm() {
        return norm;
    }

    public Tensor embedTokens() {
        return embed;
    }

    public Linear lmHead() {
        return lmHead;
    }

    public void setLmHead(Linear l) {
        lmHead = l;
    }

    /**
     * A function applied to the residual stream before every layer (null for none). Training through native
     * ops uses it to cut the autograd graph into per-layer segments (see dev.liger.surgery.Linearizer#setTape).
     */
    public void setLayerInputHook(java.util.function.UnaryOperator<Tensor> hook) {
        layerInputHook = hook;
    }

    public Rope rope() {
        return rope;
    }

    /** The loaded weights by Hugging Face name (tied LM head: only model.embed_tokens.weight). */
    public Map<String, Tensor> weights() {
        return weights;
    }

    public long parameterCount() {
        long n = 0;
        for (Tensor t : weights.values()) n += t.numel();
        return n;
    }

    @Override
    public void close() {
        for (DecoderLayer l : layers) l.close();
        norm.close();
        lmHead.close();
        Tensors.release(embed);
        rope.close();
    }
}
