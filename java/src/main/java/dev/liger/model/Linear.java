package dev.liger.model;

import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.global.torch;

/**
 * y = x W^T (+ b), W [out, in] as stored by Hugging Face. Not final: adapters such as LoRA extend
 * {@link #forward} and are installed with the owning module's setter.
 */
public class Linear implements AutoCloseable {
    protected final Tensor weight;
    protected final Tensor bias;

    public Linear(Tensor weight, Tensor bias) {
        if (weight.dim() != 2) throw new IllegalArgumentException("linear weight must be 2-D, got " + weight.dim() + "-D");
        if (bias != null && (bias.dim() != 1 || bias.size(0) != weight.size(0))) {
            throw new IllegalArgumentException("linear bias must be [" + weight.size(0) + "]");
        }
        this.weight = Tensors.keep(weight);
        this.bias = bias == null ? null : Tensors.keep(bias);
    }

    public Tensor forward(Tensor x) {
        return bias == null ? torch.linear(x, weight) : torch.linear(x, weight, new TensorOptional(bias));
    }

    public Tensor weight() {
        return weight;
    }

    /** The bias, or null. */
    public Tensor bias() {
        return bias;
    }

    public long inFeatures() {
        return weight.size(1);
    }

    public long outFeatures() {
        return weight.size(0);
    }

    @Override
    public void close() {
        Tensors.release(weight);
        Tensors.release(bias);
    }
}
