package dev.liger.kernels;

import dev.liger.kernels.LigerKernels.liger_attn_params;
import dev.liger.kernels.LigerKernels.liger_cache;
import dev.liger.kernels.LigerKernels.liger_gdn_params;
import dev.liger.kernels.LigerKernels.liger_gla_params;
import dev.liger.kernels.LigerKernels.liger_tensor;
import java.lang.ref.Reference;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.Supplier;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * Tensor-level entry points of the native Liger kernels: checks bytedeco {@link Tensor} arguments
 * (rank, shape, dtype, device), describes them to the C ABI (data pointer, shape, element strides),
 * calls native, and returns freshly allocated outputs. A non-OK native status becomes a
 * {@link LigerKernelException}; argument errors found on the Java side are
 * {@link IllegalArgumentException}s naming the argument.
 *
 * <p>All tensors of one call live on one device. CPU tensors go to the CPU kernels; CUDA tensors go to
 * the CUDA kernels on their device, ordered on libtorch's current CUDA stream there. CUDA needs the
 * native library built with CUDA and libtorch's GPU build (the {@code -Pgpu} profile); without them a
 * CUDA tensor gets an "unsupported" {@link LigerKernelException}. The CPU path never loads CUDA classes.
 */
public final class LigerOps {
    private LigerOps() {}

    // Tensor.scalar_type() can return an enum instance that is not the canonical constant; intern()
    // maps it back so that == and switch work.

    /** Plain GLA forward result: output and, when asked for, the final state per sequence. */
    public record GlaResult(Tensor o, Tensor ht) {}

    /** Plain GLA gradients; {@code dh0} is null unless asked for. */
    public record GlaGrads(Tensor dq, Tensor dk, Tensor dv, Tensor dg, Tensor dh0) {}

    /** Gated delta rule forward result: output and, when asked for, the final state per sequence. */
    public record GdnResult(Tensor o, Tensor ht) {}

    /** Gated delta rule gradients; {@code dh0} is null unless asked for. */
    public record GdnGrads(Tensor dq, Tensor dk, Tensor dv, Tensor dg, Tensor dbeta, Tensor dh0) {}

    /** Fused attention forward result; {@code cache} is null unless asked for. */
    public record AttnResult(Tensor o, LigerCache cache) {}

    /** Gradients of the fused attention with respect to the raw q, k, v. */
    public record AttnGrads(Tensor dq, Tensor dk, Tensor dv) {}

    // ---------------------------------------------------------------- plain GLA

    /**
     * {@code S_t = diag(exp(g_t)) S_{t-1} + k_t^T v_t}, {@code o_t = scale * q_t S_t}, one state per KV head.
     *
     * @param q          [B,T,Hq,Dk] feature-mapped queries (F32 or BF16)
     * @param k          [B,T,Hkv,Dk] feature-mapped keys
     * @param v          [B,T,Hkv,Dv]
     * @param g          [B,T,Hkv,Dk] log-gates (<= 0), F32 or the input dtype
     * @param h0         optional initial state F32 [N,Hkv,Dk,Dv]
     * @param cuSeqlens  optional I64 [N+1] packed-sequence offsets (B must be 1)
     */
    public static GlaResult glaForward(Tensor q, Tensor k, Tensor v, Tensor g, float scale, Tensor h0,
                                       Tensor cuSeqlens, boolean outputFinalState) {
        return glaForward(q, k, v, g, scale, h0, cuSeqlens, outputFinalState, null, null);
    }

    /** As above, writing into caller-provided outputs when given (tests poison them). */
    static GlaResult glaForward(Tensor q, Tensor k, Tensor v, Tensor g, float scale, Tensor h0, Tensor cuSeqlens,
                                boolean outputFinalState, Tensor oOut, Tensor htOut) {
        GlaDims d = checkGla(q, k, v, g, scale, h0, cuSeqlens);
        Tensor o = oOut != null ? checkOut("o", oOut, q, d.b, d.t, d.hq, d.dv) : newTensor(q, q.scalar_type().intern(), d.b, d.t, d.hq, d.dv);
        Tensor ht = null;
        if (outputFinalState) {
            ht = htOut != null ? checkState("ht", htOut, q, d.n, d.hkv, d.dk, d.dv)
                    : newTensor(q, ScalarType.Float, d.n, d.hkv, d.dk, d.dv);
        }
        List<Tensor> keep = new ArrayList<>(Arrays.asList(q, k, v, g, o, h0, ht, cuSeqlens));
        try (Placement at = Placement.of(q)) {
            liger_gla_params p = glaParams(at, d, scale, q, k, v, g, h0, cuSeqlens);
            describe(p.o(), o);
            describe(p.ht(), ht);
            check("liger_gla_forward", LigerKernels.liger_gla_forward(p));
        } finally {
            Reference.reachabilityFence(keep);
        }
        return new GlaResult(o, ht);
    }

    /**
     * Gradients of {@link #glaForward} given {@code dO} [B,T,Hq,Dv] (and optionally {@code dht}, the
     * gradient of the final state). States are recomputed.
     */
    public static GlaGrads glaBackward(Tensor q, Tensor k, Tensor v, Tensor g, float scale, Tensor h0,
                                       Tensor cuSeqlens, Tensor dO, Tensor dht, boolean outputDh0) {
        return glaBackward(q, k, v, g, scale, h0, cuSeqlens, dO, dht, outputDh0, null);
    }

    static GlaGrads glaBackward(Tensor q, Tensor k, Tensor v, Tensor g, float scale, Tensor h0, Tensor cuSeqlens,
                                Tensor dO, Tensor dht, boolean outputDh0, GlaGrads out) {
        GlaDims d = checkGla(q, k, v, g, scale, h0, cuSeqlens);
        dO = checkSeq("do", dO, q, d.b, d.t, d.hq, d.dv);
        if (dht != null) dht = checkState("dht", dht.contiguous(), q, d.n, d.hkv, d.dk, d.dv);
        Tensor dq, dk, dv, dg, dh0 = null;
        if (out != null) {
            dq = checkOut("dq", out.dq(), q, d.b, d.t, d.hq, d.dk);
            dk = checkOut("dk", out.dk(), k, d.b, d.t, d.hkv, d.dk);
            dv = checkOut("dv", out.dv(), v, d.b, d.t, d.hkv, d.dv);
            dg = checkOut("dg", out.dg(), g, d.b, d.t, d.hkv, d.dk);
            if (outputDh0) dh0 = checkState("dh0", out.dh0(), q, d.n, d.hkv, d.dk, d.dv);
        } else {
            dq = newTensor(q, q.scalar_type().intern(), d.b, d.t, d.hq, d.dk);
            dk = newTensor(q, k.scalar_type().intern(), d.b, d.t, d.hkv, d.dk);
            dv = newTensor(q, v.scalar_type().intern(), d.b, d.t, d.hkv, d.dv);
            dg = newTensor(q, g.scalar_type().intern(), d.b, d.t, d.hkv, d.dk);
            if (outputDh0) dh0 = newTensor(q, ScalarType.Float, d.n, d.hkv, d.dk, d.dv);
        }
        List<Tensor> keep = new ArrayList<>(Arrays.asList(q, k, v, g, h0, cuSeqlens, dO, dht, dq, dk, dv, dg, dh0));
        try (Placement at = Placement.of(q)) {
            liger_gla_params p = glaParams(at, d, scale, q, k, v, g, h0, cuSeqlens);
            describe(p.do_(), dO);
            describe(p.dht(), dht);
            describe(p.dq(), dq);
            describe(p.dk(), dk);
            describe(p.dv(), dv);
            describe(p.dg(), dg);
            describe(p.dh0(), dh0);
            check("liger_gla_backward", LigerKernels.liger_gla_backward(p));
        } finally {
            Reference.reachabilityFence(keep);
        }
        return new GlaGrads(dq, dk, dv, dg, dh0);
    }

    private record GlaDims(long b, long t, long hq, long hkv, long dk, long dv, long n) {}

    private static GlaDims checkGla(Tensor q, Tensor k, Tensor v, Tensor g, float scale, Tensor h0, Tensor cuSeqlens) {
        checkInput("q", q, 4);
        checkPlacement(q);
        checkInput("k", k, 4);
        checkInput("v", v, 4);
        checkInput("g", g, 4);
        checkDevice(q, "k", k);
        checkDevice(q, "v", v);
        checkDevice(q, "g", g);
        checkInputDtype("q", q);
        sameDtype("k", k, q);
        sameDtype("v", v, q);
        if (g.scalar_type().intern() != ScalarType.Float && g.scalar_type().intern() != q.scalar_type().intern())
            throw new IllegalArgumentException("g must be F32 or the input dtype " + q.scalar_type().intern() + ", got " + g.scalar_type().intern());
        long b = q.size(0), t = q.size(1), hq = q.size(2), dk = q.size(3);
        long hkv = k.size(2), dv = v.size(3);
        checkShape("k", k, b, t, hkv, dk);
        checkShape("v", v, b, t, hkv, dv);
        checkShape("g", g, b, t, hkv, dk);
        checkHeads(hq, hkv);
        if (!Float.isFinite(scale)) throw new IllegalArgumentException("scale must be finite, got " + scale);
        long n = checkCuSeqlens(cuSeqlens, q, b, t);
        if (h0 != null) checkState("h0", h0, q, n, hkv, dk, dv);
        return new GlaDims(b, t, hq, hkv, dk, dv, n);
    }

    // One parameter struct per thread and kernel family, zeroed and filled anew by every call: allocating and
    // freeing one per call cost ~5 us of host time (measured beside the CUDA decode, whose launch is ~4 us).
    // A call never nests another call of the same family on its thread.
    private static final ThreadLocal<liger_gla_params> GLA_PARAMS = perThread(liger_gla_params::new);
    private static final ThreadLocal<liger_gdn_params> GDN_PARAMS = perThread(liger_gdn_params::new);
    private static final ThreadLocal<liger_attn_params> ATTN_PARAMS = perThread(liger_attn_params::new);

    // A struct first made while the caller has a PointerScope open attaches to that scope, whose close releases it:
    // the thread's next call then zeroed freed memory and the JVM died in memset. The reference taken here is the
    // thread's own, so a scope's close leaves the struct alive.
    private static <P extends Pointer> ThreadLocal<P> perThread(Supplier<P> make) {
        return ThreadLocal.withInitial(() -> make.get().retainReference());
    }

    private static liger_gla_params glaParams(Placement at, GlaDims d, float scale, Tensor q, Tensor k, Tensor v,
                                              Tensor g, Tensor h0, Tensor cuSeqlens) {
        liger_gla_params p = GLA_PARAMS.get().zero();
        p.device(at.device()).stream(at.stream()).num_threads(0);
        p.B(d.b).T(d.t).Hq(d.hq).Hkv(d.hkv).Dk(d.dk).Dv(d.dv).scale(scale);
        describe(p.q(), q);
        describe(p.k(), k);
        describe(p.v(), v);
        describe(p.g(), g);
        describe(p.cu_seqlens(), cuSeqlens);
        describe(p.h0(), h0);
        for (liger_tensor absent : new liger_tensor[] {p.o(), p.ht(), p.do_(), p.dht(), p.dq(), p.dk(), p.dv(), p.dg(), p.dh0()})
            describe(absent, null);
        return p;
    }

    // ---------------------------------------------------------------- gated delta rule

    /**
     * {@code S_t = exp(g_t) (I - beta_t k_t k_t^T) S_{t-1} + beta_t k_t v_t^T}, {@code o_t = scale * S_t^T q_t},
     * one state [Dk, Dv] per KV head (liger.h).
     *
     * @param q          [B,T,Hq,Dk] queries (F32 or BF16; the Liger-GDN layer passes them L2-normalized)
     * @param k          [B,T,Hkv,Dk] keys
     * @param v          [B,T,Hkv,Dv]
     * @param g          [B,T,Hkv] scalar log-gates (<= 0), F32 or the input dtype
     * @param beta       [B,T,Hkv] write strengths, F32 or the input dtype
     * @param h0         optional initial state F32 [N,Hkv,Dk,Dv]
     * @param cuSeqlens  optional I64 [N+1] packed-sequence offsets (B must be 1)
     */
    public static GdnResult gdnForward(Tensor q, Tensor k, Tensor v, Tensor g, Tensor beta, float scale, Tensor h0,
                                       Tensor cuSeqlens, boolean outputFinalState) {
        return gdnForward(q, k, v, g, beta, scale, h0, cuSeqlens, outputFinalState, null, null);
    }

    /** As above, writing into caller-provided outputs when given (tests poison them). */
    static GdnResult gdnForward(Tensor q, Tensor k, Tensor v, Tensor g, Tensor beta, float scale, Tensor h0,
                                Tensor cuSeqlens, boolean outputFinalState, Tensor oOut, Tensor htOut) {
        GdnDims d = checkGdn(q, k, v, g, beta, scale, h0, cuSeqlens);
        Tensor o = oOut != null ? checkOut("o", oOut, q, d.b, d.t, d.hq, d.dv) : newTensor(q, q.scalar_type().intern(), d.b, d.t, d.hq, d.dv);
        Tensor ht = null;
        if (outputFinalState) {
            ht = htOut != null ? checkState("ht", htOut, q, d.n, d.hkv, d.dk, d.dv)
                    : newTensor(q, ScalarType.Float, d.n, d.hkv, d.dk, d.dv);
        }
        List<Tensor> keep = new ArrayList<>(Arrays.asList(q, k, v, g, beta, o, h0, ht, cuSeqlens));
        try (Placement at = Placement.of(q)) {
            liger_gdn_params p = gdnParams(at, d, scale, q, k, v, g, beta, h0, cuSeqlens);
            describe(p.o(), o);
            describe(p.ht(), ht);
            check("liger_gdn_forward", LigerKernels.liger_gdn_forward(p));
        } finally {
            Reference.reachabilityFence(keep);
        }
        return new GdnResult(o, ht);
    }

    /**
     * Gradients of {@link #gdnForward} given {@code dO} [B,T,Hq,Dv] (and optionally {@code dht}, the gradient of
     * the final state). States are recomputed.
     */
    public static GdnGrads gdnBackward(Tensor q, Tensor k, Tensor v, Tensor g, Tensor beta, float scale, Tensor h0,
                                       Tensor cuSeqlens, Tensor dO, Tensor dht, boolean outputDh0) {
        return gdnBackward(q, k, v, g, beta, scale, h0, cuSeqlens, dO, dht, outputDh0, null);
    }

    static GdnGrads gdnBackward(Tensor q, Tensor k, Tensor v, Tensor g, Tensor beta, float scale, Tensor h0,
                                Tensor cuSeqlens, Tensor dO, Tensor dht, boolean outputDh0, GdnGrads out) {
        GdnDims d = checkGdn(q, k, v, g, beta, scale, h0, cuSeqlens);
        dO = checkSeq("do", dO, q, d.b, d.t, d.hq, d.dv);
        if (dht != null) dht = checkState("dht", dht.contiguous(), q, d.n, d.hkv, d.dk, d.dv);
        Tensor dq, dk, dv, dg, dbeta, dh0 = null;
        if (out != null) {
            dq = checkOut("dq", out.dq(), q, d.b, d.t, d.hq, d.dk);
            dk = checkOut("dk", out.dk(), k, d.b, d.t, d.hkv, d.dk);
            dv = checkOut("dv", out.dv(), v, d.b, d.t, d.hkv, d.dv);
            dg = checkOut("dg", out.dg(), g, d.b, d.t, d.hkv);
            dbeta = checkOut("dbeta", out.dbeta(), beta, d.b, d.t, d.hkv);
            if (outputDh0) dh0 = checkState("dh0", out.dh0(), q, d.n, d.hkv, d.dk, d.dv);
        } else {
            dq = newTensor(q, q.scalar_type().intern(), d.b, d.t, d.hq, d.dk);
            dk = newTensor(q, k.scalar_type().intern(), d.b, d.t, d.hkv, d.dk);
            dv = newTensor(q, v.scalar_type().intern(), d.b, d.t, d.hkv, d.dv);
            dg = newTensor(q, g.scalar_type().intern(), d.b, d.t, d.hkv);
            dbeta = newTensor(q, beta.scalar_type().intern(), d.b, d.t, d.hkv);
            if (outputDh0) dh0 = newTensor(q, ScalarType.Float, d.n, d.hkv, d.dk, d.dv);
        }
        List<Tensor> keep = new ArrayList<>(Arrays.asList(q, k, v, g, beta, h0, cuSeqlens, dO, dht, dq, dk, dv, dg, dbeta, dh0));
        try (Placement at = Placement.of(q)) {
            liger_gdn_params p = gdnParams(at, d, scale, q, k, v, g, beta, h0, cuSeqlens);
            describe(p.do_(), dO);
            describe(p.dht(), dht);
            describe(p.dq(), dq);
            describe(p.dk(), dk);
            describe(p.dv(), dv);
            describe(p.dg(), dg);
            describe(p.dbeta(), dbeta);
            describe(p.dh0(), dh0);
            check("liger_gdn_backward", LigerKernels.liger_gdn_backward(p));
        } finally {
            Reference.reachabilityFence(keep);
        }
        return new GdnGrads(dq, dk, dv, dg, dbeta, dh0);
    }

    /**
     * One decode step: q [N,1,Hq,Dk], k [N,1,Hkv,Dk], v [N,1,Hkv,Dv], g and beta [N,1,Hkv]; reads the state
     * {@code state} F32 [N,Hkv,Dk,Dv] (contiguous), updates it in place and returns o [N,1,Hq,Dv].
     */
    public static Tensor gdnDecode(Tensor q, Tensor k, Tensor v, Tensor g, Tensor beta, float scale, Tensor state) {
        return gdnDecode(q, k, v, g, beta, scale, state, null);
    }

    static Tensor gdnDecode(Tensor q, Tensor k, Tensor v, Tensor g, Tensor beta, float scale, Tensor state, Tensor oOut) {
        if (state == null) throw new IllegalArgumentException("state is required for decode");
        if (q != null && q.defined() && q.dim() == 4 && q.size(1) != 1)
            throw new IllegalArgumentException("q must hold one token per sequence for decode (T == 1), got " + shapeOf(q));
        GdnDims d = checkGdn(q, k, v, g, beta, scale, state, null);
        Tensor o = oOut != null ? checkOut("o", oOut, q, d.b, d.t, d.hq, d.dv) : newTensor(q, q.scalar_type().intern(), d.b, d.t, d.hq, d.dv);
        List<Tensor> keep = new ArrayList<>(Arrays.asList(q, k, v, g, beta, state, o));
        try (Placement at = Placement.of(q)) {
            liger_gdn_params p = gdnParams(at, d, scale, q, k, v, g, beta, state, null);
            describe(p.o(), o);
            describe(p.ht(), state);
            check("liger_gdn_decode", LigerKernels.liger_gdn_decode(p));
        } finally {
            Reference.reachabilityFence(keep);
        }
        return o;
    }

    private record GdnDims(long b, long t, long hq, long hkv, long dk, long dv, long n) {}

    private static GdnDims checkGdn(Tensor q, Tensor k, Tensor v, Tensor g, Tensor beta, float scale, Tensor h0,
                                    Tensor cuSeqlens) {
        checkInput("q", q, 4);
        checkPlacement(q);
        checkInput("k", k, 4);
        checkInput("v", v, 4);
        checkInput("g", g, 3);
        checkInput("beta", beta, 3);
        checkDevice(q, "k", k);
        checkDevice(q, "v", v);
        checkDevice(q, "g", g);
        checkDevice(q, "beta", beta);
        checkInputDtype("q", q);
        sameDtype("k", k, q);
        sameDtype("v", v, q);
        for (String name : new String[] {"g", "beta"}) {
            ScalarType s = (name.equals("g") ? g : beta).scalar_type().intern();
            if (s != ScalarType.Float && s != q.scalar_type().intern())
                throw new IllegalArgumentException(name + " must be F32 or the input dtype " + q.scalar_type().intern() + ", got " + s);
        }
        long b = q.size(0), t = q.size(1), hq = q.size(2), dk = q.size(3);
        long hkv = k.size(2), dv = v.size(3);
        checkShape("k", k, b, t, hkv, dk);
        checkShape("v", v, b, t, hkv, dv);
        checkShape("g", g, b, t, hkv);
        checkShape("beta", beta, b, t, hkv);
        checkHeads(hq, hkv);
        if (!Float.isFinite(scale)) throw new IllegalArgumentException("scale must be finite, got " + scale);
        long n = checkCuSeqlens(cuSeqlens, q, b, t);
        if (h0 != null) checkState("h0", h0, q, n, hkv, dk, dv);
        return new GdnDims(b, t, hq, hkv, dk, dv, n);
    }

    private static liger_gdn_params gdnParams(Placement at, GdnDims d, float scale, Tensor q, Tensor k, Tensor v, Tensor g,
                                              Tensor beta, Tensor h0, Tensor cuSeqlens) {
        liger_gdn_params p = GDN_PARAMS.get().zero();
        p.device(at.device()).stream(at.stream()).num_threads(0);
        p.B(d.b).T(d.t).Hq(d.hq).Hkv(d.hkv).Dk(d.dk).Dv(d.dv).scale(scale);
        describe(p.q(), q);
        describe(p.k(), k);
        describe(p.v(), v);
        describe(p.g(), g);
        describe(p.beta(), beta);
        describe(p.cu_seqlens(), cuSeqlens);
        describe(p.h0(), h0);
        for (liger_tensor absent : new liger_tensor[] {p.o(), p.ht(), p.do_(), p.dht(), p.dq(), p.dk(), p.dv(), p.dg(),
                p.dbeta(), p.dh0()})
            describe(absent, null);
        return p;
    }

    // ---------------------------------------------------------------- fused Liger attention

    /**
     * Fused Liger attention forward from raw q [B,T,Hq,D], k, v [B,T,Hkv,D] (F32 or BF16).
     *
     * @param rope         RoPE tables; required when {@code config.mix() < 1}
     * @param cuSeqlens    optional I64 [N+1] packed-sequence offsets (B must be 1)
     * @param cacheIn      optional cache to continue from (not modified)
     * @param outputCache  return the cache after the last token as a new {@link LigerCache}
     */
    public static AttnResult attnForward(Tensor q, Tensor k, Tensor v, LigerAttnConfig config, RopeTables rope,
                                         Tensor cuSeqlens, LigerCache cacheIn, boolean outputCache) {
        return attnForward(q, k, v, config, rope, cuSeqlens, cacheIn, outputCache, null);
    }

    /**
     * F32 elements of the buffer in which a forward of these inputs keeps its chunk states for the backward
     * ({@code liger_attn_saved_numel}); 0 where that path keeps none (the CPU, and the CUDA paths other than the
     * bf16 kernels with {@code mix < 1}): the backward then recomputes them. About 32 KB per 64-token chunk and KV
     * head at D = 128.
     */
    public static long attnSavedNumel(Tensor q, Tensor k, Tensor v, LigerAttnConfig config, RopeTables rope,
                                      Tensor cuSeqlens) {
        AttnDims d = checkAttn(q, k, v, config, rope, cuSeqlens, null, null);
        List<Object> keep = new ArrayList<>(Arrays.asList(q, k, v, rope, cuSeqlens));
        try (Placement at = Placement.of(q); LongPointer n = new LongPointer(1)) {
            liger_attn_params p = attnParams(at, d, config, q, k, v, rope, cuSeqlens);
            check("liger_attn_saved_numel", LigerKernels.liger_attn_saved_numel(p, n));
            return n.get();
        } finally {
            Reference.reachabilityFence(keep);
        }
    }

    /**
     * The training forward (from an empty cache) that keeps its chunk states in {@code saved}, an F32 buffer of
     * {@link #attnSavedNumel} elements on q's device, for {@link #attnBackward(Tensor, Tensor, Tensor, Tensor,
     * LigerAttnConfig, RopeTables, Tensor, Tensor)} of the same inputs; null keeps nothing.
     */
    public static AttnResult attnForward(Tensor q, Tensor k, Tensor v, LigerAttnConfig config, RopeTables rope,
                                         Tensor cuSeqlens, Tensor saved) {
        return attnForward(q, k, v, config, rope, cuSeqlens, null, false, null, saved);
    }

    static AttnResult attnForward(Tensor q, Tensor k, Tensor v, LigerAttnConfig config, RopeTables rope,
                                  Tensor cuSeqlens, LigerCache cacheIn, boolean outputCache, Tensor oOut) {
        return attnForward(q, k, v, config, rope, cuSeqlens, cacheIn, outputCache, oOut, null);
    }

    private static AttnResult attnForward(Tensor q, Tensor k, Tensor v, LigerAttnConfig config, RopeTables rope,
                                          Tensor cuSeqlens, LigerCache cacheIn, boolean outputCache, Tensor oOut,
                                          Tensor saved) {
        AttnDims d = checkAttn(q, k, v, config, rope, cuSeqlens, cacheIn, "cacheIn");
        checkSaved(q, saved);
        Tensor o = oOut != null ? checkOut("o", oOut, q, d.b, d.t, d.hq, d.d) : newTensor(q, q.scalar_type().intern(), d.b, d.t, d.hq, d.d);
        LigerCache cacheOut = outputCache ? LigerCache.empty(d.n, d.hkv, d.d, config.window(), q) : null;
        List<Object> keep = new ArrayList<>(Arrays.asList(q, k, v, o, rope, cuSeqlens, cacheIn, cacheOut, saved));
        try (Placement at = Placement.of(q)) {
            liger_attn_params p = attnParams(at, d, config, q, k, v, rope, cuSeqlens);
            describe(p.o(), o);
            describeCache(p.cache_in(), cacheIn);
            describeCache(p.cache_out(), cacheOut);
            describe(p.saved(), saved);
            check("liger_attn_forward", LigerKernels.liger_attn_forward(p));
        } finally {
            Reference.reachabilityFence(keep);
        }
        return new AttnResult(o, cacheOut);
    }

    /** Gradients of the fused attention (from an empty cache) for raw q, k, v given {@code dO} [B,T,Hq,D]. */
    public static AttnGrads attnBackward(Tensor q, Tensor k, Tensor v, Tensor dO, LigerAttnConfig config,
                                         RopeTables rope, Tensor cuSeqlens) {
        return attnBackward(q, k, v, dO, config, rope, cuSeqlens, (AttnGrads) null);
    }

    /**
     * Gradients as {@link #attnBackward(Tensor, Tensor, Tensor, Tensor, LigerAttnConfig, RopeTables, Tensor)}, reading
     * the chunk states that the forward of the same inputs kept in {@code saved} instead of recomputing them (null:
     * recompute).
     */
    public static AttnGrads attnBackward(Tensor q, Tensor k, Tensor v, Tensor dO, LigerAttnConfig config,
                                         RopeTables rope, Tensor cuSeqlens, Tensor saved) {
        return attnBackward(q, k, v, dO, config, rope, cuSeqlens, null, saved);
    }

    static AttnGrads attnBackward(Tensor q, Tensor k, Tensor v, Tensor dO, LigerAttnConfig config, RopeTables rope,
                                  Tensor cuSeqlens, AttnGrads out) {
        return attnBackward(q, k, v, dO, config, rope, cuSeqlens, out, null);
    }

    private static AttnGrads attnBackward(Tensor q, Tensor k, Tensor v, Tensor dO, LigerAttnConfig config,
                                          RopeTables rope, Tensor cuSeqlens, AttnGrads out, Tensor saved) {
        AttnDims d = checkAttn(q, k, v, config, rope, cuSeqlens, null, null);
        checkSaved(q, saved);
        dO = checkSeq("do", dO, q, d.b, d.t, d.hq, d.d);
        Tensor dq, dk, dv;
        if (out != null) {
            dq = checkOut("dq", out.dq(), q, d.b, d.t, d.hq, d.d);
            dk = checkOut("dk", out.dk(), k, d.b, d.t, d.hkv, d.d);
            dv = checkOut("dv", out.dv(), v, d.b, d.t, d.hkv, d.d);
        } else {
            dq = newTensor(q, q.scalar_type().intern(), d.b, d.t, d.hq, d.d);
            dk = newTensor(q, q.scalar_type().intern(), d.b, d.t, d.hkv, d.d);
            dv = newTensor(q, q.scalar_type().intern(), d.b, d.t, d.hkv, d.d);
        }
        List<Object> keep = new ArrayList<>(Arrays.asList(q, k, v, dO, rope, cuSeqlens, dq, dk, dv, saved));
        try (Placement at = Placement.of(q)) {
            liger_attn_params p = attnParams(at, d, config, q, k, v, rope, cuSeqlens);
            describe(p.saved(), saved);
            describe(p.do_(), dO);
            describe(p.dq(), dq);
            describe(p.dk(), dk);
            describe(p.dv(), dv);
            check("liger_attn_backward", LigerKernels.liger_attn_backward(p));
        } finally {
            Reference.reachabilityFence(keep);
        }
        return new AttnGrads(dq, dk, dv);
    }

    /**
     * One decode step: q [N,1,Hq,D], k, v [N,1,Hkv,D]; reads and updates {@code cache} in place
     * (its tensors must be contiguous) and returns o [N,1,Hq,D].
     */
    public static Tensor attnDecode(Tensor q, Tensor k, Tensor v, LigerAttnConfig config, RopeTables rope,
                                    LigerCache cache) {
        return attnDecode(q, k, v, config, rope, cache, null);
    }

    static Tensor attnDecode(Tensor q, Tensor k, Tensor v, LigerAttnConfig config, RopeTables rope, LigerCache cache,
                             Tensor oOut) {
        if (cache == null) throw new IllegalArgumentException("cache is required for decode");
        if (q != null && q.defined() && q.dim() == 4 && q.size(1) != 1)
            throw new IllegalArgumentException("q must hold one token per sequence for decode (T == 1), got " + shapeOf(q));
        AttnDims d = checkAttn(q, k, v, config, rope, null, cache, "cache");
        for (Tensor t : new Tensor[] {cache.state(), cache.winK(), cache.winV(), cache.pos()})
            if (t != null && !t.is_contiguous())
                throw new IllegalArgumentException("cache tensors must be contiguous for an in-place decode");
        Tensor o = oOut != null ? checkOut("o", oOut, q, d.b, d.t, d.hq, d.d) : newTensor(q, q.scalar_type().intern(), d.b, d.t, d.hq, d.d);
        List<Object> keep = new ArrayList<>(Arrays.asList(q, k, v, o, rope, cache));
        try (Placement at = Placement.of(q)) {
            liger_attn_params p = attnParams(at, d, config, q, k, v, rope, null);
            describe(p.o(), o);
            describeCache(p.cache_in(), cache);
            describeCache(p.cache_out(), null);
            check("liger_attn_decode", LigerKernels.liger_attn_decode(p));
        } finally {
            Reference.reachabilityFence(keep);
        }
        return o;
    }

    private record AttnDims(long b, long t, long hq, long hkv, long d, long n) {}

    private static AttnDims checkAttn(Tensor q, Tensor k, Tensor v, LigerAttnConfig config, RopeTables rope,
                                      Tensor cuSeqlens, LigerCache cache, String cacheName) {
        if (config == null) throw new IllegalArgumentException("config must not be null");
        checkInput("q", q, 4);
        checkPlacement(q);
        checkInput("k", k, 4);
        checkInput("v", v, 4);
        checkDevice(q, "k", k);
        checkDevice(q, "v", v);
        checkInputDtype("q", q);
        sameDtype("k", k, q);
        sameDtype("v", v, q);
        long b = q.size(0), t = q.size(1), hq = q.size(2), d = q.size(3), hkv = k.size(2);
        checkShape("k", k, b, t, hkv, d);
        checkShape("v", v, b, t, hkv, d);
        checkHeads(hq, hkv);
        long n = checkCuSeqlens(cuSeqlens, q, b, t);
        long maxStart = 0;
        if (cache != null) {
            checkState(cacheName + ".state", cache.state(), q, n, hkv, d, d);
            if (config.window() > 1) {
                if (cache.winK() == null)
                    throw new IllegalArgumentException(cacheName + " has no window buffers but the window is " + config.window());
                checkState(cacheName + ".winK", cache.winK(), q, n, hkv, config.window() - 1, d);
                checkState(cacheName + ".winV", cache.winV(), q, n, hkv, config.window() - 1, d);
            } else if (cache.winK() != null) {
                throw new IllegalArgumentException(cacheName + " has window buffers but the window is 1");
            }
            Tensor pos = cache.pos();
            checkDevice(q, cacheName + ".pos", pos);
            if (pos.scalar_type().intern() != ScalarType.Long || pos.dim() != 1 || pos.size(0) != n)
                throw new IllegalArgumentException(cacheName + ".pos must be I64 [" + n + "], got "
                        + pos.scalar_type().intern() + " " + shapeOf(pos));
            long[] ps = longs(pos);
            for (long x : ps) {
                if (x < 0) throw new IllegalArgumentException(cacheName + ".pos must be >= 0, got " + x);
                maxStart = Math.max(maxStart, x);
            }
        }
        if (config.mix() < 1) {
            if (rope == null) throw new IllegalArgumentException("rope tables are required when mix < 1");
            checkDevice(q, "rope.cos", rope.cos());
            checkDevice(q, "rope.sin", rope.sin());
            if (d % 2 != 0) throw new IllegalArgumentException("head dim D must be even for RoPE, got " + d);
            if (rope.halfDim() != d / 2)
                throw new IllegalArgumentException("rope tables have D/2 = " + rope.halfDim() + " but q has D = " + d);
            long needed = maxStart + maxSeqLen(cuSeqlens, t);
            if (rope.positions() < needed)
                throw new IllegalArgumentException("rope tables cover " + rope.positions()
                        + " positions but this call needs " + needed);
        }
        return new AttnDims(b, t, hq, hkv, d, n);
    }

    private static liger_attn_params attnParams(Placement at, AttnDims d, LigerAttnConfig c, Tensor q, Tensor k,
                                                Tensor v, RopeTables rope, Tensor cuSeqlens) {
        liger_attn_params p = ATTN_PARAMS.get().zero();
        p.device(at.device()).stream(at.stream()).num_threads(0);
        p.B(d.b).T(d.t).Hq(d.hq).Hkv(d.hkv).D(d.d);
        p.variant(c.variant().code).use_gate(c.useGate() ? 1 : 0).gate_norm(c.gateNorm()).mix(c.mix())
                .window(c.window()).swa_scale(c.swaScaleFor(d.d)).f16_mode(c.f16Mode().code);
        describe(p.q(), q);
        describe(p.k(), k);
        describe(p.v(), v);
        describe(p.rope_cos(), rope == null ? null : rope.cos());
        describe(p.rope_sin(), rope == null ? null : rope.sin());
        describe(p.cu_seqlens(), cuSeqlens);
        for (liger_tensor absent : new liger_tensor[] {p.o(), p.do_(), p.dq(), p.dk(), p.dv(), p.saved()})
            describe(absent, null);
        describeCache(p.cache_in(), null);
        describeCache(p.cache_out(), null);
        return p;
    }

    // ---------------------------------------------------------------- argument checks

    private static void checkInput(String name, Tensor t, int rank) {
        if (t == null || !t.defined()) throw new IllegalArgumentException(name + " is required");
        if (t.dim() != rank)
            throw new IllegalArgumentException(name + " must have rank " + rank + ", got " + shapeOf(t));
        for (int i = 0; i < rank; i++)
            if (t.size(i) <= 0) throw new IllegalArgumentException(name + " has an empty dimension: " + shapeOf(t));
    }

    /** q decides where a call runs; every other tensor is then checked against q. */
    private static void checkPlacement(Tensor q) {
        if (!q.is_cpu() && !q.is_cuda())
            throw new IllegalArgumentException("q must be a CPU or CUDA tensor, got one on " + deviceName(q));
    }

    /** One call, one device: every tensor must sit where q does (same device type and index). */
    private static void checkDevice(Tensor ref, String name, Tensor t) {
        if (t == null || !t.defined()) throw new IllegalArgumentException(name + " is required");
        String at = deviceName(t), want = deviceName(ref);
        if (!at.equals(want))
            throw new IllegalArgumentException(name + " is on " + at + " but q is on " + want
                    + "; all tensors of one call must be on one device");
    }

    /** libtorch's device string, e.g. {@code cpu} or {@code cuda:0}. */
    static String deviceName(Tensor t) {
        return t.device().str().getString();
    }

    private static void checkInputDtype(String name, Tensor t) {
        ScalarType s = t.scalar_type().intern();
        if (t.is_cuda()) {
            if (s != ScalarType.Float && s != ScalarType.BFloat16 && s != ScalarType.Half)
                throw new IllegalArgumentException(name + " dtype must be F32, BF16 or F16 on CUDA, got " + s);
        } else if (s != ScalarType.Float && s != ScalarType.BFloat16) {
            throw new IllegalArgumentException(name + " dtype must be F32 or BF16 on CPU, got " + s);
        }
    }

    private static void sameDtype(String name, Tensor t, Tensor q) {
        if (t.scalar_type().intern() != q.scalar_type().intern())
            throw new IllegalArgumentException(name + " dtype " + t.scalar_type().intern() + " differs from q dtype " + q.scalar_type().intern());
    }

    private static void checkShape(String name, Tensor t, long... dims) {
        boolean ok = t.dim() == dims.length;
        for (int i = 0; ok && i < dims.length; i++) ok = t.size(i) == dims[i];
        if (!ok) throw new IllegalArgumentException(name + " must be " + Arrays.toString(dims) + ", got " + shapeOf(t));
    }

    private static void checkHeads(long hq, long hkv) {
        if (hq % hkv != 0)
            throw new IllegalArgumentException("Hq (" + hq + ") must be a multiple of Hkv (" + hkv + ")");
    }

    /** Returns N (number of sequences). */
    private static long checkCuSeqlens(Tensor cu, Tensor q, long b, long t) {
        if (cu == null) return b;
        if (!cu.defined()) throw new IllegalArgumentException("cu_seqlens is an undefined tensor");
        checkDevice(q, "cu_seqlens", cu);
        if (cu.scalar_type().intern() != ScalarType.Long || cu.dim() != 1 || cu.size(0) < 2)
            throw new IllegalArgumentException("cu_seqlens must be I64 [N+1] with N >= 1, got "
                    + cu.scalar_type().intern() + " " + shapeOf(cu));
        if (b != 1) throw new IllegalArgumentException("cu_seqlens needs a packed batch with B == 1, got B = " + b);
        long[] c = longs(cu);
        if (c[0] != 0) throw new IllegalArgumentException("cu_seqlens[0] must be 0, got " + c[0]);
        for (int i = 1; i < c.length; i++)
            if (c[i] < c[i - 1]) throw new IllegalArgumentException("cu_seqlens must be non-decreasing: " + Arrays.toString(c));
        if (c[c.length - 1] != t)
            throw new IllegalArgumentException("cu_seqlens[N] must equal T = " + t + ", got " + c[c.length - 1]);
        return c.length - 1;
    }

    private static long maxSeqLen(Tensor cu, long t) {
        if (cu == null) return t;
        long[] c = longs(cu);
        long m = 0;
        for (int i = 1; i < c.length; i++) m = Math.max(m, c[i] - c[i - 1]);
        return m;
    }

    private static Tensor checkState(String name, Tensor s, Tensor q, long... dims) {
        if (s == null || !s.defined()) throw new IllegalArgumentException(name + " is required");
        checkDevice(q, name, s);
        if (s.scalar_type().intern() != ScalarType.Float)
            throw new IllegalArgumentException(name + " must be F32, got " + s.scalar_type().intern());
        checkShape(name, s, dims);
        if (!s.is_contiguous()) throw new IllegalArgumentException(name + " must be contiguous");
        return s;
    }

    /** The saved-states buffer (null: none): F32, one contiguous dimension, on q's device; its size is native's check. */
    private static void checkSaved(Tensor q, Tensor saved) {
        if (saved == null) return;
        checkDevice(q, "saved", saved);
        if (saved.scalar_type().intern() != ScalarType.Float)
            throw new IllegalArgumentException("saved must be F32, got " + saved.scalar_type().intern());
        if (saved.dim() != 1 || !saved.is_contiguous())
            throw new IllegalArgumentException("saved must be one contiguous dimension, got " + shapeOf(saved));
    }

    private static Tensor checkSeq(String name, Tensor t, Tensor like, long... dims) {
        if (t == null || !t.defined()) throw new IllegalArgumentException(name + " is required");
        checkDevice(like, name, t);
        sameDtype(name, t, like);
        checkShape(name, t, dims);
        return t;
    }

    private static Tensor checkOut(String name, Tensor t, Tensor like, long... dims) {
        checkSeq(name, t, like, dims);
        return t;
    }

    private static Tensor newTensor(Tensor like, ScalarType dtype, long... dims) {
        return like.new_empty(dims, new TensorOptions(dtype));
    }

    /** A fresh CPU I64 tensor holding {@code values} (e.g. cu_seqlens). */
    public static Tensor longTensor(long... values) {
        Tensor t = torch.zeros(new long[] {values.length}, new TensorOptions(ScalarType.Long));
        if (values.length > 0) t.data_ptr_long().put(values);
        return t;
    }

    /** The values of an I64 tensor (a CUDA tensor is copied to the host first). */
    public static long[] longs(Tensor t) {
        Tensor c = t.cpu().contiguous();
        long[] out = new long[(int) c.numel()];
        LongPointer lp = c.data_ptr_long();
        lp.get(out);
        Reference.reachabilityFence(c);
        return out;
    }

    /** Human-readable shape, e.g. {@code [1, 64, 4, 128]}. */
    public static String shapeOf(Tensor t) {
        if (t == null || !t.defined()) return "<undefined>";
        long[] s = new long[(int) t.dim()];
        for (int i = 0; i < s.length; i++) s[i] = t.size(i);
        return Arrays.toString(s);
    }

    // ---------------------------------------------------------------- C ABI description

    /**
     * Where a call runs: the CPU (no stream), or q's CUDA device made current with libtorch's current
     * stream on it. {@link CudaLaunch} is touched only on the CUDA branch.
     */
    private record Placement(int device, Pointer stream, CudaLaunch cuda) implements AutoCloseable {
        private static final Placement CPU = new Placement(LigerKernels.LIGER_CPU, null, null);

        static Placement of(Tensor q) {
            if (!q.is_cuda()) return CPU;
            CudaLaunch launch = CudaLaunch.on(q);
            return new Placement(LigerKernels.LIGER_CUDA, launch.stream, launch);
        }

        @Override
        public void close() {
            if (cuda != null) cuda.close();
        }
    }

    private static void describe(liger_tensor lt, Tensor t) {
        for (int i = 0; i < 4; i++) lt.shape(i, 1).stride(i, 0);
        if (t == null) {
            lt.data(null).dtype(LigerKernels.LIGER_F32).ndim(0);
            return;
        }
        int nd = (int) t.dim();
        if (nd < 1 || nd > 4) throw new IllegalArgumentException("tensor rank must be 1..4, got " + shapeOf(t));
        lt.data(t.data_ptr()).dtype(dtypeCode(t.scalar_type().intern())).ndim(nd);
        for (int i = 0; i < nd; i++) lt.shape(i, t.size(i)).stride(i, t.stride(i));
    }

    private static void describeCache(liger_cache c, LigerCache cache) {
        describe(c.state(), cache == null ? null : cache.state());
        describe(c.win_k(), cache == null ? null : cache.winK());
        describe(c.win_v(), cache == null ? null : cache.winV());
        describe(c.pos(), cache == null ? null : cache.pos());
    }

    private static int dtypeCode(ScalarType s) {
        return switch (s) {
            case Float -> LigerKernels.LIGER_F32;
            case BFloat16 -> LigerKernels.LIGER_BF16;
            case Half -> LigerKernels.LIGER_F16;
            case Long -> LigerKernels.LIGER_I64;
            default -> throw new IllegalArgumentException("dtype " + s + " has no liger_dtype");
        };
    }

    private static void check(String entryPoint, int status) {
        if (status != LigerKernels.LIGER_OK)
            throw new LigerKernelException(entryPoint, status, LigerKernels.liger_last_error().getString());
    }

    /** Sets the library's default CPU thread count (calls pass 0 = default). */
    public static void setNumThreads(int n) {
        check("liger_set_num_threads", LigerKernels.liger_set_num_threads(n));
    }
}
