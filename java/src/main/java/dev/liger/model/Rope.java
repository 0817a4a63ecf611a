package dev.liger.model;

import dev.liger.config.RopeConfig;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * Rotary position embedding, Hugging Face rotate-half convention. The cos/sin tables are F32 [P, D/2]
 * (row p = position p), the format the native kernels take; they are computed once per model with the
 * same fp32 operations as transformers, so RoPE'd vectors match it bit for bit in fp32.
 *
 * <p>Dynamic NTK scaling depends on the sequence length: for a call whose largest position is beyond
 * original_max_position_embeddings the frequencies are recomputed for that length (stateless; transformers
 * additionally keeps the largest length it has seen).
 */
public final class Rope implements AutoCloseable {
    private final RopeConfig config;
    private final int headDim;
    private final Device device;
    private Tensor cos;
    private Tensor sin;
    private Tensor dynCos;
    private Tensor dynSin;
    private long dynLength;

    public Rope(RopeConfig config, int headDim, int positions, Device device) {
        this.config = config;
        this.headDim = headDim;
        this.device = device;
        Tensor[] t = compute(positions, 0);
        cos = t[0];
        sin = t[1];
    }

    public RopeConfig config() {
        return config;
    }

    /** cos table F32 [P, D/2] on the model's device, for the base frequencies. */
    public synchronized Tensor cos() {
        return cos;
    }

    /** sin table F32 [P, D/2] on the model's device, for the base frequencies. */
    public synchronized Tensor sin() {
        return sin;
    }

    public synchronized long length() {
        return cos.size(0);
    }

    /** Inverse frequencies F32 [D/2] for a call covering positions [0, seqLen) (seqLen matters only for dynamic). */
    public Tensor inverseFrequencies(long seqLen) {
        Tensor exponents = torch.arange(new Scalar(0L), new Scalar((long) headDim), new Scalar(2L), new TensorOptions(ScalarType.Long))
                .to(ScalarType.Float).div(new Scalar((double) headDim));
        double base = config.theta();
        if (config.type().equals(RopeConfig.DYNAMIC) && seqLen > config.originalMaxPositionEmbeddings()) {
            double f = config.factor();
            base = base * Math.pow(f * seqLen / config.originalMaxPositionEmbeddings() - (f - 1), (double) headDim / (headDim - 2));
        }
        Tensor inv = torch.pow(new Scalar(base), exponents).reciprocal();
        switch (config.type()) {
            case RopeConfig.LINEAR -> inv = inv.div(new Scalar(config.factor()));
            case RopeConfig.LLAMA3 -> inv = llama3(inv);
            default -> { }
        }
        return inv;
    }

    private Tensor llama3(Tensor inv) {
        double factor = config.factor();
        double low = config.lowFreqFactor();
        double high = config.highFreqFactor();
        double old = config.originalMaxPositionEmbeddings();
        double lowWavelen = old / low;
        double highWavelen = old / high;
        // Same operation order as transformers (scalar / tensor, not reciprocal * scalar) for identical rounding.
        Tensor wavelen = torch.full_like(inv, new Scalar(2 * Math.PI)).div(inv);
        // a.where(cond, b) keeps a where cond holds: wavelen > low_wavelen ? inv / factor : inv
        Tensor scaled = inv.div(new Scalar(factor)).where(torch.gt(wavelen, new Scalar(lowWavelen)), inv);
        Tensor smooth = torch.full_like(wavelen, new Scalar(old)).div(wavelen).sub(new Scalar(low)).div(new Scalar(high - low));
        Tensor one = torch.ones_like(smooth);
        Tensor smoothed = one.sub(smooth).mul(scaled).div(new Scalar(factor)).add(smooth.mul(scaled));
        Tensor medium = torch.lt(wavelen, new Scalar(highWavelen)).logical_not().logical_and(torch.gt(wavelen, new Scalar(lowWavelen)).logical_not());
        return smoothed.where(medium, scaled);
    }

    private Tensor[] compute(long positions, long seqLen) {
        try (PointerScope scope = new PointerScope()) {
            Tensor inv = inverseFrequencies(seqLen);
            Tensor pos = torch.arange(new Scalar(positions), new TensorOptions(ScalarType.Long)).to(ScalarType.Float);
            Tensor freqs = torch.outer(pos, inv);
            Tensor c = Tensors.keep(freqs.cos().contiguous().to(device, ScalarType.Float));
            Tensor s = Tensors.keep(freqs.sin().contiguous().to(device, ScalarType.Float));
            return new Tensor[] {c, s};
        }
    }

    /** Tables covering positions [0, length), growing the cached base tables when needed. */
    public synchronized Tensor[] tables(long length) {
        if (config.type().equals(RopeConfig.DYNAMIC) && length > config.originalMaxPositionEmbeddings()) {
            if (dynCos == null || dynLength != length) {
                Tensors.release(dynCos);
                Tensors.release(dynSin);
                Tensor[] t = compute(length, length);
                dynCos = t[0];
                dynSin = t[1];
                dynLength = length;
            }
            return new Tensor[] {dynCos, dynSin};
        }
        if (length > cos.size(0)) {
            Tensor[] t = compute(Math.max(length, 2 * cos.size(0)), 0);
            Tensors.release(cos);
            Tensors.release(sin);
            cos = t[0];
            sin = t[1];
        }
        return new Tensor[] {cos, sin};
    }

    /**
     * Rotates x [B, H, T, D] at positions [B, T] (I64, same device). Tables are cast to x's dtype first, as
     * transformers does, so bf16 results round the same way.
     */
    public Tensor apply(Tensor x, Tensor positions, long maxPosition) {
        Tensor[] t = tables(maxPosition + 1);
        long b = x.size(0), tt = x.size(2), half = headDim / 2;
        Tensor flat = positions.reshape(-1);
        Tensor c = t[0].index_select(0, flat).view(b, 1, tt, half).to(x.scalar_type());
        Tensor s = t[1].index_select(0, flat).view(b, 1, tt, half).to(x.scalar_type());
        Tensor x1 = x.narrow(-1, 0, half);
        Tensor x2 = x.narrow(-1, half, half);
        return torch.cat(new TensorVector(x1.mul(c).sub(x2.mul(s)), x2.mul(c).add(x1.mul(s))), -1);
    }

    @Override
    public synchronized void close() {
        Tensors.release(cos);
        Tensors.release(sin);
        Tensors.release(dynCos);
        Tensors.release(dynSin);
    }
}
