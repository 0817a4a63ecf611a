package dev.liger.surgery;

import dev.liger.autograd.LigerAttentionOp;
import dev.liger.autograd.Tape;
import dev.liger.kernels.LigerAttnConfig;
import dev.liger.kernels.LigerCache;
import dev.liger.kernels.LigerOps;
import dev.liger.kernels.RopeTables;
import dev.liger.kernels.reference.LigerReference;
import dev.liger.model.AttentionProjections;
import dev.liger.model.Linear;
import dev.liger.model.MixerCache;
import dev.liger.model.Positions;
import dev.liger.model.Rope;
import dev.liger.model.TokenMixer;
import dev.liger.model.Tensors;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * Liger attention (DESIGN.md 1.1): the pretrained q/k/v/o projections reused without new parameters, softmax
 * feature maps and a key-derived gate feeding a gated recurrence with one state per KV head, mixed with
 * sliding-window softmax attention. Two execution paths compute the same numbers: the native fused kernels
 * ({@link Backend#NATIVE}, trained through a {@link Tape}) and the pure-libtorch reference
 * ({@link Backend#REFERENCE}, autograd-native).
 *
 * <p>Sequences inside a [B, T] batch are found from {@link Positions}: padded entries are skipped, and a
 * position that does not follow its predecessor starts a new sequence (packed documents restart at 0), so no
 * state leaks across documents.
 */
public final class LigerAttention implements TokenMixer, AttentionProjections {

    public enum Backend { NATIVE, REFERENCE }

    private Linear q;
    private Linear k;
    private Linear v;
    private Linear o;
    private final int heads;
    private final int kvHeads;
    private final int headDim;
    private final LigerAttnConfig config;
    private final Rope rope;
    private final Backend backend;
    private Tape tape;

    public LigerAttention(Linear q, Linear k, Linear v, Linear o, int heads, int kvHeads, int headDim,
                          LigerAttnConfig config, Rope rope, Backend backend) {
        if (heads % kvHeads != 0)
            throw new IllegalArgumentException("query heads (" + heads + ") must be a multiple of KV heads (" + kvHeads + ")");
        this.q = q;
        this.k = k;
        this.v = v;
        this.o = o;
        this.heads = heads;
        this.kvHeads = kvHeads;
        this.headDim = headDim;
        this.config = config;
        this.rope = rope;
        this.backend = backend;
    }

    /** Native ops record on this tape while grad mode is on (training); null runs them without recording. */
    public void setTape(Tape tape) {
        this.tape = tape;
    }

    public Backend backend() {
        return backend;
    }

    public LigerAttnConfig config() {
        return config;
    }

    @Override
    public Tensor forward(Tensor x, Positions positions) {
        long b = x.size(0), t = x.size(1);
        checkPositions(positions, b, t);
        Tensor[] qkv = project(x, b, t);
        Packing pack = Packing.of(positions);
        Tensor out;
        if (pack.isTrivial()) {
            out = attend(qkv[0], qkv[1], qkv[2], null);
        } else {
            Tensor cu = pack.cuSeqlens();
            out = pack.unpack(attend(pack.pack(qkv[0]), pack.pack(qkv[1]), pack.pack(qkv[2]), cu), b, t);
        }
        return o.forward(out.reshape(b, t, (long) heads * headDim));
    }

    private Tensor attend(Tensor qh, Tensor kh, Tensor vh, Tensor cu) {
        RopeTables tables = tables(qh.size(1));
        if (backend == Backend.NATIVE)
            return new LigerAttentionOp(config, tables, cu).apply(tape, qh, kh, vh);
        return LigerReference.attention(qh, kh, vh, config, tables, cu, null, LigerReference.Mode.CHUNKED).o();
    }

    @Override
    public MixerCache newCache(int batch, int capacityHint) {
        return new Cache(LigerCache.empty(batch, kvHeads, headDim, config.window()));
    }

    @Override
    public Tensor step(Tensor x, Positions positions, MixerCache cache) {
        if (!(cache instanceof Cache c))
            throw new IllegalArgumentException("Liger attention needs its own cache, got "
                    + (cache == null ? "null" : cache.getClass().getSimpleName()));
        long b = x.size(0), t = x.size(1);
        checkPositions(positions, b, t);
        if (c.state.sequences() != b)
            throw new IllegalArgumentException("cache holds " + c.state.sequences() + " sequences but the batch has " + b);
        Tensor[] qkv = project(x, b, t);
        long maxPos = 0;
        for (long p : LigerOps.longs(c.state.pos())) maxPos = Math.max(maxPos, p);
        RopeTables tables = tables(maxPos + t);
        Tensor out;
        if (t == 1 && positions.valid() == null && backend == Backend.NATIVE) {
            out = LigerOps.attnDecode(qkv[0].contiguous(), qkv[1].contiguous(), qkv[2].contiguous(), config, tables, c.state);
        } else {
            // Prefill (or a padded step): every row is one sequence continuing its own cache; padding is dropped.
            Packing pack = Packing.rows(positions);
            Tensor cu = pack.cuSeqlens();
            Tensor pq = pack.pack(qkv[0]), pk = pack.pack(qkv[1]), pv = pack.pack(qkv[2]);
            LigerOps.AttnResult r = backend == Backend.NATIVE
                    ? LigerOps.attnForward(pq, pk, pv, config, tables, cu, c.state, true)
                    : toOps(LigerReference.attention(pq, pk, pv, config, tables, cu, c.state, LigerReference.Mode.CHUNKED));
            c.set(r.cache());
            out = pack.unpack(r.o(), b, t);
        }
        c.length += t;
        return o.forward(out.reshape(b, t, (long) heads * headDim));
    }

    private static LigerOps.AttnResult toOps(LigerOps.AttnResult r) {
        LigerCache f = r.cache();
        return new LigerOps.AttnResult(r.o(), new LigerCache(f.state().to(torch.ScalarType.Float),
                f.winK() == null ? null : f.winK().to(torch.ScalarType.Float),
                f.winV() == null ? null : f.winV().to(torch.ScalarType.Float), f.pos()));
    }

    private Tensor[] project(Tensor x, long b, long t) {
        return new Tensor[] {
                q.forward(x).view(b, t, heads, headDim),
                k.forward(x).view(b, t, kvHeads, headDim),
                v.forward(x).view(b, t, kvHeads, headDim)};
    }

    private RopeTables tables(long length) {
        Tensor[] cs = rope.tables(Math.max(1, length));
        return new RopeTables(cs[0], cs[1]);
    }

    private static void checkPositions(Positions p, long b, long t) {
        if (p.batch() != b || p.length() != t)
            throw new IllegalArgumentException("positions are [" + p.batch() + ", " + p.length() + "] but the input is ["
                    + b + ", " + t + ", C]");
    }

    public Linear qProj() { return q; }
    public Linear kProj() { return k; }
    public Linear vProj() { return v; }
    public Linear oProj() { return o; }
    public void setQProj(Linear l) { q = l; }
    public void setKProj(Linear l) { k = l; }
    public void setVProj(Linear l) { v = l; }
    public void setOProj(Linear l) { o = l; }
    public int heads() { return heads; }
    public int kvHeads() { return kvHeads; }
    public int headDim() { return headDim; }

    /** Projections are shared with the model they were taken from; closing the mixer leaves them alone. */
    @Override
    public void close() {}

    /** Constant-size decoding state: the kernel cache plus the token count. */
    static final class Cache implements MixerCache {
        LigerCache state;
        long length;

        Cache(LigerCache state) {
            set(state);
        }

        /**
         * Holds the cache tensors beyond the PointerScope they were made in (a generator scopes every step) and
         * lets go of the previous ones.
         */
        void set(LigerCache next) {
            LigerCache old = state;
            forEach(next, Tensors::keep);
            state = next;
            if (old != null) forEach(old, Tensors::release);
        }

        private static void forEach(LigerCache c, java.util.function.Consumer<Tensor> f) {
            for (Tensor x : new Tensor[] {c.state(), c.winK(), c.winV(), c.pos()}) if (x != null) f.accept(x);
        }

        @Override
        public long length() {
            return length;
        }

        @Override
        public long bytes() {
            long n = 0;
            for (Tensor x : new Tensor[] {state.state(), state.winK(), state.winV(), state.pos()})
                if (x != null) n += x.numel() * x.element_size();
            return n;
        }

        @Override
        public void close() {
            if (state != null) forEach(state, Tensors::release);
            state = null;
        }
    }
}
