package dev.liger.kernels;

import static dev.liger.kernels.KernelTestSupport.randn;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Supplier;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/**
 * Every class of bad argument gives a clear exception naming the argument: the Java checks in
 * {@link LigerOps} (IllegalArgumentException) and, below them, the native checks reached through the
 * raw binding (status and liger_last_error()), which must never crash the JVM.
 */
class LigerOpsArgumentTest {
    static final ScalarType F = ScalarType.Float;
    final LigerAttnConfig cfg = LigerAttnConfig.defaults();
    final RopeTables rope = RopeTables.standard(10000, 64, 256);

    static Tensor t(ScalarType dt, long... dims) {
        return randn(1, dims).to(dt);
    }

    static void expectMessage(Class<? extends Throwable> type, String fragment, Executable call) {
        Throwable e = assertThrows(type, call);
        assertTrue(e.getMessage().contains(fragment), "message '" + e.getMessage() + "' should mention '" + fragment + "'");
    }

    void attn(Tensor q, Tensor k, Tensor v) {
        LigerOps.attnForward(q, k, v, cfg, rope, null, null, false);
    }

    /**
     * The saved chunk states (liger_attn_params.saved) on the CPU: nothing to keep (numel 0), a given buffer is checked
     * and then ignored, and the outputs and gradients are the ones without it, bit for bit.
     */
    @Test
    void savedStatesOnTheCpu() {
        Tensor q = t(F, 1, 70, 4, 64), k = t(F, 1, 70, 2, 64), v = t(F, 1, 70, 2, 64), dO = t(F, 1, 70, 4, 64);
        assertEquals(0L, LigerOps.attnSavedNumel(q, k, v, cfg, rope, null));
        Tensor saved = torch.zeros(new long[] {32}, new org.bytedeco.pytorch.TensorOptions(F));
        Tensor o0 = LigerOps.attnForward(q, k, v, cfg, rope, null, null, false).o();
        Tensor o1 = LigerOps.attnForward(q, k, v, cfg, rope, null, saved).o();
        LigerOps.AttnGrads g0 = LigerOps.attnBackward(q, k, v, dO, cfg, rope, null);
        LigerOps.AttnGrads g1 = LigerOps.attnBackward(q, k, v, dO, cfg, rope, null, saved);
        assertTrue(o0.equal(o1), "forward with saved differs");
        assertTrue(g0.dq().equal(g1.dq()) && g0.dk().equal(g1.dk()) && g0.dv().equal(g1.dv()),
                "backward with saved differs");
        assertEquals(0.0, saved.abs().sum().item_double(), "the CPU wrote into saved");
        Class<IllegalArgumentException> iae = IllegalArgumentException.class;
        expectMessage(iae, "saved must be F32",
                () -> LigerOps.attnForward(q, k, v, cfg, rope, null, saved.to(ScalarType.Double)));
        expectMessage(iae, "saved must be one contiguous dimension",
                () -> LigerOps.attnBackward(q, k, v, dO, cfg, rope, null, saved.view(4, 8)));
    }

    @Test
    void javaChecksNameTheArgument() {
        Tensor q = t(F, 1, 8, 4, 64), k = t(F, 1, 8, 2, 64), v = t(F, 1, 8, 2, 64);
        Class<IllegalArgumentException> iae = IllegalArgumentException.class;
        expectMessage(iae, "q is required", () -> attn(null, k, v));
        expectMessage(iae, "k must have rank 4", () -> attn(q, t(F, 8, 2, 64), v));
        expectMessage(iae, "v must be", () -> attn(q, k, t(F, 1, 8, 2, 32)));
        expectMessage(iae, "k must be", () -> attn(q, t(F, 1, 9, 2, 64), v));
        expectMessage(iae, "multiple of Hkv", () -> attn(t(F, 1, 8, 3, 64), k, v));
        expectMessage(iae, "q dtype must be F32 or BF16", () -> attn(q.to(ScalarType.Double), k, v));
        expectMessage(iae, "k dtype", () -> attn(q, k.to(ScalarType.BFloat16), v));
        expectMessage(iae, "q has an empty dimension", () -> attn(t(F, 1, 0, 4, 64), t(F, 1, 0, 2, 64), t(F, 1, 0, 2, 64)));
        expectMessage(iae, "rope tables are required",
                () -> LigerOps.attnForward(q, k, v, cfg, null, null, null, false));
        expectMessage(iae, "rope tables have D/2 = 16",
                () -> LigerOps.attnForward(q, k, v, cfg, RopeTables.standard(10000, 32, 64), null, null, false));
        expectMessage(iae, "rope tables cover 4 positions",
                () -> LigerOps.attnForward(q, k, v, cfg, RopeTables.standard(10000, 64, 4), null, null, false));
        expectMessage(iae, "cu_seqlens[N] must equal T",
                () -> LigerOps.attnForward(q, k, v, cfg, rope, LigerOps.longTensor(0, 3, 7), null, false));
        expectMessage(iae, "cu_seqlens must be non-decreasing",
                () -> LigerOps.attnForward(q, k, v, cfg, rope, LigerOps.longTensor(0, 5, 3, 8), null, false));
        expectMessage(iae, "cu_seqlens must be I64",
                () -> LigerOps.attnForward(q, k, v, cfg, rope, torch.zeros(3), null, false));
        expectMessage(iae, "B == 1",
                () -> LigerOps.attnForward(t(F, 2, 8, 4, 64), t(F, 2, 8, 2, 64), t(F, 2, 8, 2, 64), cfg, rope,
                        LigerOps.longTensor(0, 8), null, false));
        expectMessage(iae, "cacheIn.state must be",
                () -> LigerOps.attnForward(q, k, v, cfg, rope, null, LigerCache.empty(1, 4, 64, 64), false));
        expectMessage(iae, "cacheIn.winK must be",
                () -> LigerOps.attnForward(q, k, v, cfg, rope, null, LigerCache.empty(1, 2, 64, 16), false));
        expectMessage(iae, "cache has no window buffers",
                () -> LigerOps.attnDecode(q.narrow(1, 0, 1), k.narrow(1, 0, 1), v.narrow(1, 0, 1), cfg, rope,
                        LigerCache.empty(1, 2, 64, 1)));
        expectMessage(iae, "one token per sequence",
                () -> LigerOps.attnDecode(q, k, v, cfg, rope, LigerCache.empty(1, 2, 64, 64)));
        expectMessage(iae, "do must be",
                () -> LigerOps.attnBackward(q, k, v, t(F, 1, 8, 4, 32), cfg, rope, null));
        expectMessage(iae, "mix must be in [0, 1]", () -> cfg.withMix(1.5f));
        expectMessage(iae, "window must be >= 1", () -> cfg.withWindow(0));
        expectMessage(iae, "gateNorm", () -> cfg.withGateNorm(0f));

        Tensor g = t(F, 1, 8, 2, 64);
        expectMessage(iae, "g must be", () -> LigerOps.glaForward(q, k, v, t(F, 1, 8, 2, 32), 1f, null, null, false));
        expectMessage(iae, "g must be F32 or the input dtype",
                () -> LigerOps.glaForward(q, k, v, g.to(ScalarType.Double), 1f, null, null, false));
        expectMessage(iae, "h0 must be", () -> LigerOps.glaForward(q, k, v, g, 1f, t(F, 1, 2, 64, 32), null, false));
        expectMessage(iae, "h0 must be F32",
                () -> LigerOps.glaForward(q, k, v, g, 1f, t(ScalarType.BFloat16, 1, 2, 64, 64), null, false));
        expectMessage(iae, "scale must be finite", () -> LigerOps.glaForward(q, k, v, g, Float.NaN, null, null, false));
        expectMessage(iae, "dht must be",
                () -> LigerOps.glaBackward(q, k, v, g, 1f, null, null, t(F, 1, 8, 4, 64), t(F, 2, 2, 64, 64), false));
    }

    /** Every tensor of a call must be where q is; tensors on neither the CPU nor CUDA are refused by name. */
    @Test
    void tensorsOfOneCallShareOneDevice() {
        Tensor q = t(F, 1, 8, 4, 64), k = t(F, 1, 8, 2, 64), v = t(F, 1, 8, 2, 64), g = t(F, 1, 8, 2, 64);
        Device meta = new Device("meta");
        Class<IllegalArgumentException> iae = IllegalArgumentException.class;
        expectMessage(iae, "k is on meta but q is on cpu", () -> attn(q, k.to(meta, F), v));
        expectMessage(iae, "v is on meta but q is on cpu", () -> attn(q, k, v.to(meta, F)));
        expectMessage(iae, "q must be a CPU or CUDA tensor, got one on meta",
                () -> attn(q.to(meta, F), k.to(meta, F), v.to(meta, F)));
        expectMessage(iae, "cu_seqlens is on meta",
                () -> LigerOps.attnForward(q, k, v, cfg, rope, LigerOps.longTensor(0, 3, 8).to(meta, ScalarType.Long),
                        null, false));
        expectMessage(iae, "rope.cos is on meta",
                () -> LigerOps.attnForward(q, k, v, cfg, new RopeTables(rope.cos().to(meta, F), rope.sin().to(meta, F)),
                        null, null, false));
        LigerCache c = LigerCache.empty(1, 2, 64, 64);
        expectMessage(iae, "cacheIn.state is on meta",
                () -> LigerOps.attnForward(q, k, v, cfg, rope, null,
                        new LigerCache(c.state().to(meta, F), c.winK(), c.winV(), c.pos()), false));
        expectMessage(iae, "cache.pos is on meta",
                () -> LigerOps.attnDecode(q.narrow(1, 0, 1), k.narrow(1, 0, 1), v.narrow(1, 0, 1), cfg, rope,
                        new LigerCache(c.state(), c.winK(), c.winV(), c.pos().to(meta, ScalarType.Long))));
        expectMessage(iae, "g is on meta", () -> LigerOps.glaForward(q, k, v, g.to(meta, F), 1f, null, null, false));
        expectMessage(iae, "h0 is on meta",
                () -> LigerOps.glaForward(q, k, v, g, 1f, t(F, 1, 2, 64, 64).to(meta, F), null, false));
        expectMessage(iae, "do is on meta",
                () -> LigerOps.attnBackward(q, k, v, t(F, 1, 8, 4, 64).to(meta, F), cfg, rope, null));
        // the CPU path still runs with all tensors on the CPU
        assertEquals(4, LigerOps.attnForward(q, k, v, cfg, rope, null, null, false).o().size(2));
    }

    /**
     * The per-thread parameter structs outlive a PointerScope that was open when the thread first made them: the
     * scope's close used to free them, and the thread's next call crashed the JVM in memset.
     */
    @Test
    void parameterStructsOutliveTheCallersPointerScope() throws Exception {
        LigerAttnConfig cfg = LigerAttnConfig.defaults();
        RopeTables rope = LigerOpsTest.rope(64);
        Tensor q = randn(1, 1, 8, 4, 64).to(F), k = randn(1, 1, 8, 2, 64).to(F), v = randn(1, 1, 8, 2, 64).to(F);
        Tensor g = randn(0.1, 1, 8, 2, 64).to(F).abs().neg();
        double[] err = new double[2];
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Thread fresh = new Thread(() -> {  // a thread whose structs do not exist yet
            try {
                Tensor o1, h1;
                try (PointerScope scope = new PointerScope()) {
                    o1 = LigerOps.attnForward(q, k, v, cfg, rope, null, null, false).o().clone().retainReference();
                    h1 = LigerOps.glaForward(q, k, v, g, 0.125f, null, null, false).o().clone().retainReference();
                }
                err[0] = KernelTestSupport.relErr(LigerOps.attnForward(q, k, v, cfg, rope, null, null, false).o(), o1);
                err[1] = KernelTestSupport.relErr(LigerOps.glaForward(q, k, v, g, 0.125f, null, null, false).o(), h1);
            } catch (Throwable t) {
                failure.set(t);
            }
        });
        fresh.start();
        fresh.join();
        if (failure.get() != null) throw new AssertionError(failure.get());
        assertTrue(err[0] <= 1e-6, "attention after the scope closed: " + err[0]);
        assertTrue(err[1] <= 1e-6, "GLA after the scope closed: " + err[1]);
    }

    /** A build without CUDA kernels answers a CUDA request with "unsupported", before touching memory. */
    @Test
    void cudaRequestWithoutCudaKernelsIsUnsupported() {
        assumeTrue(LigerKernels.liger_has_cuda() == 0, "this native library has CUDA kernels");
        Tensor q = t(F, 1, 8, 4, 64), k = t(F, 1, 8, 2, 64), v = t(F, 1, 8, 2, 64), o = t(F, 1, 8, 4, 64);
        LigerKernels.liger_attn_params p = new LigerKernels.liger_attn_params();
        p.device(LigerKernels.LIGER_CUDA).num_threads(0).B(1).T(8).Hq(4).Hkv(2).D(64);
        p.variant(0).use_gate(1).gate_norm(16f).mix(1f).window(64).swa_scale(0.125f);
        set(p.q(), q);
        set(p.k(), k);
        set(p.v(), v);
        set(p.o(), o);
        int status = LigerKernels.liger_attn_forward(p);
        String msg = LigerKernels.liger_last_error().getString();
        assertEquals(LigerKernels.LIGER_ERR_UNSUPPORTED, status, "status for '" + msg + "'");
        java.lang.ref.Reference.reachabilityFence(new Tensor[] {q, k, v, o});
    }

    /** The native layer validates on its own: raw calls with bad descriptors return a status and a message. */
    @Test
    void nativeChecksReturnStatusAndMessage() {
        Supplier<LigerKernels.liger_attn_params> valid = () -> {
            LigerKernels.liger_attn_params p = new LigerKernels.liger_attn_params();
            p.device(LigerKernels.LIGER_CPU).num_threads(1).B(1).T(8).Hq(4).Hkv(2).D(64);
            p.variant(0).use_gate(1).gate_norm(16f).mix(1f).window(64).swa_scale(0.125f);
            return p;
        };
        Tensor q = t(F, 1, 8, 4, 64), k = t(F, 1, 8, 2, 64), v = t(F, 1, 8, 2, 64), o = t(F, 1, 8, 4, 64);
        Tensor[] keep = {q, k, v, o};
        // null q pointer
        LigerKernels.liger_attn_params p = valid.get();
        set(p.k(), k);
        set(p.v(), v);
        set(p.o(), o);
        assertNative(LigerKernels.liger_attn_forward(p), "q");
        // shape mismatch between the descriptor and the declared dims
        p = valid.get();
        set(p.q(), q);
        set(p.k(), k);
        set(p.v(), v);
        set(p.o(), o);
        p.Hkv(3);
        assertNative(LigerKernels.liger_attn_forward(p), "Hkv");
        // T == 0
        p.Hkv(2).T(0);
        assertNative(LigerKernels.liger_attn_forward(p), "T");
        // an f16_mode the header does not define
        p.T(8).f16_mode(5);
        assertNative(LigerKernels.liger_attn_forward(p), "f16_mode = 5");
        p.f16_mode(LigerKernels.LIGER_F16_FAST);
        assertEquals(LigerKernels.LIGER_OK, LigerKernels.liger_attn_forward(p), LigerKernels.liger_last_error().getString());
        // unsupported dtype code
        p.q().dtype(LigerKernels.LIGER_I64);
        assertNative(LigerKernels.liger_attn_forward(p), "q");
        java.lang.ref.Reference.reachabilityFence(keep);
    }

    private static void set(LigerKernels.liger_tensor lt, Tensor t) {
        lt.data(t.data_ptr()).dtype(LigerKernels.LIGER_F32).ndim((int) t.dim());
        for (int i = 0; i < t.dim(); i++) lt.shape(i, t.size(i)).stride(i, t.stride(i));
    }

    private static void assertNative(int status, String fragment) {
        String msg = LigerKernels.liger_last_error().getString();
        assertEquals(LigerKernels.LIGER_ERR_INVALID_ARGUMENT, status, "status for '" + msg + "'");
        assertTrue(msg.contains(fragment), "native message '" + msg + "' should mention '" + fragment + "'");
    }

    /** f16Mode travels with the configuration: required, kept by every with-method, sent with each call. */
    @Test
    void f16ModeIsPartOfTheConfiguration() {
        expectMessage(IllegalArgumentException.class, "f16Mode must not be null",
                () -> new LigerAttnConfig(LigerAttnConfig.Variant.GLA, true, 16f, 0.5f, 64, Float.NaN, null));
        assertEquals(LigerAttnConfig.F16Mode.DEFAULT, cfg.f16Mode());
        LigerAttnConfig fast = cfg.withF16Mode(LigerAttnConfig.F16Mode.FAST);
        assertEquals(cfg.withF16Mode(LigerAttnConfig.F16Mode.FAST), fast);
        for (LigerAttnConfig c : new LigerAttnConfig[] {fast.withVariant(LigerAttnConfig.Variant.HGRN2),
                fast.withUseGate(false), fast.withGateNorm(8f), fast.withMix(1f), fast.withWindow(3), fast.withSwaScale(0.1f)})
            assertEquals(LigerAttnConfig.F16Mode.FAST, c.f16Mode(), c.toString());
        // on the CPU the mode changes nothing (its kernels compute in fp32 from any input dtype)
        Tensor q = t(F, 1, 70, 4, 64), k = t(F, 1, 70, 2, 64), v = t(F, 1, 70, 2, 64);
        Tensor base = LigerOps.attnForward(q, k, v, cfg, rope, null, null, false).o();
        for (LigerAttnConfig.F16Mode m : LigerAttnConfig.F16Mode.values()) {
            Tensor o = LigerOps.attnForward(q, k, v, cfg.withF16Mode(m), rope, null, null, false).o();
            assertTrue(torch.equal(base, o), "CPU output with f16Mode " + m + " differs from DEFAULT's");
        }
    }

    @Test
    void unsupportedStatusBecomesLigerKernelException() {
        LigerKernelException e = new LigerKernelException("liger_attn_forward", LigerKernels.LIGER_ERR_UNSUPPORTED, "no CUDA");
        assertTrue(e.isUnsupported());
        assertTrue(e.getMessage().contains("liger_attn_forward") && e.getMessage().contains("no CUDA"));
    }
}
