package dev.liger.bench;

import dev.liger.kernels.LigerOps;
import java.util.concurrent.TimeUnit;
import org.bytedeco.javacpp.PointerScope;
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
 * The plain native recurrences through {@link LigerOps} (library default thread count): chunked GLA and the
 * chunked gated delta rule, forward and forward+backward, on {@link RecurrenceInputs}. Short runs because the
 * machine is shared.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(value = 1, jvmArgsAppend = {"-Xss8m"})
@Warmup(iterations = 1, time = 2)
@Measurement(iterations = 3, time = 2)
public class NativeRecurrenceBench {
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
        try (PointerScope scope = new PointerScope()) {
            bh.consume(forwardOnce().data_ptr().address());
        }
    }

    @Benchmark
    public void forwardBackward(Blackhole bh) {
        try (PointerScope scope = new PointerScope()) {
            bh.consume(forwardOnce().data_ptr().address());
            bh.consume((in.gdn
                    ? LigerOps.gdnBackward(in.q, in.k, in.v, in.g, in.beta, 1f, null, null, in.dO, null, false).dq()
                    : LigerOps.glaBackward(in.q, in.k, in.v, in.g, 1f, null, null, in.dO, null, false).dq())
                    .data_ptr().address());
        }
    }

    private org.bytedeco.pytorch.Tensor forwardOnce() {
        return in.gdn ? LigerOps.gdnForward(in.q, in.k, in.v, in.g, in.beta, 1f, null, null, false).o()
                : LigerOps.glaForward(in.q, in.k, in.v, in.g, 1f, null, null, false).o();
    }
}
