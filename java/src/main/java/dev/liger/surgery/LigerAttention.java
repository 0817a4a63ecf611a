package dev.liger.surgery;

import dev.liger.autograd.GdnOp;
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
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;

/**
 * Liger attention (DESIGN.md 1.1): the pretrained q/k/v/o projections reused without new parameters, softmax
 * feature maps and a key-derived gate feeding a gated recurrence with one state per KV head, mixed with
 * sliding-window softmax attention. Two execution paths compute the same numbers: the native fused kernels
 * ({@link Backend#NATIVE}, trained through a {@link Tape}) and the pure-libtorch reference
 * ({@link Backend#REFERENCE}, autograd-native).
 *
 * <p>Liger-GDN (DESIGN.md 1.1) keeps the same shape with the gated delta rule as the recurrent branch: q and k
 * L2-normalized per head over D, a scalar gate {@code g_t = logsigmoid(mean_D(k_t)) / N} per KV head and a
 * constant write strength beta; its window branch is the GLA layer's (the fused kernel at mix 0).
 *
 * <p>Sequences inside a [B, T] batch are found from {@link Positions}: padded entries are skipped, and a
 * position that does not follow its predecessor starts a new sequence (packed documents restart at 0), so no
 * state leaks across documents.
 */
public final class LigerAttention implements TokenMixer, AttentionProjections {

    public enum Backend { NATIVE, REFERENCE }

    /**
     * The gated delta rule branch of Liger-GDN.
     *
     * @param gateNorm  N in g = logsigmoid(mean_D(k)) / N
     * @param beta      constant write strength, in (0, 2]
     * @param useGate   false is the no-gate ablation (g = 0)
     */
    public record Gdn(float gateNorm, float beta, boolean useGate) {
        public Gdn {
            if (!(gateNorm > 0) || Float.isInfinite(gateNorm))
                throw new IllegalArgumentException("GDN gate normalizer must be a positive finite number, got " + gateNorm);
            if (!(beta > 0 && beta <= 2)) throw new IllegalArgumentException("GDN beta must be in (0, 2], got " + beta);
        }
    }

    /** L2-normalization epsilon of q and k in Liger-GDN. */
    static final double L2_EPS = 1e-6;

    private Linear q;
    private Linear k;
    private Linear v;
    private Linear o;
    private final int heads;
    private final int kvHeads;
    private final int headDim;
    private final LigerAttnConfig config;
    private final Gdn gdn;              // null unless Liger-GDN
    private final LigerAttnConfig swa;  // the window branch alone (mix 0), for Liger-GDN
    private final Rope rope;
    private final Backend backend;
    private Tape tape;

    public LigerAttention(Linear q, Linear k, Linear v, Linear o, int heads, int kvHeads, int headDim,
                          LigerAttnConfig config, Rope rope, Backend backend) {
        this(q, k, v, o, heads, kvHeads, headDim, config, null, rope, backend);
    }

    /**
     * With {@code gdn} non-null the layer is Liger-GDN: the recurrent branch is the gated delta rule and
     * {@code config} gives only the window branch and the mix.
     */
    public LigerAttention(Linear q, Linear k, Linear v, Linear o, int heads, int kvHeads, int headDim,
                          LigerAttnConfig config, Gdn gdn, Rope rope, Backend backend) {
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
        this.gdn = gdn;
        this.swa = config.withMix(0f);
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

    /** The gated delta rule settings, or null when the layer is not Liger-GDN. */
    public Gdn gdn() {
        return gdn;
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
        if (gdn != null) return attendGdn(qh, kh, vh, cu);
        RopeTables tables = tables(qh.size(1));
        if (backend == Backend.NATIVE)
            return new LigerAttentionOp(config, tables, cu).apply(tape, qh, kh, vh);
        return LigerReference.attention(qh, kh, vh, config, tables, cu, null, LigerReference.Mode.CHUNKED).o();
    }

    // ---------------------------------------------------------------- Liger-GDN

    /** Recurrent-branch inputs of Liger-GDN from packed q [B,T,Hq,D], k [B,T,Hkv,D]: {q_n, k_n, g, beta}. */
    private Tensor[] gdnInputs(Tensor qh, Tensor kh) {
        Tensor qn = l2norm(qh), kn = l2norm(kh);
        long b = kh.size(0), t = kh.size(1);
        Tensor g = gdn.useGate()
                ? torch.log_sigmoid(kh.mean(new long[] {-1}, false, new org.bytedeco.pytorch.ScalarTypeOptional()))
                        .div(new Scalar((double) gdn.gateNorm()))
                : torch.zeros(new long[] {b, t, kvHeads}, new TensorOptions(kh.scalar_type().intern()));
        Tensor beta = torch.full(new long[] {b, t, kvHeads}, new Scalar((double) gdn.beta()),
                new TensorOptions(kh.scalar_type().intern()));
        return new Tensor[] {qn, kn, g, beta};
    }

    /** x / sqrt(sum_D x^2 + eps) per head (autograd-native). */
    static Tensor l2norm(Tensor x) {
        return x.mul(torch.rsqrt(x.mul(x).sum(new long[] {-1}, true, new org.bytedeco.pytorch.ScalarTypeOptional())
                .add(new Scalar(L2_EPS))));
    }

    private Tensor attendGdn(Tensor qh, Tensor kh, Tensor vh, Tensor cu) {
        float a = config.mix();
        Tensor oGdn = null, oSwa = null;
        if (a > 0) {
            Tensor[] in = gdnInputs(qh, kh);
            oGdn = backend == Backend.NATIVE
                    ? new GdnOp(1f, cu).apply(tape, in[0], in[1], vh, in[2], in[3], null)
                    : LigerReference.gdn(in[0], in[1], vh, in[2], in[3], 1.0, null, cu, LigerReference.Mode.CHUNKED).o();
        }
        if (a < 1) {
            RopeTables tables = tables(qh.size(1));
            oSwa = backend == Backend.NATIVE
                    ? new LigerAttentionOp(swa, tables, cu).apply(tape, qh, kh, vh)
                    : LigerReference.attention(qh, kh, vh, swa, tables, cu, null, LigerReference.Mode.CHUNKED).o();
        }
        return mix(oGdn, oSwa);
    }

    /** a * o_gdn + (1 - a) * o_swa; a branch the mix leaves out is not computed. */
    private Tensor mix(Tensor oGdn, Tensor oSwa) {
        float a = config.mix();
        if (oSwa == null) return oGdn;
        if (oGdn == null) return oSwa;
        return oGdn.mul(new Scalar((double) a)).add(oSwa.mul(new Scalar(1.0 - a)));
    }

    /** One step of Liger-GDN over a cache (decode for one token per row, else a prefill continuing the cache). */
    private Tensor stepGdn(Tensor[] qkv, Positions positions, Cache c, long b, long t) {
        float a = config.mix();
        Tensor oGdn = null, oSwa = null;
        if (t == 1 && positions.valid() == null && backend == Backend.NATIVE) {
            Tensor qh = qkv[0].contiguous(), kh = qkv[1].contiguous(), vh = qkv[2].contiguous();
            if (a > 0) {
                Tensor[] in = gdnInputs(qh, kh);
                oGdn = LigerOps.gdnDecode(in[0], in[1], vh, in[2], in[3], 1f, c.gdnState);
            }
            if (a < 1) oSwa = LigerOps.attnDecode(qh, kh, vh, swa, tables(maxPos(c.state) + 1), c.state);
            return mix(oGdn, oSwa);
        }
        Packing pack = Packing.rows(positions);
        Tensor cu = pack.cuSeqlens();
        Tensor pq = pack.pack(qkv[0]), pk = pack.pack(qkv[1]), pv = pack.pack(qkv[2]);
        if (a > 0) {
            Tensor[] in = gdnInputs(pq, pk);
            LigerOps.GdnResult r = backend == Backend.NATIVE
                    ? LigerOps.gdnForward(in[0], in[1], pv, in[2], in[3], 1f, c.gdnState, cu, true)
                    : LigerReference.gdn(in[0], in[1], pv, in[2], in[3], 1.0, c.gdnState, cu, LigerReference.Mode.CHUNKED);
            c.setGdnState(r.ht().to(torch.ScalarType.Float));
            oGdn = r.o();
        }
        if (a < 1) {
            RopeTables tables = tables(maxPos(c.state) + t);
            LigerOps.AttnResult r = backend == Backend.NATIVE
                    ? LigerOps.attnForward(pq, pk, pv, swa, tables, cu, c.state, true)
                    : toOps(LigerReference.attention(pq, pk, pv, swa, tables, cu, c.state, LigerReference.Mode.CHUNKED));
            c.set(r.cache());
            oSwa = r.o();
        }
        return pack.unpack(mix(oGdn, oSwa), b, t);
    }

    private static long maxPos(LigerCache cache) {
        long m = 0;
        for (long p : LigerOps.longs(cache.pos())) m = Math.max(m, p);
        return m;
    }

    @Override
    public MixerCache newCache(int batch, int capacityHint) {
        if (gdn == null) return new Cache(LigerCache.empty(batch, kvHeads, headDim, config.window()), null);
        // Liger-GDN: the delta-rule state, and the window branch's cache unless the mix leaves the window out
        Tensor state = torch.zeros(new long[] {batch, kvHeads, headDim, headDim}, new TensorOptions(torch.ScalarType.Float));
        return new Cache(config.mix() < 1 ? LigerCache.empty(batch, kvHeads, headDim, config.window()) : null, state);
    }

    @Override
    public Tensor step(Tensor x, Positions positions, MixerCache cache) {
        if (!(cache instanceof Cache c))
            throw new IllegalArgumentException("Liger attention needs its own cache, got "
                    + (cache == null ? "null" : cache.getClass().getSimpleName()));
        long b = x.size(0), t = x.size(1);
        checkPositions(positions, b, t);
        if (c.sequences() != b)
            throw new IllegalArgumentException("cache holds " + c.sequences() + " sequences but the batch has " + b);
        if ((gdn != null) != (c.gdnState != null))
            throw new IllegalArgumentException("cache was made for a different Liger variant than this layer's");
        Tensor[] qkv = project(x, b, t);
        if (gdn != null) {
            Tensor out = stepGdn(qkv, positions, c, b, t);
            c.length += t;
            return o.forward(out.reshape(b, t, (long) heads * headDim));
        }
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

    /**
     * Constant-size decoding state: the fused kernel's cache (GRM state, window ring, position) plus the token
     * count. For Liger-GDN also the delta-rule state F32 [N, Hkv, D, D]; there the fused cache serves the window
     * branch only (null when the mix leaves the window out), and its GRM state is carried but unused.
     */
    static final class Cache implements MixerCache {
        LigerCache state;
        Tensor gdnState;
        long length;

        Cache(LigerCache state, Tensor gdnState) {
            if (state != null) set(state);
            if (gdnState != null) setGdnState(gdnState);
        }

        long sequences() {
            return state != null ? state.sequences() : gdnState.size(0);
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

        void setGdnState(Tensor next) {
            Tensor old = gdnState;
            Tensors.keep(next);
            gdnState = next;
            if (old != null) Tensors.release(old);
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
            long n = gdnState == null ? 0 : gdnState.numel() * gdnState.element_size();
            if (state != null)
                for (Tensor x : new Tensor[] {state.state(), state.winK(), state.winV(), state.pos()})
                    if (x != null) n += x.numel() * x.element_size();
            return n;
        }

        @Override
        public void close() {
            if (state != null) forEach(state, Tensors::release);
            if (gdnState != null) Tensors.release(gdnState);
            state = null;
            gdnState = null;
        }
    }
}
