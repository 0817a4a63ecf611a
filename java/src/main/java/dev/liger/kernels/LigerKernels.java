package dev.liger.kernels;

import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.annotation.ByRef;
import org.bytedeco.javacpp.annotation.Cast;
import org.bytedeco.javacpp.annotation.Const;
import org.bytedeco.javacpp.annotation.MemberGetter;
import org.bytedeco.javacpp.annotation.Name;
import org.bytedeco.javacpp.annotation.Platform;
import org.bytedeco.javacpp.annotation.Properties;

/**
 * JavaCPP mapping of the C ABI in {@code native/include/liger/liger.h}: declarations only.
 * Argument checking on the Java side lives in {@link LigerOps}; the native side checks again.
 */
@Properties(value = {
        @Platform(include = "liger/liger.h", link = "liger", compiler = "cpp17"),
        // The CUDA build (-Pgpu) lands in linux-x86_64-gpu/, which Loader tries before linux-x86_64/. The
        // linker reads the list backwards: libliger.a first, then the static CUDA runtime it needs.
        @Platform(value = "linux-x86_64", extension = "-gpu", link = {"rt", "dl", "cudart_static", "liger"})})
public final class LigerKernels {
    static {
        Loader.load();
    }

    private LigerKernels() {}

    public static final int LIGER_OK = 0;
    public static final int LIGER_ERR_INVALID_ARGUMENT = 1;
    public static final int LIGER_ERR_UNSUPPORTED = 2;
    public static final int LIGER_ERR_RUNTIME = 3;

    public static final int LIGER_F32 = 0;
    public static final int LIGER_BF16 = 1;
    public static final int LIGER_F16 = 2;
    public static final int LIGER_I64 = 3;

    public static final int LIGER_CPU = 0;
    public static final int LIGER_CUDA = 1;

    public static final int LIGER_VARIANT_GLA = 0;
    public static final int LIGER_VARIANT_HGRN2 = 1;

    public static final int LIGER_F16_DEFAULT = 0;
    public static final int LIGER_F16_ACCURATE = 1;
    public static final int LIGER_F16_FAST = 2;

    /** {@code liger_tensor}: a strided view; {@code data == null} means absent. */
    @Name("liger_tensor")
    public static class liger_tensor extends Pointer {
        static { Loader.load(); }
        public liger_tensor() { super((Pointer) null); allocate(); }
        public liger_tensor(Pointer p) { super(p); }
        private native void allocate();

        public native Pointer data(); public native liger_tensor data(Pointer data);
        public native int dtype(); public native liger_tensor dtype(int dtype);
        public native int ndim(); public native liger_tensor ndim(int ndim);
        public native long shape(int i); public native liger_tensor shape(int i, long v);
        public native long stride(int i); public native liger_tensor stride(int i, long v);
    }

    /** {@code liger_cache}: per-layer recurrent cache (state, window ring, positions). */
    @Name("liger_cache")
    public static class liger_cache extends Pointer {
        static { Loader.load(); }
        public liger_cache() { super((Pointer) null); allocate(); }
        public liger_cache(Pointer p) { super(p); }
        private native void allocate();

        @MemberGetter public native @ByRef liger_tensor state();
        @MemberGetter public native @ByRef liger_tensor win_k();
        @MemberGetter public native @ByRef liger_tensor win_v();
        @MemberGetter public native @ByRef liger_tensor pos();
    }

    /** {@code liger_gla_params}: plain chunked GLA forward/backward. */
    @Name("liger_gla_params")
    public static class liger_gla_params extends Pointer {
        static { Loader.load(); }
        public liger_gla_params() { super((Pointer) null); allocate(); }
        public liger_gla_params(Pointer p) { super(p); }
        private native void allocate();

        public native int device(); public native liger_gla_params device(int v);
        public native Pointer stream(); public native liger_gla_params stream(Pointer v);
        public native int num_threads(); public native liger_gla_params num_threads(int v);
        public native long B(); public native liger_gla_params B(long v);
        public native long T(); public native liger_gla_params T(long v);
        public native long Hq(); public native liger_gla_params Hq(long v);
        public native long Hkv(); public native liger_gla_params Hkv(long v);
        public native long Dk(); public native liger_gla_params Dk(long v);
        public native long Dv(); public native liger_gla_params Dv(long v);
        public native float scale(); public native liger_gla_params scale(float v);
        @MemberGetter public native @ByRef liger_tensor q();
        @MemberGetter public native @ByRef liger_tensor k();
        @MemberGetter public native @ByRef liger_tensor v();
        @MemberGetter public native @ByRef liger_tensor g();
        @MemberGetter public native @ByRef liger_tensor o();
        @MemberGetter public native @ByRef liger_tensor cu_seqlens();
        @MemberGetter public native @ByRef liger_tensor h0();
        @MemberGetter public native @ByRef liger_tensor ht();
        @MemberGetter public native @ByRef liger_tensor do_();
        @MemberGetter public native @ByRef liger_tensor dht();
        @MemberGetter public native @ByRef liger_tensor dq();
        @MemberGetter public native @ByRef liger_tensor dk();
        @MemberGetter public native @ByRef liger_tensor dv();
        @MemberGetter public native @ByRef liger_tensor dg();
        @MemberGetter public native @ByRef liger_tensor dh0();
    }

    /** {@code liger_attn_params}: fused Liger attention forward/backward/decode. */
    @Name("liger_attn_params")
    public static class liger_attn_params extends Pointer {
        static { Loader.load(); }
        public liger_attn_params() { super((Pointer) null); allocate(); }
        public liger_attn_params(Pointer p) { super(p); }
        private native void allocate();

        public native int device(); public native liger_attn_params device(int v);
        public native Pointer stream(); public native liger_attn_params stream(Pointer v);
        public native int num_threads(); public native liger_attn_params num_threads(int v);
        public native long B(); public native liger_attn_params B(long v);
        public native long T(); public native liger_attn_params T(long v);
        public native long Hq(); public native liger_attn_params Hq(long v);
        public native long Hkv(); public native liger_attn_params Hkv(long v);
        public native long D(); public native liger_attn_params D(long v);
        public native int variant(); public native liger_attn_params variant(int v);
        public native int use_gate(); public native liger_attn_params use_gate(int v);
        public native float gate_norm(); public native liger_attn_params gate_norm(float v);
        public native float mix(); public native liger_attn_params mix(float v);
        public native int window(); public native liger_attn_params window(int v);
        public native float swa_scale(); public native liger_attn_params swa_scale(float v);
        @MemberGetter public native @ByRef liger_tensor q();
        @MemberGetter public native @ByRef liger_tensor k();
        @MemberGetter public native @ByRef liger_tensor v();
        @MemberGetter public native @ByRef liger_tensor o();
        @MemberGetter public native @ByRef liger_tensor rope_cos();
        @MemberGetter public native @ByRef liger_tensor rope_sin();
        @MemberGetter public native @ByRef liger_tensor cu_seqlens();
        @MemberGetter public native @ByRef liger_cache cache_in();
        @MemberGetter public native @ByRef liger_cache cache_out();
        @MemberGetter public native @ByRef liger_tensor do_();
        @MemberGetter public native @ByRef liger_tensor dq();
        @MemberGetter public native @ByRef liger_tensor dk();
        @MemberGetter public native @ByRef liger_tensor dv();
        public native int f16_mode(); public native liger_attn_params f16_mode(int v);
        @MemberGetter public native @ByRef liger_tensor saved();
    }

    /** {@code liger_gdn_params}: chunked gated delta rule forward/backward and the decode step. */
    @Name("liger_gdn_params")
    public static class liger_gdn_params extends Pointer {
        static { Loader.load(); }
        public liger_gdn_params() { super((Pointer) null); allocate(); }
        public liger_gdn_params(Pointer p) { super(p); }
        private native void allocate();

        public native int device(); public native liger_gdn_params device(int v);
        public native Pointer stream(); public native liger_gdn_params stream(Pointer v);
        public native int num_threads(); public native liger_gdn_params num_threads(int v);
        public native long B(); public native liger_gdn_params B(long v);
        public native long T(); public native liger_gdn_params T(long v);
        public native long Hq(); public native liger_gdn_params Hq(long v);
        public native long Hkv(); public native liger_gdn_params Hkv(long v);
        public native long Dk(); public native liger_gdn_params Dk(long v);
        public native long Dv(); public native liger_gdn_params Dv(long v);
        public native float scale(); public native liger_gdn_params scale(float v);
        @MemberGetter public native @ByRef liger_tensor q();
        @MemberGetter public native @ByRef liger_tensor k();
        @MemberGetter public native @ByRef liger_tensor v();
        @MemberGetter public native @ByRef liger_tensor g();
        @MemberGetter public native @ByRef liger_tensor beta();
        @MemberGetter public native @ByRef liger_tensor o();
        @MemberGetter public native @ByRef liger_tensor cu_seqlens();
        @MemberGetter public native @ByRef liger_tensor h0();
        @MemberGetter public native @ByRef liger_tensor ht();
        @MemberGetter public native @ByRef liger_tensor do_();
        @MemberGetter public native @ByRef liger_tensor dht();
        @MemberGetter public native @ByRef liger_tensor dq();
        @MemberGetter public native @ByRef liger_tensor dk();
        @MemberGetter public native @ByRef liger_tensor dv();
        @MemberGetter public native @ByRef liger_tensor dg();
        @MemberGetter public native @ByRef liger_tensor dbeta();
        @MemberGetter public native @ByRef liger_tensor dh0();
    }

    public static native @Cast("const char*") BytePointer liger_last_error();
    public static native @Cast("const char*") BytePointer liger_version();
    public static native int liger_set_num_threads(int n);
    public static native int liger_get_num_threads();
    public static native int liger_has_cuda();

    public static native int liger_gla_forward(@Const liger_gla_params p);
    public static native int liger_gla_backward(@Const liger_gla_params p);
    public static native int liger_attn_forward(@Const liger_attn_params p);
    public static native int liger_attn_backward(@Const liger_attn_params p);
    public static native int liger_attn_decode(@Const liger_attn_params p);
    public static native int liger_attn_saved_numel(@Const liger_attn_params p, @Cast("int64_t*") LongPointer numel);
    public static native int liger_gdn_forward(@Const liger_gdn_params p);
    public static native int liger_gdn_backward(@Const liger_gdn_params p);
    public static native int liger_gdn_decode(@Const liger_gdn_params p);
}
