package dev.liger.bench;

import dev.liger.kernels.LigerAttnConfig;
import dev.liger.kernels.LigerOps;
import dev.liger.kernels.RopeTables;
import dev.liger.kernels.reference.LigerReference;
import dev.liger.kernels.reference.LigerReference.Mode;
import java.util.concurrent.TimeUnit;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.Blackhole;

/**
 * Fused Liger attention (GLA variant, defaults: gate on, N = 16, a = 0.5, W = 64) at B = 1, Hq = 32,
 * Hkv = 8, D = 128, fp32: the native kernel against the chunked pure-libtorch reference, forward and
 * forward+backward, in one run. Kept short (one fork, few iterations) because the machine is shared;
 * see bench/RESULTS.md for the command.
 */
@State(Scope.Benchmark)
@BenchmarkMode(org.openjdk.jmh.annotations.Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(value = 1, jvmArgsAppend = {"-Xss8m"})
@Warmup(iterations = 1, time = 2)
@Measurement(iterations = 3, time = 2)
public class LigerAttentionBench {
    static final long B = 1, HQ = 32, HKV = 8, D = 128;

    @Param({"2048", "8192"})
    public int T;

    @Param({"native", "reference"})
    public String impl;

    private final LigerAttnConfig config = LigerAttnConfig.defaults();
    private RopeTables rope;
    private Tensor q, k, v, dO;

    @Setup(Level.Trial)
    public void setup() {
        torch.manual_seed(1);
        TensorOptions f32 = new TensorOptions(ScalarType.Float);
        q = torch.randn(new long[] {B, T, HQ, D}, f32);
        k = torch.randn(new long[] {B, T, HKV, D}, f32);
        v = torch.randn(new long[] {B, T, HKV, D}, f32);
        dO = torch.randn(new long[] {B, T, HQ, D}, f32);
        rope = RopeTables.standard(10000, (int) D, T);
    }

    @Benchmark
    public void forward(Blackhole bh) {
        try (PointerScope scope = new PointerScope()) {
            if (impl.equals("native")) {
                bh.consume(LigerOps.attnForward(q, k, v, config, rope, null, null, false).o().data_ptr().address());
            } else {
                try (org.bytedeco.pytorch.NoGradGuard g = new org.bytedeco.pytorch.NoGradGuard()) {
                    bh.consume(LigerReference.attention(q, k, v, config, rope, null, null, Mode.CHUNKED).o()
                            .data_ptr().address());
                }
            }
        }
    }

    @Benchmark
    public void forwardBackward(Blackhole bh) {
        try (PointerScope scope = new PointerScope()) {
            if (impl.equals("native")) {
                bh.consume(LigerOps.attnForward(q, k, v, config, rope, null, null, false).o().data_ptr().address());
                LigerOps.AttnGrads g = LigerOps.attnBackward(q, k, v, dO, config, rope, null);
                bh.consume(g.dq().data_ptr().address());
            } else {
                Tensor qg = q.detach().requires_grad_(true), kg = k.detach().requires_grad_(true),
                        vg = v.detach().requires_grad_(true);
                Tensor o = LigerReference.attention(qg, kg, vg, config, rope, null, null, Mode.CHUNKED).o();
                o.backward(dO, new org.bytedeco.pytorch.BoolOptional(false), false,
                        new org.bytedeco.pytorch.TensorArrayRefOptional());
                bh.consume(qg.grad().data_ptr().address());
            }
        }
    }
}
