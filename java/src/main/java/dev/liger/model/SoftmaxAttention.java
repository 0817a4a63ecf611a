package dev.liger.model;

import org.bytedeco.pytorch.DoubleOptional;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * Grouped-query softmax attention with RoPE (libtorch SDPA), optionally restricted to a sliding window
 * (Mistral: a key is visible when query_pos - key_pos &lt; window). The projections are {@link Linear}s that
 * adapters may replace.
 */
public final class SoftmaxAttention implements TokenMixer, AttentionProjections {
    private Linear q;
    private Linear k;
    private Linear v;
    private Linear o;
    private final int heads;
    private final int kvHeads;
    private final int headDim;
    private final int window;
    private final Rope rope;

    public SoftmaxAttention(Linear q, Linear k, Linear v, Linear o, int heads, int kvHeads, int headDim, int window, Rope rope) {
        this.q = q;
        this.k = k;
        this.v = v;
        this.o = o;
        this.heads = heads;
        this.kvHeads = kvHeads;
        this.headDim = headDim;
        this.window = window;
        this.rope = rope;
    }

    @Override
    public Tensor forward(Tensor x, Positions positions) {
        return attend(x, positions, null);
    }

    @Override
    public MixerCache newCache(int batch, int capacityHint) {
        Tensor w = k.weight();
        return new KvCache(batch, kvHeads, headDim, capacityHint, w.scalar_type(), w.device());
    }

    @Override
    public Tensor step(Tensor x, Positions positions, MixerCache cache) {
        if (!(cache instanceof KvCache kv)) {
            throw new IllegalArgumentException("softmax attention needs its own KvCache, got " + (cache == null ? "null" : cache.getClass().getSimpleName()));
        }
        return attend(x, positions, kv);
    }

    private Tensor attend(Tensor x, Positions p, KvCache cache) {
        long b = x.size(0), t = x.size(1);
        if (p.batch() != b || p.length() != t) {
            throw new IllegalArgumentException("positions are [" + p.batch() + ", " + p.length() + "] but the input is [" + b + ", " + t + ", C]");
        }
        Tensor qh = q.forward(x).view(b, t, heads, headDim).transpose(1, 2);
        Tensor kh = k.forward(x).view(b, t, kvHeads, headDim).transpose(1, 2);
        Tensor vh = v.forward(x).view(b, t, kvHeads, headDim).transpose(1, 2);
        qh = rope.apply(qh, p.positions(), p.maxPosition());
        kh = rope.apply(kh, p.positions(), p.maxPosition());

        long offset = 0;
        Tensor keys = kh, values = vh, keyPos = p.positions(), keyValid = p.valid();
        if (cache != null) {
            offset = cache.stored();
            cache.append(kh, vh, p.positions(), p.valid());
            keys = cache.keys();
            values = cache.values();
            keyPos = cache.positions();
            keyValid = cache.validity();
        }
        long s = keys.size(2);
        boolean windowBinds = window > 0 && p.maxPosition() >= window;
        TensorOptional mask = new TensorOptional();
        boolean causal = false;
        Tensor documents = cache == null ? documentMask(p) : null;
        if (keyValid == null && !windowBinds && offset == 0 && documents == null) {
            causal = true;
        } else if (!(keyValid == null && !windowBinds && t == 1 && documents == null)) {
            Tensor m = mask(p, offset, t, s, keyPos, keyValid, x);
            mask = new TensorOptional(documents == null ? m : m.logical_and(documents));
        }
        if (heads != kvHeads) {
            keys = keys.repeat_interleave(heads / kvHeads, new org.bytedeco.pytorch.LongOptional(1), new org.bytedeco.pytorch.LongOptional());
            values = values.repeat_interleave(heads / kvHeads, new org.bytedeco.pytorch.LongOptional(1), new org.bytedeco.pytorch.LongOptional());
        }
        Tensor out = torch.scaled_dot_product_attention(qh, keys, values, mask, 0.0, causal, new DoubleOptional(), false);
        Tensor y = o.forward(out.transpose(1, 2).reshape(b, t, (long) heads * headDim));
        // Later queries sit at positions beyond every row's current one, so only each row's last window-1
        // keys can still be seen. Trim lazily (at twice the window) to amortize the copy.
        if (cache != null && window > 0 && cache.stored() >= 2L * window) cache.keepLast(window - 1);
        return y;
    }

    /**
     * Packed documents: a position that does not follow its predecessor by one starts a new document, and no
     * query sees keys of another document. Bool [B, 1, T, T], or null when every row is one document.
     */
    private static Tensor documentMask(Positions p) {
        long t = p.length();
        if (t < 2) return null;
        Tensor pos = p.positions();
        Tensor restart = pos.narrow(1, 1, t - 1).ne(pos.narrow(1, 0, t - 1).add(new Scalar(1L)));
        if (p.valid() != null) restart = restart.logical_and(p.valid().narrow(1, 1, t - 1)).logical_and(p.valid().narrow(1, 0, t - 1));
        if (!restart.any().item_bool()) return null;
        Tensor seg = torch.cat(new org.bytedeco.pytorch.TensorVector(torch.zeros_like(pos.narrow(1, 0, 1)),
                restart.to(ScalarType.Long).cumsum(1)), 1); // [B, T]
        return seg.unsqueeze(2).eq(seg.unsqueeze(1)).unsqueeze(1);
    }

    /** Bool [B, 1, T, S], true = attend. A query always sees its own key, so padded rows never go all-masked. */
    private Tensor mask(Positions p, long offset, long t, long s, Tensor keyPos, Tensor keyValid, Tensor like) {
        TensorOptions longs = new TensorOptions(ScalarType.Long).device(new org.bytedeco.pytorch.DeviceOptional(like.device()));
        Tensor qSlot = torch.arange(new Scalar(offset), new Scalar(offset + t), longs).view(t, 1);
        Tensor kSlot = torch.arange(new Scalar(s), longs).view(1, s);
        Tensor m = torch.le(kSlot, qSlot).unsqueeze(0); // [1, T, S]
        if (keyValid != null) m = m.logical_and(keyValid.unsqueeze(1));
        if (window > 0) {
            Tensor dist = p.positions().unsqueeze(2).sub(keyPos.unsqueeze(1)); // [B, T, S]
            m = m.logical_and(torch.lt(dist, new Scalar((long) window)));
        }
        m = m.logical_or(kSlot.eq(qSlot).unsqueeze(0));
        return m.expand(p.batch(), t, s).unsqueeze(1);
    }

    public Linear qProj() {
        return q;
    }

    public Linear kProj() {
        return k;
    }

    public Linear vProj() {
        return v;
    }

    public Linear oProj() {
        return o;
    }

    public void setQProj(Linear l) {
        q = l;
    }

    public void setKProj(Linear l) {
        k = l;
    }

    public void setVProj(Linear l) {
        v = l;
    }

    public void setOProj(Linear l) {
        o = l;
    }

    public int heads() {
        return heads;
    }

    public int kvHeads() {
        return kvHeads;
    }

    public int headDim() {
        return headDim;
    }

    /** Sliding window in tokens, 0 = full causal attention. */
    public int window() {
        return window;
    }

    public Rope rope() {
        return rope;
    }

    @Override
    public void close() {
        q.close();
        k.close();
        v.close();
        o.close();
    }
}
