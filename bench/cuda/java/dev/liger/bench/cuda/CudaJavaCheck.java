package dev.liger.bench.cuda;

import static org.bytedeco.cuda.global.cudart.cudaDeviceSynchronize;
import static org.bytedeco.cuda.global.cudart.cudaDriverGetVersion;
import static org.bytedeco.cuda.global.cudart.cudaEventCreate;
import static org.bytedeco.cuda.global.cudart.cudaEventDestroy;
import static org.bytedeco.cuda.global.cudart.cudaEventElapsedTime;
import static org.bytedeco.cuda.global.cudart.cudaEventRecord;
import static org.bytedeco.cuda.global.cudart.cudaEventSynchronize;
import static org.bytedeco.cuda.global.cudart.cudaFree;
import static org.bytedeco.cuda.global.cudart.cudaGetErrorString;
import static org.bytedeco.cuda.global.cudart.cudaMalloc;
import static org.bytedeco.cuda.global.cudart.cudaMemcpy;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyDeviceToHost;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyHostToDevice;
import static org.bytedeco.cuda.global.cudart.cudaMemset;
import static org.bytedeco.cuda.global.cudart.cudaRuntimeGetVersion;

import dev.liger.kernels.LigerKernels;
import dev.liger.kernels.LigerKernels.liger_attn_params;
import dev.liger.kernels.LigerKernels.liger_cache;
import dev.liger.kernels.LigerKernels.liger_gdn_params;
import dev.liger.kernels.LigerKernels.liger_gla_params;
import dev.liger.kernels.LigerKernels.liger_tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.bytedeco.cuda.cudart.CUevent_st;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.Pointer;

/**
 * The Java path on a GPU, without libtorch: allocates device memory through the CUDA runtime presets,
 * fills fresh random inputs, calls {@link LigerKernels} with {@code LIGER_CUDA} on device pointers and
 * with {@code LIGER_CPU} on host copies of the same inputs, and compares (relative L2 error, printed and
 * asserted). Device outputs are poisoned with NaN first, so an output a kernel leaves unwritten fails.
 * Covers the fused attention forward (with the cache it leaves), backward and decode steps continuing
 * that cache, a packed variable-length batch (with an empty sequence) forward and backward, and the plain
 * GLA forward with its final state and backward, and the gated delta rule forward, backward and decode
 * steps continuing its final state, in fp32 and bf16; the chunk states kept from a bf16 forward for its
 * backward ({@link #savedStates}). Then times the decode call from Java at batch 1, 16 and 64
 * ({@link #decodeTiming}) and the 2K forward ({@link #forwardTiming}).
 *
 * <p>Usage: {@code java -cp liger.jar:javacpp.jar:cuda.jar... dev.liger.bench.cuda.CudaJavaCheck [seed]};
 * exits non-zero when any comparison fails.
 */
public final class CudaJavaCheck {
    static final int F32 = LigerKernels.LIGER_F32, BF16 = LigerKernels.LIGER_BF16, F16 = LigerKernels.LIGER_F16,
            I64 = LigerKernels.LIGER_I64;
    static final List<Buf> live = new ArrayList<>();
    static int failures = 0, checks = 0;

    public static void main(String[] args) {
        long seed = args.length > 0 ? Long.parseLong(args[0]) : System.nanoTime();
        int[] rt = new int[1], drv = new int[1];
        cuda("cudaRuntimeGetVersion", cudaRuntimeGetVersion(rt));
        cuda("cudaDriverGetVersion", cudaDriverGetVersion(drv));
        System.out.printf("liger %s, has_cuda=%d, CUDA runtime (presets) %d, driver %d, seed %d%n",
                LigerKernels.liger_version().getString(), LigerKernels.liger_has_cuda(), rt[0], drv[0], seed);
        if (LigerKernels.liger_has_cuda() != 1) {
            System.out.println("FAIL: the loaded native library has no CUDA kernels");
            System.exit(1);
        }
        Random r = new Random(seed);
        for (int dtype : new int[] {F32, BF16}) {
            // T not a multiple of 64; GQA 4 at D = 64, GQA 1 at D = 128
            attention(r, dtype, new Shape(2, 100, 8, 2, 64));
            attention(r, dtype, new Shape(1, 130, 4, 4, 128));
            gla(r, dtype, new Shape(2, 100, 8, 2, 64));
            gla(r, dtype, new Shape(1, 77, 4, 1, 128));
            varlen(r, dtype, new Shape(1, 100, 8, 2, 64), 0, 37, 37, 100);
            gdn(r, dtype, new Shape(2, 100, 8, 2, 64));
            gdn(r, dtype, new Shape(1, 77, 4, 4, 128));
        }
        f16Modes(r, new Shape(1, 150, 8, 2, 128));
        savedStates(r, new Shape(2, 200, 8, 2, 128));
        for (Buf b : live) b.free();
        live.clear();
        if (failures == 0) {
            for (long n : new long[] {1, 16, 64}) decodeTiming(r, n);
            forwardTiming(r);
        }
        System.out.printf("%d comparisons, %d failed%n", checks, failures);
        System.exit(failures == 0 ? 0 : 1);
    }

    record Shape(long b, long t, long hq, long hkv, long d) {
        @Override
        public String toString() {
            return "B" + b + " T" + t + " Hq" + hq + " Hkv" + hkv + " D" + d;
        }
    }

    static String name(int dtype) {
        return dtype == F32 ? "fp32" : "bf16";
    }

    static float tol(int dtype) {
        return dtype == F32 ? 2e-3f : 2e-2f;
    }

    // ------------------------------------------------------------------ fused Liger attention

    static void attention(Random r, int dt, Shape s) {
        int window = 64, steps = 3;
        String tag = "attn " + name(dt) + " " + s;
        Buf q = Buf.random(r, dt, 1f, s.b, s.t, s.hq, s.d), k = Buf.random(r, dt, 1f, s.b, s.t, s.hkv, s.d);
        Buf v = Buf.random(r, dt, 1f, s.b, s.t, s.hkv, s.d), dO = Buf.random(r, dt, 1f, s.b, s.t, s.hq, s.d);
        Buf[] rope = rope(s.t + steps, s.d);
        Buf o = Buf.output(dt, s.b, s.t, s.hq, s.d);
        Buf[] cache = cache(s, window);
        for (Buf c : cache) c.poison();

        // forward with the cache it leaves
        for (boolean cuda : new boolean[] {false, true}) {
            try (liger_attn_params p = attn(cuda, s, window, q, k, v, rope)) {
                set(p.o(), o, cuda);
                setCache(p.cache_out(), cache, cuda);
                call(cuda, tag + " forward", LigerKernels.liger_attn_forward(p));
            }
        }
        compare(tag + " forward o", o, dt);
        compare(tag + " forward cache.state", cache[0], dt);
        compare(tag + " forward cache.win_k", cache[1], dt);
        compare(tag + " forward cache.win_v", cache[2], dt);
        compare(tag + " forward cache.pos", cache[3], I64);

        // backward
        Buf dq = Buf.output(dt, s.b, s.t, s.hq, s.d), dk = Buf.output(dt, s.b, s.t, s.hkv, s.d);
        Buf dv = Buf.output(dt, s.b, s.t, s.hkv, s.d);
        for (boolean cuda : new boolean[] {false, true}) {
            try (liger_attn_params p = attn(cuda, s, window, q, k, v, rope)) {
                backward(cuda, tag, p, dO, dq, dk, dv);
            }
        }
        compare(tag + " backward dq", dq, dt);
        compare(tag + " backward dk", dk, dt);
        compare(tag + " backward dv", dv, dt);

        // decode steps continuing the forward's cache, each side from its own copy (updated in place)
        Shape one = new Shape(s.b, 1, s.hq, s.hkv, s.d);
        for (int step = 0; step < steps; step++) {
            Buf sq = Buf.random(r, dt, 1f, s.b, 1, s.hq, s.d), sk = Buf.random(r, dt, 1f, s.b, 1, s.hkv, s.d);
            Buf sv = Buf.random(r, dt, 1f, s.b, 1, s.hkv, s.d), so = Buf.output(dt, s.b, 1, s.hq, s.d);
            for (boolean cuda : new boolean[] {false, true}) {
                try (liger_attn_params p = attn(cuda, one, window, sq, sk, sv, rope)) {
                    set(p.o(), so, cuda);
                    setCache(p.cache_in(), cache, cuda);
                    call(cuda, tag + " decode", LigerKernels.liger_attn_decode(p));
                }
            }
            compare(tag + " decode step " + step + " o", so, dt);
        }
        compare(tag + " decode cache.state", cache[0], dt);
        compare(tag + " decode cache.win_k", cache[1], dt);
        compare(tag + " decode cache.pos", cache[3], I64);
    }

    /**
     * fp16 inputs on CUDA with the per-call {@code f16_mode}: ACCURATE (fp32 tiles) and FAST (the bf16 kernels), each
     * against the CPU's fp32 forward and backward of the same values (the CPU takes no fp16) at its own tolerance, and
     * the two modes' outputs not equal (two kernel families ran).
     */
    static void f16Modes(Random r, Shape s) {
        int window = 64;
        String tag = "attn fp16 " + s;
        Buf q = Buf.random(r, F16, 1f, s.b, s.t, s.hq, s.d), k = Buf.random(r, F16, 1f, s.b, s.t, s.hkv, s.d);
        Buf v = Buf.random(r, F16, 1f, s.b, s.t, s.hkv, s.d), dO = Buf.random(r, F16, 1f, s.b, s.t, s.hq, s.d);
        Buf[] rope = rope(s.t, s.d);
        // the CPU's fp32 run on the fp16 values
        Buf q32 = q.asF32(), k32 = k.asF32(), v32 = v.asF32(), dO32 = dO.asF32();
        Buf o32 = Buf.output(F32, s.b, s.t, s.hq, s.d), dq32 = Buf.output(F32, s.b, s.t, s.hq, s.d);
        Buf dk32 = Buf.output(F32, s.b, s.t, s.hkv, s.d), dv32 = Buf.output(F32, s.b, s.t, s.hkv, s.d);
        try (liger_attn_params p = attn(false, s, window, q32, k32, v32, rope)) {
            set(p.o(), o32, false);
            call(false, tag + " forward", LigerKernels.liger_attn_forward(p));
        }
        try (liger_attn_params p = attn(false, s, window, q32, k32, v32, rope)) {
            backward(false, tag, p, dO32, dq32, dk32, dv32);
        }
        double[][] seen = new double[2][];
        int[] modes = {LigerKernels.LIGER_F16_ACCURATE, LigerKernels.LIGER_F16_FAST};
        for (int m = 0; m < 2; m++) {
            String mt = tag + (m == 0 ? " ACCURATE" : " FAST");
            Buf o = Buf.output(F16, s.b, s.t, s.hq, s.d), dq = Buf.output(F16, s.b, s.t, s.hq, s.d);
            Buf dk = Buf.output(F16, s.b, s.t, s.hkv, s.d), dv = Buf.output(F16, s.b, s.t, s.hkv, s.d);
            try (liger_attn_params p = attn(true, s, window, q, k, v, rope)) {
                set(p.o(), o, true);
                call(true, mt + " forward", LigerKernels.liger_attn_forward(p.f16_mode(modes[m])));
            }
            try (liger_attn_params p = attn(true, s, window, q, k, v, rope)) {
                backward(true, mt, p.f16_mode(modes[m]), dO, dq, dk, dv);
            }
            float tol = m == 0 ? 6e-3f : tol(BF16);  // fp16 outputs of fp32 tiles; bf16 tiles
            seen[m] = o.download();
            compare(mt + " forward o", seen[m], o32.hostValues(), tol);
            compare(mt + " backward dq", dq.download(), dq32.hostValues(), tol);
            compare(mt + " backward dk", dk.download(), dk32.hostValues(), tol);
            compare(mt + " backward dv", dv.download(), dv32.hostValues(), tol);
        }
        boolean differ = !java.util.Arrays.equals(seen[0], seen[1]);
        checks++;
        if (!differ) failures++;
        System.out.printf("%-4s %-58s%n", differ ? "ok" : "FAIL", tag + " ACCURATE and FAST outputs differ");
    }

    /** A packed batch (B = 1, cu_seqlens on the same side as the data), forward with its cache and backward. */
    static void varlen(Random r, int dt, Shape s, long... offsets) {
        int window = 16;
        long n = offsets.length - 1;
        String tag = "varlen " + name(dt) + " " + s + " cu" + java.util.Arrays.toString(offsets);
        Buf q = Buf.random(r, dt, 1f, s.b, s.t, s.hq, s.d), k = Buf.random(r, dt, 1f, s.b, s.t, s.hkv, s.d);
        Buf v = Buf.random(r, dt, 1f, s.b, s.t, s.hkv, s.d), dO = Buf.random(r, dt, 1f, s.b, s.t, s.hq, s.d);
        Buf cu = new Buf(I64, offsets.length);
        for (int i = 0; i < offsets.length; i++) cu.host.putLong(8L * i, offsets[i]);
        cu.upload();
        Buf[] rope = rope(s.t, s.d);
        Buf o = Buf.output(dt, s.b, s.t, s.hq, s.d);
        Buf[] cache = cache(new Shape(n, 1, s.hq, s.hkv, s.d), window);
        for (Buf c : cache) c.poison();
        Buf dq = Buf.output(dt, s.b, s.t, s.hq, s.d), dk = Buf.output(dt, s.b, s.t, s.hkv, s.d);
        Buf dv = Buf.output(dt, s.b, s.t, s.hkv, s.d);
        for (boolean cuda : new boolean[] {false, true}) {
            try (liger_attn_params p = attn(cuda, s, window, q, k, v, rope)) {
                set(p.cu_seqlens(), cu, cuda);
                set(p.o(), o, cuda);
                setCache(p.cache_out(), cache, cuda);
                call(cuda, tag + " forward", LigerKernels.liger_attn_forward(p));
            }
            try (liger_attn_params p = attn(cuda, s, window, q, k, v, rope)) {
                set(p.cu_seqlens(), cu, cuda);
                backward(cuda, tag, p, dO, dq, dk, dv);
            }
        }
        compare(tag + " forward o", o, dt);
        compare(tag + " forward cache.state", cache[0], dt);
        compare(tag + " forward cache.pos", cache[3], I64);
        compare(tag + " backward dq", dq, dt);
        compare(tag + " backward dk", dk, dt);
        compare(tag + " backward dv", dv, dt);
    }

    /** The attention backward of p (set up by attn) with dO, writing dq, dk and dv. */
    static void backward(boolean cuda, String tag, liger_attn_params p, Buf dO, Buf dq, Buf dk, Buf dv) {
        set(p.do_(), dO, cuda);
        set(p.dq(), dq, cuda);
        set(p.dk(), dk, cuda);
        set(p.dv(), dv, cuda);
        call(cuda, tag + " backward", LigerKernels.liger_attn_backward(p));
    }

    static liger_attn_params attn(boolean cuda, Shape s, int window, Buf q, Buf k, Buf v, Buf[] rope) {
        liger_attn_params p = new liger_attn_params();
        p.device(cuda ? LigerKernels.LIGER_CUDA : LigerKernels.LIGER_CPU).stream(null).num_threads(0);
        p.B(s.b).T(s.t).Hq(s.hq).Hkv(s.hkv).D(s.d);
        p.variant(LigerKernels.LIGER_VARIANT_GLA).use_gate(1).gate_norm(16f).mix(0.5f).window(window)
                .swa_scale((float) (1 / Math.sqrt(s.d)));
        for (liger_tensor t : new liger_tensor[] {p.o(), p.cu_seqlens(), p.do_(), p.dq(), p.dk(), p.dv(), p.saved()}) absent(t);
        setCache(p.cache_in(), null, cuda);
        setCache(p.cache_out(), null, cuda);
        set(p.q(), q, cuda);
        set(p.k(), k, cuda);
        set(p.v(), v, cuda);
        set(p.rope_cos(), rope[0], cuda);
        set(p.rope_sin(), rope[1], cuda);
        return p;
    }

    static Buf[] cache(Shape s, int window) {
        return new Buf[] {Buf.zeros(F32, s.b, s.hkv, s.d, s.d), Buf.zeros(F32, s.b, s.hkv, window - 1, s.d),
                Buf.zeros(F32, s.b, s.hkv, window - 1, s.d), Buf.zeros(I64, s.b)};
    }

    static void setCache(liger_cache c, Buf[] b, boolean cuda) {
        liger_tensor[] parts = {c.state(), c.win_k(), c.win_v(), c.pos()};
        for (int i = 0; i < 4; i++) {
            if (b == null) absent(parts[i]);
            else set(parts[i], b[i], cuda);
        }
    }

    /** RoPE tables (default theta 10000), F32 [P, D/2], inputs: the same on both sides. */
    static Buf[] rope(long positions, long d) {
        Buf cos = Buf.zeros(F32, positions, d / 2), sin = Buf.zeros(F32, positions, d / 2);
        for (long p = 0; p < positions; p++)
            for (long j = 0; j < d / 2; j++) {
                double ang = p * Math.exp(-2.0 * j * Math.log(10000) / d);
                cos.host.putFloat(4 * (p * (d / 2) + j), (float) Math.cos(ang));
                sin.host.putFloat(4 * (p * (d / 2) + j), (float) Math.sin(ang));
            }
        cos.upload();
        sin.upload();
        return new Buf[] {cos, sin};
    }

    // ------------------------------------------------------------------ plain GLA

    static void gla(Random r, int dt, Shape s) {
        String tag = "gla " + name(dt) + " " + s;
        // feature-mapped q, k are non-negative in the model; any values are valid here
        Buf q = Buf.random(r, dt, 0.5f, s.b, s.t, s.hq, s.d), k = Buf.random(r, dt, 0.5f, s.b, s.t, s.hkv, s.d);
        Buf v = Buf.random(r, dt, 1f, s.b, s.t, s.hkv, s.d);
        Buf g = Buf.zeros(F32, s.b, s.t, s.hkv, s.d);
        for (long i = 0; i < g.count; i++) g.host.putFloat(4 * i, (float) -(0.01 + 0.2 * r.nextDouble()));
        g.upload();
        Buf o = Buf.output(dt, s.b, s.t, s.hq, s.d), ht = Buf.output(F32, s.b, s.hkv, s.d, s.d);
        for (boolean cuda : new boolean[] {false, true}) {
            try (liger_gla_params p = new liger_gla_params()) {
                p.device(cuda ? LigerKernels.LIGER_CUDA : LigerKernels.LIGER_CPU).stream(null).num_threads(0);
                p.B(s.b).T(s.t).Hq(s.hq).Hkv(s.hkv).Dk(s.d).Dv(s.d).scale((float) (1 / Math.sqrt(s.d)));
                for (liger_tensor t : new liger_tensor[] {p.cu_seqlens(), p.h0(), p.do_(), p.dht(), p.dq(), p.dk(),
                        p.dv(), p.dg(), p.dh0()}) absent(t);
                set(p.q(), q, cuda);
                set(p.k(), k, cuda);
                set(p.v(), v, cuda);
                set(p.g(), g, cuda);
                set(p.o(), o, cuda);
                set(p.ht(), ht, cuda);
                call(cuda, tag + " forward", LigerKernels.liger_gla_forward(p));
            }
        }
        compare(tag + " forward o", o, dt);
        compare(tag + " forward ht", ht, dt);

        Buf dO = Buf.random(r, dt, 1f, s.b, s.t, s.hq, s.d);
        Buf dq = Buf.output(dt, s.b, s.t, s.hq, s.d), dk = Buf.output(dt, s.b, s.t, s.hkv, s.d);
        Buf dv = Buf.output(dt, s.b, s.t, s.hkv, s.d), dg = Buf.output(F32, s.b, s.t, s.hkv, s.d);
        for (boolean cuda : new boolean[] {false, true}) {
            try (liger_gla_params p = new liger_gla_params()) {
                p.device(cuda ? LigerKernels.LIGER_CUDA : LigerKernels.LIGER_CPU).stream(null).num_threads(0);
                p.B(s.b).T(s.t).Hq(s.hq).Hkv(s.hkv).Dk(s.d).Dv(s.d).scale((float) (1 / Math.sqrt(s.d)));
                for (liger_tensor t : new liger_tensor[] {p.cu_seqlens(), p.h0(), p.ht(), p.o(), p.dht(), p.dh0()})
                    absent(t);
                set(p.q(), q, cuda);
                set(p.k(), k, cuda);
                set(p.v(), v, cuda);
                set(p.g(), g, cuda);
                set(p.do_(), dO, cuda);
                set(p.dq(), dq, cuda);
                set(p.dk(), dk, cuda);
                set(p.dv(), dv, cuda);
                set(p.dg(), dg, cuda);
                call(cuda, tag + " backward", LigerKernels.liger_gla_backward(p));
            }
        }
        compare(tag + " backward dq", dq, dt);
        compare(tag + " backward dk", dk, dt);
        compare(tag + " backward dv", dv, dt);
        compare(tag + " backward dg", dg, dt);
    }

    // ------------------------------------------------------------------ gated delta rule

    static void gdn(Random r, int dt, Shape s) {
        String tag = "gdn " + name(dt) + " " + s;
        // the Liger-GDN layer feeds L2-normalized q and k; gates g <= 0 and write strengths in (0, 1)
        Buf q = unitRows(r, dt, s.b, s.t, s.hq, s.d), k = unitRows(r, dt, s.b, s.t, s.hkv, s.d);
        Buf v = Buf.random(r, dt, 1f, s.b, s.t, s.hkv, s.d), dO = Buf.random(r, dt, 1f, s.b, s.t, s.hq, s.d);
        Buf g = Buf.zeros(F32, s.b, s.t, s.hkv), beta = Buf.zeros(F32, s.b, s.t, s.hkv);
        for (long i = 0; i < g.count; i++) {
            g.host.putFloat(4 * i, (float) -(0.01 + 0.2 * r.nextDouble()));
            beta.host.putFloat(4 * i, (float) (1 / (1 + Math.exp(-r.nextGaussian()))));
        }
        g.upload();
        beta.upload();
        Buf o = Buf.output(dt, s.b, s.t, s.hq, s.d), ht = Buf.output(F32, s.b, s.hkv, s.d, s.d);
        for (boolean cuda : new boolean[] {false, true}) {
            try (liger_gdn_params p = gdnParams(cuda, s, q, k, v, g, beta)) {
                set(p.o(), o, cuda);
                set(p.ht(), ht, cuda);
                call(cuda, tag + " forward", LigerKernels.liger_gdn_forward(p));
            }
        }
        compare(tag + " forward o", o, dt);
        compare(tag + " forward ht", ht, dt);

        Buf dq = Buf.output(dt, s.b, s.t, s.hq, s.d), dk = Buf.output(dt, s.b, s.t, s.hkv, s.d);
        Buf dv = Buf.output(dt, s.b, s.t, s.hkv, s.d);
        Buf dg = Buf.output(F32, s.b, s.t, s.hkv), dbeta = Buf.output(F32, s.b, s.t, s.hkv);
        for (boolean cuda : new boolean[] {false, true}) {
            try (liger_gdn_params p = gdnParams(cuda, s, q, k, v, g, beta)) {
                set(p.do_(), dO, cuda);
                set(p.dq(), dq, cuda);
                set(p.dk(), dk, cuda);
                set(p.dv(), dv, cuda);
                set(p.dg(), dg, cuda);
                set(p.dbeta(), dbeta, cuda);
                call(cuda, tag + " backward", LigerKernels.liger_gdn_backward(p));
            }
        }
        compare(tag + " backward dq", dq, dt);
        compare(tag + " backward dk", dk, dt);
        compare(tag + " backward dv", dv, dt);
        compare(tag + " backward dg", dg, dt);
        compare(tag + " backward dbeta", dbeta, dt);

        // decode steps continuing the forward's final state, updated in place on each side
        Shape one = new Shape(s.b, 1, s.hq, s.hkv, s.d);
        for (int step = 0; step < 3; step++) {
            Buf sq = unitRows(r, dt, s.b, 1, s.hq, s.d), sk = unitRows(r, dt, s.b, 1, s.hkv, s.d);
            Buf sv = Buf.random(r, dt, 1f, s.b, 1, s.hkv, s.d), so = Buf.output(dt, s.b, 1, s.hq, s.d);
            Buf sg = Buf.zeros(F32, s.b, 1, s.hkv), sb = Buf.zeros(F32, s.b, 1, s.hkv);
            for (long i = 0; i < sg.count; i++) {
                sg.host.putFloat(4 * i, (float) -(0.01 + 0.2 * r.nextDouble()));
                sb.host.putFloat(4 * i, (float) (1 / (1 + Math.exp(-r.nextGaussian()))));
            }
            sg.upload();
            sb.upload();
            for (boolean cuda : new boolean[] {false, true}) {
                try (liger_gdn_params p = gdnParams(cuda, one, sq, sk, sv, sg, sb)) {
                    set(p.o(), so, cuda);
                    set(p.h0(), ht, cuda);
                    set(p.ht(), ht, cuda);
                    call(cuda, tag + " decode", LigerKernels.liger_gdn_decode(p));
                }
            }
            compare(tag + " decode step " + step + " o", so, dt);
        }
        compare(tag + " decode state", ht, dt);
    }

    static liger_gdn_params gdnParams(boolean cuda, Shape s, Buf q, Buf k, Buf v, Buf g, Buf beta) {
        liger_gdn_params p = new liger_gdn_params();
        p.device(cuda ? LigerKernels.LIGER_CUDA : LigerKernels.LIGER_CPU).stream(null).num_threads(0);
        p.B(s.b).T(s.t).Hq(s.hq).Hkv(s.hkv).Dk(s.d).Dv(s.d).scale((float) (1 / Math.sqrt(s.d)));
        for (liger_tensor t : new liger_tensor[] {p.o(), p.cu_seqlens(), p.h0(), p.ht(), p.do_(), p.dht(), p.dq(),
                p.dk(), p.dv(), p.dg(), p.dbeta(), p.dh0()}) absent(t);
        set(p.q(), q, cuda);
        set(p.k(), k, cuda);
        set(p.v(), v, cuda);
        set(p.g(), g, cuda);
        set(p.beta(), beta, cuda);
        return p;
    }

    /** Random rows of unit L2 norm along the last dimension. */
    static Buf unitRows(Random r, int dt, long... shape) {
        Buf b = new Buf(dt, shape);
        int d = (int) shape[shape.length - 1];
        float[] row = new float[d];
        for (long i = 0; i < b.count; i += d) {
            double n = 0;
            for (int j = 0; j < d; j++) {
                row[j] = (float) r.nextGaussian();
                n += row[j] * row[j];
            }
            for (int j = 0; j < d; j++) b.put(i + j, (float) (row[j] / Math.sqrt(n)));
        }
        b.upload();
        return b;
    }

    // ------------------------------------------------------------------ chunk states kept for the backward

    /**
     * {@code liger_attn_params.saved} from Java on device memory (bf16, D = 128, mix < 1: the path that keeps
     * states): the size from {@code liger_attn_saved_numel} is (chunks + 1) Hkv (D^2 / 2 + D); the forward with
     * the buffer gives the same o as without it; the backward reading it gives the gradients of the backward
     * that recomputes the states (within 1e-5 relative: the same kernels on the same states, up to the order
     * of the window gradients' atomics).
     */
    static void savedStates(Random r, Shape s) {
        int window = 64, dt = BF16;
        String tag = "attn saved states bf16 " + s;
        Buf q = Buf.random(r, dt, 1f, s.b, s.t, s.hq, s.d), k = Buf.random(r, dt, 1f, s.b, s.t, s.hkv, s.d);
        Buf v = Buf.random(r, dt, 1f, s.b, s.t, s.hkv, s.d), dO = Buf.random(r, dt, 1f, s.b, s.t, s.hq, s.d);
        Buf[] rope = rope(s.t, s.d);
        Buf o1 = Buf.output(dt, s.b, s.t, s.hq, s.d), o2 = Buf.output(dt, s.b, s.t, s.hq, s.d);
        Buf[] g1 = {Buf.output(dt, s.b, s.t, s.hq, s.d), Buf.output(dt, s.b, s.t, s.hkv, s.d),
                Buf.output(dt, s.b, s.t, s.hkv, s.d)};
        Buf[] g2 = {Buf.output(dt, s.b, s.t, s.hq, s.d), Buf.output(dt, s.b, s.t, s.hkv, s.d),
                Buf.output(dt, s.b, s.t, s.hkv, s.d)};
        long chunks = s.b * ((s.t + 63) / 64), want = (chunks + 1) * s.hkv * (s.d * s.d / 2 + s.d), n;
        try (liger_attn_params p = attn(true, s, window, q, k, v, rope); LongPointer np = new LongPointer(1)) {
            set(p.o(), o1, true);
            absent(p.saved());
            call(true, tag + " size", LigerKernels.liger_attn_saved_numel(p, np));
            n = np.get();
        }
        checks++;
        if (n != want) failures++;
        System.out.printf("%-4s %s: liger_attn_saved_numel %d (expected %d)%n", n == want ? "ok" : "FAIL", tag, n, want);
        if (n != want) return;
        Buf saved = Buf.output(F32, n);
        for (boolean keep : new boolean[] {false, true}) {
            Buf[] g = keep ? g2 : g1;
            try (liger_attn_params p = attn(true, s, window, q, k, v, rope)) {
                set(p.o(), keep ? o2 : o1, true);
                if (keep) set(p.saved(), saved, true);
                else absent(p.saved());
                call(true, tag + " forward", LigerKernels.liger_attn_forward(p));
            }
            try (liger_attn_params p = attn(true, s, window, q, k, v, rope)) {
                if (keep) set(p.saved(), saved, true);
                else absent(p.saved());
                backward(true, tag, p, dO, g[0], g[1], g[2]);
            }
        }
        compare(tag + " forward o, kept against not", o2.download(), o1.download(), 0f);
        String[] names = {"dq", "dk", "dv"};
        for (int i = 0; i < 3; i++)
            compare(tag + " backward " + names[i] + ", kept states against recomputed", g2[i].download(),
                    g1[i].download(), 1e-5f);
    }

    // ------------------------------------------------------------------ 2K forward call time from Java

    /**
     * The fused forward at B = 1, T = 2K, Hq 32, Hkv 8, D 128, W 64, bf16 (issue 7's 2K target) per call from a
     * JVM: per call, CUDA events around one {@code liger_attn_forward} on an idle GPU and a wait for it (what
     * bench.py's per-call figure measures from Python), and back to back, a loop of calls closed by one
     * cudaDeviceSynchronize (the host's work overlapping the GPU's). Medians of 7 rounds of 50 calls after 20
     * warm-up calls.
     */
    static void forwardTiming(Random r) {
        Shape s = new Shape(1, 2048, 32, 8, 128);
        int window = 64, calls = 50, reps = 7, warm = 20;
        Buf q = Buf.random(r, BF16, 1f, s.b, s.t, s.hq, s.d), k = Buf.random(r, BF16, 1f, s.b, s.t, s.hkv, s.d);
        Buf v = Buf.random(r, BF16, 1f, s.b, s.t, s.hkv, s.d), o = Buf.output(BF16, s.b, s.t, s.hq, s.d);
        Buf[] rope = rope(s.t, s.d);
        double[] per = new double[reps], b2b = new double[reps];
        CUevent_st a = new CUevent_st(), b = new CUevent_st();
        cuda("cudaEventCreate", cudaEventCreate(a));
        cuda("cudaEventCreate", cudaEventCreate(b));
        try (liger_attn_params p = attn(true, s, window, q, k, v, rope)) {
            set(p.o(), o, true);
            for (int i = 0; i < warm; i++) forwardOnce(p);
            cuda("cudaDeviceSynchronize", cudaDeviceSynchronize());
            float[] ms = new float[1];
            double[] one = new double[calls];
            for (int rep = 0; rep < reps; rep++) {
                for (int i = 0; i < calls; i++) {
                    cuda("cudaEventRecord", cudaEventRecord(a, null));
                    forwardOnce(p);
                    cuda("cudaEventRecord", cudaEventRecord(b, null));
                    cuda("cudaEventSynchronize", cudaEventSynchronize(b));
                    cuda("cudaEventElapsedTime", cudaEventElapsedTime(ms, a, b));
                    one[i] = ms[0];
                }
                per[rep] = median(one);
                long t0 = System.nanoTime();
                for (int i = 0; i < calls; i++) forwardOnce(p);
                cuda("cudaDeviceSynchronize", cudaDeviceSynchronize());
                b2b[rep] = (System.nanoTime() - t0) / 1e6 / calls;
            }
        } finally {
            cudaEventDestroy(a);
            cudaEventDestroy(b);
        }
        double[] got = o.download();
        boolean finite = true;
        for (double x : got) finite &= Double.isFinite(x);
        checks++;
        if (!finite) failures++;
        System.out.printf("%-4s forward timing %s bf16: %.4f ms per call (events, median), %.4f ms per call back to back%n",
                finite ? "ok" : "FAIL", s, median(per), median(b2b));
        for (Buf x : live) x.free();
        live.clear();
    }

    static void forwardOnce(liger_attn_params p) {
        status("liger_attn_forward", LigerKernels.liger_attn_forward(p));
    }

    // ------------------------------------------------------------------ decode call time from Java

    /**
     * What a JVM caller pays per decode step (one layer, bf16, Hq 32, Hkv 8, D 128, W 64, batch n): the
     * host time of {@code LigerKernels.liger_attn_decode} in a loop (no synchronisation: the call only
     * enqueues work), the wall time per call of the same loop closed by cudaDeviceSynchronize, and the host
     * time when every call also builds and frees its parameter struct, as LigerOps does. Medians of 7 loops
     * of 300 calls (short enough not to fill the launch queue) after 500 warm-up calls; the cache positions
     * must have advanced once per call.
     */
    static void decodeTiming(Random r, long n) {
        int window = 64, calls = 300, reps = 7, warm = 500;
        long start = 5000, total = warm + 3L * reps * calls;
        Shape one = new Shape(n, 1, 32, 8, 128);
        Buf q = Buf.random(r, BF16, 1f, n, 1, 32, 128), k = Buf.random(r, BF16, 1f, n, 1, 8, 128);
        Buf v = Buf.random(r, BF16, 1f, n, 1, 8, 128), o = Buf.output(BF16, n, 1, 32, 128);
        Buf[] rope = rope(start + total + 1, 128);
        Buf[] cache = cache(one, window);
        for (long i = 0; i < n; i++) cache[3].host.putLong(8 * i, start);
        cache[3].upload();
        double[] host = new double[reps], wall = new double[reps], rebuilt = new double[reps];
        try (liger_attn_params p = attn(true, one, window, q, k, v, rope)) {
            set(p.o(), o, true);
            setCache(p.cache_in(), cache, true);
            for (int i = 0; i < warm; i++) decodeOnce(p);
            cuda("cudaDeviceSynchronize", cudaDeviceSynchronize());
            for (int rep = 0; rep < reps; rep++) {
                long t0 = System.nanoTime();
                for (int i = 0; i < calls; i++) decodeOnce(p);
                long t1 = System.nanoTime();
                cuda("cudaDeviceSynchronize", cudaDeviceSynchronize());
                long t2 = System.nanoTime();
                host[rep] = (t1 - t0) / 1e3 / calls;
                wall[rep] = (t2 - t0) / 1e3 / calls;
                // the same calls, each building and freeing its parameter struct (what LigerOps does per call)
                t0 = System.nanoTime();
                for (int i = 0; i < calls; i++) {
                    try (liger_attn_params pp = attn(true, one, window, q, k, v, rope)) {
                        set(pp.o(), o, true);
                        setCache(pp.cache_in(), cache, true);
                        decodeOnce(pp);
                    }
                }
                t1 = System.nanoTime();
                cuda("cudaDeviceSynchronize", cudaDeviceSynchronize());
                rebuilt[rep] = (t1 - t0) / 1e3 / calls;
                // a third loop: every rep runs the 3 * calls steps that `total` counts
                for (int i = 0; i < calls; i++) decodeOnce(p);
                cuda("cudaDeviceSynchronize", cudaDeviceSynchronize());
            }
        }
        double[] got = cache[3].download();
        boolean advanced = true;
        for (int i = 0; i < n; i++) advanced &= got[i] == start + total;
        checks++;
        if (!advanced) failures++;
        System.out.printf("%-4s decode timing batch %d: host %.1f us/call, wall %.1f us/call (loop + sync), "
                + "host with a new parameter struct per call %.1f us/call; positions advanced %d times (expected %d)%n",
                advanced ? "ok" : "FAIL", n, median(host), median(wall), median(rebuilt), (long) got[0] - start, total);
        for (Buf b : live) b.free();
        live.clear();
    }

    static void decodeOnce(liger_attn_params p) {
        status("liger_attn_decode", LigerKernels.liger_attn_decode(p));
    }

    /** A timed CUDA call's status, checked without a synchronisation (as {@link #call} would add). */
    static void status(String fn, int st) {
        if (st != LigerKernels.LIGER_OK)
            throw new IllegalStateException(fn + " (CUDA) failed with status " + st + ": "
                    + LigerKernels.liger_last_error().getString());
    }

    static double median(double[] x) {
        double[] s = x.clone();
        java.util.Arrays.sort(s);
        return s[s.length / 2];
    }

    // ------------------------------------------------------------------ plumbing

    static void absent(liger_tensor t) {
        t.data(null).dtype(F32).ndim(0);
        for (int i = 0; i < 4; i++) t.shape(i, 1).stride(i, 0);
    }

    /** Describes {@code b} (contiguous) on the host or on the device. */
    static void set(liger_tensor t, Buf b, boolean cuda) {
        t.data(cuda ? b.dev : b.host).dtype(b.dtype).ndim(b.shape.length);
        long stride = 1;
        for (int i = 3; i >= 0; i--) t.shape(i, 1).stride(i, 0);
        for (int i = b.shape.length - 1; i >= 0; i--) {
            t.shape(i, b.shape[i]).stride(i, stride);
            stride *= b.shape[i];
        }
    }

    static void call(boolean cuda, String what, int status) {
        if (status != LigerKernels.LIGER_OK)
            throw new IllegalStateException(what + (cuda ? " (CUDA)" : " (CPU)") + " failed with status " + status
                    + ": " + LigerKernels.liger_last_error().getString());
        if (cuda) cuda(what + " (cudaDeviceSynchronize)", cudaDeviceSynchronize());
    }

    static void cuda(String what, int err) {
        if (err != 0) {
            BytePointer msg = cudaGetErrorString(err);
            throw new IllegalStateException(what + ": CUDA error " + err + " " + msg.getString());
        }
    }

    /**
     * Relative L2 error of the device result against the host result; exact for I64. The tolerance follows
     * the inputs' dtype: from bf16 inputs even fp32 states and gradients may carry bf16 roundings of
     * intermediates (the CUDA kernels feed tensor cores bf16 operands where the CPU keeps fp32).
     */
    static void compare(String what, Buf b, int dtype) {
        compare(what, b.download(), b.hostValues(), dtype == I64 ? 0f : tol(dtype));
    }

    /** Relative L2 error of gpu against cpu within tol (0: equal). */
    static void compare(String what, double[] gpu, double[] cpu, float tol) {
        double num = 0, den = 0;
        boolean finite = true;
        for (int i = 0; i < gpu.length; i++) {
            finite &= Double.isFinite(gpu[i]);
            num += (gpu[i] - cpu[i]) * (gpu[i] - cpu[i]);
            den += cpu[i] * cpu[i];
        }
        double rel = Math.sqrt(num) / Math.max(Math.sqrt(den), 1e-30);
        boolean ok = finite && (tol == 0 ? num == 0 : rel <= tol);
        checks++;
        if (!ok) failures++;
        System.out.printf("%-4s %-58s rel err %.3e (tol %.0e)%s%n", ok ? "ok" : "FAIL", what, rel, tol,
                finite ? "" : "  NON-FINITE values (unwritten output?)");
    }

    /** One contiguous tensor: a host copy, and a device copy once uploaded or poisoned. */
    static final class Buf {
        final int dtype;
        final long[] shape;
        final long count;
        final int esize;
        final BytePointer host;
        Pointer dev;

        Buf(int dtype, long... shape) {
            this.dtype = dtype;
            this.shape = shape;
            long n = 1;
            for (long x : shape) n *= x;
            this.count = n;
            this.esize = dtype == I64 ? 8 : dtype == BF16 || dtype == F16 ? 2 : 4;
            this.host = new BytePointer(n * esize);
            host.fill(0);
            live.add(this);
        }

        static Buf zeros(int dtype, long... shape) {
            Buf b = new Buf(dtype, shape);
            b.upload();
            return b;
        }

        /** An fp32 copy of this fp16 or bf16 tensor's host values (exact), on the host only (for CPU calls). */
        Buf asF32() {
            Buf b = new Buf(F32, shape);
            double[] x = hostValues();
            for (int i = 0; i < x.length; i++) b.put(i, (float) x[i]);
            return b;
        }

        /** An output: zero on the host, all bits set on the device (NaN in fp32, bf16 and fp16, -1 in I64). */
        static Buf output(int dtype, long... shape) {
            Buf b = zeros(dtype, shape);
            b.poison();
            return b;
        }

        void poison() {
            cuda("cudaMemset", cudaMemset(dev, 0xFF, count * esize));
        }

        static Buf random(Random r, int dtype, float scale, long... shape) {
            Buf b = new Buf(dtype, shape);
            for (long i = 0; i < b.count; i++) b.put(i, (float) (scale * r.nextGaussian()));
            b.upload();
            return b;
        }

        void put(long i, float x) {
            if (dtype == BF16) host.putShort(2 * i, bf16(x));
            else if (dtype == F16) host.putShort(2 * i, f16(x));
            else host.putFloat(4 * i, x);
        }

        /** Copies the host contents to the device (allocating once). */
        void upload() {
            if (dev == null) {
                dev = new Pointer();
                cuda("cudaMalloc", cudaMalloc(dev, count * esize));
            }
            cuda("cudaMemcpy H2D", cudaMemcpy(dev, host, count * esize, cudaMemcpyHostToDevice));
        }

        double[] hostValues() {
            return values(host);
        }

        double[] download() {
            try (BytePointer tmp = new BytePointer(count * esize)) {
                cuda("cudaMemcpy D2H", cudaMemcpy(tmp, dev, count * esize, cudaMemcpyDeviceToHost));
                return values(tmp);
            }
        }

        double[] values(BytePointer p) {
            double[] out = new double[(int) count];
            for (int i = 0; i < out.length; i++)
                out[i] = dtype == I64 ? p.getLong(8L * i)
                        : dtype == BF16 ? Float.intBitsToFloat((p.getShort(2L * i) & 0xFFFF) << 16)
                        : dtype == F16 ? f16ToFloat(p.getShort(2L * i)) : p.getFloat(4L * i);
            return out;
        }

        void free() {
            if (dev != null) cudaFree(dev);
            dev = null;
            host.close();
        }
    }

    /** Round to nearest even fp16 (|x| < 65504; subnormals flushed to zero, well below these tests' values). */
    static short f16(float x) {
        int bits = Float.floatToRawIntBits(x), sign = (bits >>> 16) & 0x8000;
        int exp = ((bits >>> 23) & 0xFF) - 127 + 15, mant = bits & 0x7FFFFF;
        if (exp <= 0) return (short) sign;
        int h = (exp << 10) | (mant >>> 13), rest = mant & 0x1FFF;
        if (rest > 0x1000 || (rest == 0x1000 && (h & 1) == 1)) h++;  // a carry into the exponent is still right
        return (short) (sign | h);
    }

    /** fp16 bits to float: normals, zeros, infinities and NaN (every all-ones pattern is NaN). */
    static float f16ToFloat(short s) {
        int h = s & 0xFFFF, sign = (h & 0x8000) << 16, exp = (h >>> 10) & 0x1F, mant = h & 0x3FF;
        if (exp == 0x1F) return Float.intBitsToFloat(sign | 0x7F800000 | (mant << 13));
        if (exp == 0) return mant == 0 ? Float.intBitsToFloat(sign) : (sign != 0 ? -1 : 1) * mant * 0x1p-24f;
        return Float.intBitsToFloat(sign | ((exp - 15 + 127) << 23) | (mant << 13));
    }

    /** Round to nearest even bf16 (finite inputs). */
    static short bf16(float x) {
        int bits = Float.floatToRawIntBits(x);
        bits += 0x7FFF + ((bits >>> 16) & 1);
        return (short) (bits >>> 16);
    }
}
