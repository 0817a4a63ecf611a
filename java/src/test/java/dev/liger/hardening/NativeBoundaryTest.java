package dev.liger.hardening;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.liger.kernels.KernelTestSupport;
import dev.liger.kernels.LigerAttnConfig;
import dev.liger.kernels.LigerCache;
import dev.liger.kernels.LigerKernelException;
import dev.liger.kernels.LigerKernels;
import dev.liger.kernels.LigerKernels.liger_attn_params;
import dev.liger.kernels.LigerKernels.liger_gla_params;
import dev.liger.kernels.LigerKernels.liger_tensor;
import dev.liger.kernels.LigerOps;
import dev.liger.kernels.RopeTables;
import java.lang.ref.Reference;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import java.util.stream.Stream;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.DeviceOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.function.Executable;

/**
 * The native boundary, table-driven: each class of wrong argument is sent to every entry point, first
 * through the Tensor-level {@link LigerOps} (which must refuse it with an exception naming the argument
 * before native code runs) and then, for what only the raw C ABI can express (negative or overflowing
 * strides, aliasing outputs, NULL pointers, bad dtype/device codes, bad cu_seqlens contents), through
 * {@link LigerKernels} directly, where native code must return an error status and a message naming the
 * argument. After the whole table the library still computes the same result as before it: nothing was
 * written through a bad descriptor and the process is intact.
 */
class NativeBoundaryTest {
    static final long B = 1, T = 8, HQ = 4, HKV = 2, D = 16;
    static final ScalarType F = ScalarType.Float;
    static final LigerAttnConfig CFG = LigerAttnConfig.defaults().withWindow(4);
    static final RopeTables ROPE = RopeTables.standard(10000, (int) D, 64);

    static Tensor f(long... dims) {
        return KernelTestSupport.randn(0.5, dims).to(F);
    }

    final Tensor q = f(B, T, HQ, D), k = f(B, T, HKV, D), v = f(B, T, HKV, D);
    final Tensor g = f(B, T, HKV, D).sigmoid().log().div(new org.bytedeco.pytorch.Scalar(16));
    final Tensor dO = f(B, T, HQ, D);

    /** One row of the table: what is wrong, the call, and the word(s) the message must contain. */
    record Case(String entry, String fault, Class<? extends Throwable> type, String fragment, Executable call) {}

    /** The five Tensor-level entry points, each taking (possibly faulty) q, k, v and extras. */
    interface Entry {
        void call(Tensor q, Tensor k, Tensor v, Tensor cu, Object extra);
    }

    private final Entry glaFwd = (q, k, v, cu, extra) -> LigerOps.glaForward(q, k, v, gLike(q, k), 1f, (Tensor) extra, cu, true);
    private final Entry glaBwd = (q, k, v, cu, extra) -> LigerOps.glaBackward(q, k, v, gLike(q, k), 1f, (Tensor) extra, cu, doLike(q), null, true);
    private final Entry attnFwd = (q, k, v, cu, extra) -> LigerOps.attnForward(q, k, v, CFG, ROPE, cu, (LigerCache) extra, true);
    private final Entry attnBwd = (q, k, v, cu, extra) -> LigerOps.attnBackward(q, k, v, doLike(q), CFG, ROPE, cu);
    private final Entry attnDec = (q, k, v, cu, extra) -> LigerOps.attnDecode(q, k, v, CFG, ROPE,
            extra == null ? LigerCache.empty(q == null || !q.defined() || q.dim() != 4 ? 1 : q.size(0), HKV, D, CFG.window()) : (LigerCache) extra);

    private final Entry gdnFwd = (q, k, v, cu, extra) -> LigerOps.gdnForward(q, k, v, gateLike(q), betaLike(q), 1f, (Tensor) extra, cu, true);
    private final Entry gdnBwd = (q, k, v, cu, extra) -> LigerOps.gdnBackward(q, k, v, gateLike(q), betaLike(q), 1f, (Tensor) extra, cu,
            doLike(q), null, true);
    private final Entry gdnDec = (q, k, v, cu, extra) -> LigerOps.gdnDecode(q, k, v, gateLike(q), betaLike(q), 1f,
            extra == null ? torch.zeros(new long[] {q == null || !q.defined() || q.dim() != 4 ? 1 : q.size(0), HKV, D, D}, new TensorOptions(F)) : (Tensor) extra);

    /** Scalar gates [B,T,Hkv] of the gated delta rule matching q when q is well-formed. */
    private Tensor gateLike(Tensor q) {
        boolean ok = q != null && q.defined() && q.dim() == 4 && q.is_cpu() && q.size(0) > 0 && q.size(1) > 0;
        return ok ? torch.randn(new long[] {q.size(0), q.size(1), HKV}, new TensorOptions(F)).sigmoid().log() : g.select(3, 0);
    }

    private Tensor betaLike(Tensor q) {
        return torch.ones_like(gateLike(q));
    }

    /** g matching k when k is well-formed (so the fault under test is the one reported). */
    private Tensor gLike(Tensor q, Tensor k) {
        if (k == null || !k.defined() || k.dim() != 4 || k.size(2) <= 0 || k.size(3) <= 0 || !k.is_cpu()) return g;
        Tensor gg = torch.randn_like(k.to(F)).sigmoid().log().to(k.scalar_type());
        return k.scalar_type() == ScalarType.Double ? gg.to(F) : gg;
    }

    private Tensor doLike(Tensor q) {
        return q == null || !q.defined() || !q.is_cpu() ? dO : torch.randn_like(q);
    }

    private static Tensor meta(long... dims) {
        return torch.empty(dims, new TensorOptions(F).device(new DeviceOptional(new Device("meta"))), null);
    }

    private List<Case> tensorLevelCases() {
        List<Case> cases = new ArrayList<>();
        Class<IllegalArgumentException> iae = IllegalArgumentException.class;
        Object[][] entries = {{"glaForward", glaFwd}, {"glaBackward", glaBwd}, {"attnForward", attnFwd},
                {"attnBackward", attnBwd}, {"attnDecode", attnDec}, {"gdnForward", gdnFwd}, {"gdnBackward", gdnBwd},
                {"gdnDecode", gdnDec}};
        for (Object[] e : entries) {
            String name = (String) e[0];
            Entry en = (Entry) e[1];
            boolean decode = name.endsWith("Decode");
            long t = decode ? 1 : T;
            Tensor q1 = decode ? q.narrow(1, 0, 1) : q, k1 = decode ? k.narrow(1, 0, 1) : k, v1 = decode ? v.narrow(1, 0, 1) : v;
            cases.add(new Case(name, "null q", iae, "q is required", () -> en.call(null, k1, v1, null, null)));
            cases.add(new Case(name, "undefined k", iae, "k is required", () -> en.call(q1, new Tensor(), v1, null, null)));
            cases.add(new Case(name, "wrong dtype (F64 q)", iae, "q dtype", () -> en.call(q1.to(ScalarType.Double), k1, v1, null, null)));
            cases.add(new Case(name, "mixed dtype (BF16 v)", iae, "v dtype", () -> en.call(q1, k1, v1.to(ScalarType.BFloat16), null, null)));
            cases.add(new Case(name, "wrong device (meta q)", iae, "q must be a CPU or CUDA tensor", () -> en.call(meta(B, t, HQ, D), k1, v1, null, null)));
            cases.add(new Case(name, "wrong device (meta v)", iae, "v is on meta but q is on", () -> en.call(q1, k1, meta(B, t, HKV, D), null, null)));
            cases.add(new Case(name, "wrong rank (k 3-D)", iae, "k must have rank 4", () -> en.call(q1, k1.squeeze(0), v1, null, null)));
            cases.add(new Case(name, "wrong shape (v length)", iae, "v must be", () -> en.call(q1, k1, f(B, t + 1, HKV, D), null, null)));
            cases.add(new Case(name, "wrong shape (k batch)", iae, "k must be", () -> en.call(q1, f(B + 1, t, HKV, D), v1, null, null)));
            cases.add(new Case(name, "Hq % Hkv != 0", iae, "multiple of Hkv", () -> en.call(f(B, t, 3, D), k1, v1, null, null)));
            cases.add(new Case(name, "T = 0", iae, decode ? "T == 1" : "empty dimension",
                    () -> en.call(f(B, 0, HQ, D), f(B, 0, HKV, D), f(B, 0, HKV, D), null, null)));
            if (!decode) {
                cases.add(new Case(name, "cu_seqlens not starting at 0", iae, "cu_seqlens[0] must be 0",
                        () -> en.call(q, k, v, LigerOps.longTensor(1, 8), null)));
                cases.add(new Case(name, "cu_seqlens decreasing", iae, "non-decreasing",
                        () -> en.call(q, k, v, LigerOps.longTensor(0, 6, 2, 8), null)));
                cases.add(new Case(name, "cu_seqlens not ending at T", iae, "cu_seqlens[N] must equal T",
                        () -> en.call(q, k, v, LigerOps.longTensor(0, 3, 9), null)));
                cases.add(new Case(name, "cu_seqlens wrong dtype", iae, "cu_seqlens must be I64",
                        () -> en.call(q, k, v, torch.zeros(new long[] {3}, new TensorOptions(ScalarType.Int)), null)));
                cases.add(new Case(name, "cu_seqlens with B > 1", iae, "B == 1",
                        () -> en.call(f(2, T, HQ, D), f(2, T, HKV, D), f(2, T, HKV, D), LigerOps.longTensor(0, 8), null)));
            }
        }
        // State / cache arguments: shape mismatch, dtype, contiguity.
        Tensor h0 = torch.zeros(new long[] {B, HKV, D, D}, new TensorOptions(F));
        cases.add(new Case("glaForward", "h0 shape mismatch", iae, "h0 must be", () -> glaFwd.call(q, k, v, null, f(B, HKV + 1, D, D))));
        cases.add(new Case("glaForward", "h0 wrong dtype", iae, "h0 must be F32", () -> glaFwd.call(q, k, v, null, h0.to(ScalarType.BFloat16))));
        cases.add(new Case("glaForward", "h0 non-contiguous", iae, "h0 must be contiguous", () -> glaFwd.call(q, k, v, null, f(B, HKV, D, D).transpose(2, 3))));
        cases.add(new Case("glaBackward", "h0 shape mismatch", iae, "h0 must be", () -> glaBwd.call(q, k, v, null, f(2, HKV, D, D))));
        cases.add(new Case("attnForward", "cache state shape mismatch", iae, "cacheIn.state must be",
                () -> attnFwd.call(q, k, v, null, LigerCache.empty(B, HKV + 2, D, CFG.window()))));
        cases.add(new Case("attnForward", "cache window shape mismatch", iae, "cacheIn.winK must be",
                () -> attnFwd.call(q, k, v, null, LigerCache.empty(B, HKV, D, CFG.window() + 3))));
        cases.add(new Case("attnForward", "cache sequences != cu_seqlens N", iae, "cacheIn.state must be",
                () -> attnFwd.call(q, k, v, LigerOps.longTensor(0, 4, 8), LigerCache.empty(B, HKV, D, CFG.window()))));
        cases.add(new Case("attnDecode", "cache state shape mismatch", iae, "cache.state must be",
                () -> attnDec.call(q.narrow(1, 0, 1), k.narrow(1, 0, 1), v.narrow(1, 0, 1), null, LigerCache.empty(B, HKV, D / 2, CFG.window()))));
        cases.add(new Case("attnDecode", "T != 1", iae, "one token per sequence", () -> attnDec.call(q, k, v, null, null)));
        cases.add(new Case("attnDecode", "negative cache position", iae, "pos must be >= 0", () -> {
            LigerCache c = LigerCache.empty(B, HKV, D, CFG.window());
            c.pos().fill_(new org.bytedeco.pytorch.Scalar(-3));
            attnDec.call(q.narrow(1, 0, 1), k.narrow(1, 0, 1), v.narrow(1, 0, 1), null, c);
        }));
        cases.add(new Case("attnDecode", "cache position past the RoPE table", iae, "rope tables cover", () -> {
            LigerCache c = LigerCache.empty(B, HKV, D, CFG.window());
            c.pos().fill_(new org.bytedeco.pytorch.Scalar(1000));
            attnDec.call(q.narrow(1, 0, 1), k.narrow(1, 0, 1), v.narrow(1, 0, 1), null, c);
        }));
        cases.add(new Case("attnDecode", "cache aliasing the query", LigerKernelException.class, "overlaps input q", () -> {
            // q is a view into the cache's own state, which decode overwrites in place.
            LigerCache c = LigerCache.empty(B, HKV, D, CFG.window());
            Tensor qa = c.state().view(-1).narrow(0, 0, HQ * D).view(B, 1, HQ, D);
            attnDec.call(qa, k.narrow(1, 0, 1), v.narrow(1, 0, 1), null, c);
        }));
        cases.add(new Case("attnDecode", "null cache", iae, "cache is required",
                () -> LigerOps.attnDecode(q.narrow(1, 0, 1), k.narrow(1, 0, 1), v.narrow(1, 0, 1), CFG, ROPE, null)));
        cases.add(new Case("attnForward", "null config", iae, "config", () -> LigerOps.attnForward(q, k, v, null, ROPE, null, null, false)));
        cases.add(new Case("attnForward", "RoPE table too short", iae, "rope tables cover",
                () -> LigerOps.attnForward(q, k, v, CFG, RopeTables.standard(10000, (int) D, 4), null, null, false)));
        cases.add(new Case("gdnForward", "h0 shape mismatch", iae, "h0 must be", () -> gdnFwd.call(q, k, v, null, f(B, HKV, D, D / 2))));
        cases.add(new Case("gdnDecode", "state wrong dtype", iae, "h0 must be F32",
                () -> gdnDec.call(q.narrow(1, 0, 1), k.narrow(1, 0, 1), v.narrow(1, 0, 1), null, h0.to(ScalarType.BFloat16))));
        cases.add(new Case("gdnDecode", "state aliasing the query", LigerKernelException.class, "overlaps input q", () -> {
            // q is a view into the state, which decode overwrites in place.
            Tensor st = torch.zeros(new long[] {B, HKV, D, D}, new TensorOptions(F));
            gdnDec.call(st.view(-1).narrow(0, 0, HQ * D).view(B, 1, HQ, D), k.narrow(1, 0, 1), v.narrow(1, 0, 1), null, st);
        }));
        cases.add(new Case("gdnForward", "beta of another shape", iae, "beta must be",
                () -> LigerOps.gdnForward(q, k, v, gateLike(q), torch.ones(new long[] {B, T, HQ}), 1f, null, null, false)));
        cases.add(new Case("glaForward", "non-finite scale", iae, "scale must be finite",
                () -> LigerOps.glaForward(q, k, v, g, Float.POSITIVE_INFINITY, null, null, false)));
        return cases;
    }

    @TestFactory
    Stream<DynamicTest> tensorLevelChecksNameTheArgument() {
        return tensorLevelCases().stream().map(c -> DynamicTest.dynamicTest(c.entry() + ": " + c.fault(), () -> {
            Throwable e = assertThrows(c.type(), c.call(), c.entry() + " accepted " + c.fault());
            assertNotNull(e.getMessage());
            assertTrue(e.getMessage().contains(c.fragment()),
                    c.entry() + " / " + c.fault() + ": message '" + e.getMessage() + "' should mention '" + c.fragment() + "'");
        }));
    }

    // ------------------------------------------------------------ raw C ABI

    private static void describe(liger_tensor lt, Tensor t) {
        for (int i = 0; i < 4; i++) lt.shape(i, 1).stride(i, 0);
        if (t == null) {
            lt.data(null).dtype(LigerKernels.LIGER_F32).ndim(0);
            return;
        }
        int code = t.scalar_type().intern() == ScalarType.Long ? LigerKernels.LIGER_I64 : LigerKernels.LIGER_F32;
        lt.data(t.data_ptr()).dtype(code).ndim((int) t.dim());
        for (int i = 0; i < t.dim(); i++) lt.shape(i, t.size(i)).stride(i, t.stride(i));
    }

    /** A fully valid raw GLA descriptor over fresh tensors (kept reachable by {@code keep}). */
    private liger_gla_params validGla(List<Tensor> keep, boolean backward) {
        liger_gla_params p = new liger_gla_params();
        p.device(LigerKernels.LIGER_CPU).num_threads(1).B(B).T(T).Hq(HQ).Hkv(HKV).Dk(D).Dv(D).scale(1f);
        describe(p.q(), q);
        describe(p.k(), k);
        describe(p.v(), v);
        describe(p.g(), g);
        for (liger_tensor t : new liger_tensor[] {p.o(), p.ht(), p.cu_seqlens(), p.h0(), p.do_(), p.dht(), p.dq(), p.dk(), p.dv(), p.dg(), p.dh0()}) describe(t, null);
        keep.addAll(List.of(q, k, v, g, dO));
        if (!backward) {
            Tensor o = torch.empty_like(q), ht = torch.zeros(new long[] {B, HKV, D, D}, new TensorOptions(F));
            keep.addAll(List.of(o, ht));
            describe(p.o(), o);
            describe(p.ht(), ht);
        } else {
            Tensor dq = torch.empty_like(q), dk = torch.empty_like(k), dv = torch.empty_like(v), dg = torch.empty_like(g);
            Tensor dh0 = torch.zeros(new long[] {B, HKV, D, D}, new TensorOptions(F));
            keep.addAll(List.of(dq, dk, dv, dg, dh0));
            describe(p.do_(), dO);
            describe(p.dq(), dq);
            describe(p.dk(), dk);
            describe(p.dv(), dv);
            describe(p.dg(), dg);
            describe(p.dh0(), dh0);
        }
        return p;
    }

    /** The first output of a descriptor: o in forward and decode, dq in backward. */
    private static liger_tensor firstOut(liger_gla_params p) {
        return p.o().data() != null ? p.o() : p.dq();
    }

    private static liger_tensor firstOut(liger_attn_params p) {
        return p.o().data() != null ? p.o() : p.dq();
    }

    /** The final-state tensor: ht in forward, dh0 in backward. */
    private static liger_tensor stateOut(liger_gla_params p) {
        return p.ht().data() != null ? p.ht() : p.dh0();
    }

    private liger_attn_params validAttn(List<Tensor> keep, int op) {
        boolean decode = op == 2;
        long t = decode ? 1 : T;
        Tensor qq = q.narrow(1, 0, t).contiguous(), kk = k.narrow(1, 0, t).contiguous(), vv = v.narrow(1, 0, t).contiguous();
        Tensor o = torch.empty(new long[] {B, t, HQ, D}, new TensorOptions(F), null);
        LigerCache c = LigerCache.empty(B, HKV, D, CFG.window());
        keep.addAll(List.of(qq, kk, vv, o, ROPE.cos(), ROPE.sin(), c.state(), c.winK(), c.winV(), c.pos()));
        liger_attn_params p = new liger_attn_params();
        p.device(LigerKernels.LIGER_CPU).num_threads(1).B(B).T(t).Hq(HQ).Hkv(HKV).D(D);
        p.variant(0).use_gate(1).gate_norm(16f).mix(0.5f).window(CFG.window()).swa_scale(0.25f);
        describe(p.q(), qq);
        describe(p.k(), kk);
        describe(p.v(), vv);
        describe(p.o(), o);
        describe(p.rope_cos(), ROPE.cos());
        describe(p.rope_sin(), ROPE.sin());
        for (liger_tensor x : new liger_tensor[] {p.cu_seqlens(), p.do_(), p.dq(), p.dk(), p.dv(),
                p.cache_out().state(), p.cache_out().win_k(), p.cache_out().win_v(), p.cache_out().pos()}) describe(x, null);
        if (decode) {
            describe(p.cache_in().state(), c.state());
            describe(p.cache_in().win_k(), c.winK());
            describe(p.cache_in().win_v(), c.winV());
            describe(p.cache_in().pos(), c.pos());
        } else {
            for (liger_tensor x : new liger_tensor[] {p.cache_in().state(), p.cache_in().win_k(), p.cache_in().win_v(), p.cache_in().pos()}) describe(x, null);
        }
        if (op == 1) {
            Tensor dq = torch.empty_like(qq), dk = torch.empty_like(kk), dv = torch.empty_like(vv), d = torch.randn_like(qq);
            keep.addAll(List.of(dq, dk, dv, d));
            describe(p.o(), null);
            describe(p.do_(), d);
            describe(p.dq(), dq);
            describe(p.dk(), dk);
            describe(p.dv(), dv);
        }
        return p;
    }

    record RawCase(String fault, String fragment, Consumer<liger_gla_params> gla, Consumer<liger_attn_params> attn) {}

    private static RawCase both(String fault, String fragment, Consumer<liger_gla_params> gla, Consumer<liger_attn_params> attn) {
        return new RawCase(fault, fragment, gla, attn);
    }

    private List<RawCase> rawCases(List<Tensor> keep) {
        Tensor cuBad = LigerOps.longTensor(0, 5, 3, 8), cuStart = LigerOps.longTensor(2, 8), cuEnd = LigerOps.longTensor(0, 4, 7);
        keep.addAll(List.of(cuBad, cuStart, cuEnd));
        List<RawCase> r = new ArrayList<>();
        r.add(both("null q data", "q is required", p -> p.q().data(null), p -> p.q().data(null)));
        r.add(both("negative stride", "is negative", p -> p.k().stride(1, -HKV * D), p -> p.k().stride(1, -HKV * D)));
        r.add(both("overflowing stride", "too large", p -> p.v().stride(0, Long.MAX_VALUE / 2), p -> p.v().stride(0, Long.MAX_VALUE / 2)));
        r.add(both("rank mismatch", "q.ndim", p -> p.q().ndim(3), p -> p.q().ndim(3)));
        r.add(both("unknown dtype code", "dtype", p -> p.q().dtype(42), p -> p.q().dtype(42)));
        r.add(both("I64 input", "dtype", p -> p.q().dtype(LigerKernels.LIGER_I64), p -> p.q().dtype(LigerKernels.LIGER_I64)));
        r.add(both("unknown device", "device", p -> p.device(7), p -> p.device(7)));
        r.add(both("negative threads", "num_threads", p -> p.num_threads(-2), p -> p.num_threads(-2)));
        r.add(both("T = 0", "T = 0", p -> p.T(0), p -> p.T(0)));
        r.add(both("huge T", "T", p -> p.T(1L << 40), p -> p.T(1L << 40)));
        r.add(both("Hq % Hkv != 0", "multiple of Hkv", p -> p.Hkv(3), p -> p.Hkv(3)));
        r.add(both("shape disagrees with dims", "shape", p -> p.k().shape(2, HKV + 1), p -> p.k().shape(2, HKV + 1)));
        r.add(both("output aliases input", "overlaps input", p -> firstOut(p).data(p.q().data()), p -> firstOut(p).data(p.q().data())));
        r.add(both("output with overlapping elements", "overlapping elements", p -> firstOut(p).stride(2, 0), p -> firstOut(p).stride(2, 0)));
        r.add(both("cu_seqlens decreasing", "cu_seqlens", p -> describe(p.cu_seqlens(), cuBad), p -> describe(p.cu_seqlens(), cuBad)));
        r.add(both("cu_seqlens[0] != 0", "cu_seqlens[0]", p -> describe(p.cu_seqlens(), cuStart), p -> describe(p.cu_seqlens(), cuStart)));
        r.add(both("cu_seqlens[N] != T", "cu_seqlens[N]", p -> describe(p.cu_seqlens(), cuEnd), p -> describe(p.cu_seqlens(), cuEnd)));
        r.add(both("cu_seqlens F32", "cu_seqlens", p -> { describe(p.cu_seqlens(), cuEnd); p.cu_seqlens().dtype(LigerKernels.LIGER_F32); },
                p -> { describe(p.cu_seqlens(), cuEnd); p.cu_seqlens().dtype(LigerKernels.LIGER_F32); }));
        r.add(new RawCase("final state shape mismatch", ".shape[1]", p -> stateOut(p).shape(1, HKV + 1), null));
        r.add(new RawCase("final state non-contiguous", "must be contiguous", p -> stateOut(p).stride(2, 1).stride(3, D), null));
        r.add(new RawCase("non-finite scale", "scale", p -> p.scale(Float.NaN), null));
        r.add(new RawCase("mix out of range", "mix", null, p -> p.mix(2f)));
        r.add(new RawCase("zero window", "window", null, p -> p.window(0)));
        r.add(new RawCase("rope missing", "rope_cos", null, p -> p.rope_cos().data(null)));
        r.add(new RawCase("cache_out shape mismatch", "cache_out.state", null, p -> {
            Tensor s = torch.zeros(new long[] {B, HKV, D, D + 1}, new TensorOptions(F));
            Tensor pos = LigerOps.longTensor(0);
            keep.add(s);
            keep.add(pos);
            describe(p.cache_out().state(), s);
            describe(p.cache_out().pos(), pos);
        }));
        return r;
    }

    @Test
    void rawEntriesReturnStatusAndNameTheArgument() {
        List<Tensor> keep = new ArrayList<>();
        List<String> failures = new ArrayList<>();
        int calls = 0;
        for (RawCase c : rawCases(keep)) {
            if (c.gla() != null) {
                for (boolean backward : new boolean[] {false, true}) {
                    liger_gla_params p = validGla(keep, backward);
                    c.gla().accept(p);
                    calls++;
                    String where = (backward ? "liger_gla_backward" : "liger_gla_forward") + " / " + c.fault();
                    int status = backward ? LigerKernels.liger_gla_backward(p) : LigerKernels.liger_gla_forward(p);
                    record(failures, where, status, c.fragment());
                    p.close();
                }
            }
            if (c.attn() != null) {
                for (int op = 0; op < 3; op++) {
                    boolean decode = op == 2;
                    // decode takes no cu_seqlens, T is 1 and it updates cache_in in place
                    if (decode && (c.fault().startsWith("cu_seqlens") || c.fault().contains("T") || c.fault().startsWith("cache_out"))) continue;
                    if (op == 1 && c.fault().startsWith("cache_out")) continue;
                    liger_attn_params p = validAttn(keep, op);
                    c.attn().accept(p);
                    calls++;
                    String entry = op == 0 ? "liger_attn_forward" : op == 1 ? "liger_attn_backward" : "liger_attn_decode";
                    int status = op == 0 ? LigerKernels.liger_attn_forward(p) : op == 1 ? LigerKernels.liger_attn_backward(p) : LigerKernels.liger_attn_decode(p);
                    record(failures, entry + " / " + c.fault(), status, c.fragment());
                    p.close();
                }
            }
        }
        // A NULL params pointer.
        calls += 2;
        record(failures, "liger_gla_forward / NULL params", LigerKernels.liger_gla_forward(null), "NULL");
        record(failures, "liger_attn_decode / NULL params", LigerKernels.liger_attn_decode(null), "NULL");
        Reference.reachabilityFence(keep);
        assertTrue(failures.isEmpty(), failures.size() + " of " + calls + " raw calls misbehaved:\n" + String.join("\n", failures));
        assertTrue(calls > 100, "table ran only " + calls + " raw calls");
    }

    private static void record(List<String> failures, String where, int status, String fragment) {
        String msg = LigerKernels.liger_last_error().getString();
        if (status != LigerKernels.LIGER_ERR_INVALID_ARGUMENT)
            failures.add(where + ": status " + status + " ('" + msg + "')");
        else if (!msg.contains(fragment))
            failures.add(where + ": message '" + msg + "' should mention '" + fragment + "'");
    }

    /** Non-contiguous inputs are legal (strided views): the result equals that of contiguous copies. */
    @Test
    void stridedInputsAreAcceptedAndEqualContiguous() {
        Tensor qs = f(B, HQ, T, D).transpose(1, 2), ks = f(B, HKV, T, D).transpose(1, 2), vs = f(B, HKV, T, D).transpose(1, 2);
        assertTrue(!qs.is_contiguous());
        Tensor a = LigerOps.attnForward(qs, ks, vs, CFG, ROPE, null, null, false).o();
        Tensor b = LigerOps.attnForward(qs.contiguous(), ks.contiguous(), vs.contiguous(), CFG, ROPE, null, null, false).o();
        assertEquals(0.0, KernelTestSupport.relErr(a, b), 1e-6);
    }

    /** The whole table leaves the library intact: a valid call gives bit-identical results before and after. */
    @Test
    void libraryIsIntactAfterTheTable() {
        Tensor before = LigerOps.attnForward(q, k, v, CFG, ROPE, null, null, false).o();
        for (Case c : tensorLevelCases()) {
            try {
                c.call().execute();
            } catch (Throwable ignored) {
                // the table test checks the exceptions; this one checks what they leave behind
            }
        }
        rawEntriesReturnStatusAndNameTheArgument();
        Tensor after = LigerOps.attnForward(q, k, v, CFG, ROPE, null, null, false).o();
        assertTrue(before.equal(after), "results changed after the fault table");
    }
}
