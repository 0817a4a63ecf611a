package dev.liger.bench;

import dev.liger.kernels.reference.LigerReference;
import java.util.concurrent.TimeUnit;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.BoolOptional;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorArrayRefOptional;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.Blackhole;

/**
 * The same recurrences through the chunked pure-libtorch reference ({@link LigerReference.Mode#CHUNKED}): forward
 * (no grad) and forward + autograd backward. Seconds per call, so single-shot timing.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SingleShotTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(value = 1, jvmArgsAppend = {"-Xss8m"})
@Warmup(iterations = 1)
@Measurement(iterations = 3)
public class ReferenceRecurrenceBench {
    @Param({"gla", "gdn"})
    public String variant;

    @Param({"2048", "8192"})
    public int T;

    private RecurrenceInputs in;

    @Setup(Level.Trial)
    public void setup() {
        in = new RecurrenceInputs(variant, T);
    }

    @Benchmark
    public void forward(Blackhole bh) {
        try (PointerScope scope = new PointerScope(); NoGradGuard g = new NoGradGuard()) {
            bh.consume(forwardOnce(in.q, in.k, in.v, in.g).data_ptr().address());
        }
    }

    @Benchmark
    public void forwardBackward(Blackhole bh) {
        try (PointerScope scope = new PointerScope()) {
            Tensor q = in.q.detach().requires_grad_(true), k = in.k.detach().requires_grad_(true),
                    v = in.v.detach().requires_grad_(true), g = in.g.detach().requires_grad_(true);
            forwardOnce(q, k, v, g).backward(in.dO, new BoolOptional(false), false, new TensorArrayRefOptional());
            bh.consume(q.grad().data_ptr().address());
        }
    }

    private Tensor forwardOnce(Tensor q, Tensor k, Tensor v, Tensor g) {
        return in.gdn ? LigerReference.gdn(q, k, v, g, in.beta, 1.0, null, null, LigerReference.Mode.CHUNKED).o()
                : LigerReference.gla(q, k, v, g, 1.0, null, null, LigerReference.Mode.CHUNKED).o();
    }
}
