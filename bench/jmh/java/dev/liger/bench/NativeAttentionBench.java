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
 * The native fused Liger attention through {@link LigerOps} (library default thread count), forward and
 * forward+backward. Short runs (one fork, few iterations) because the machine is shared.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(value = 1, jvmArgsAppend = {"-Xss8m"})
@Warmup(iterations = 1, time = 2)
@Measurement(iterations = 3, time = 2)
public class NativeAttentionBench {
    @Param({"2048", "8192"})
    public int T;

    private AttentionInputs in;

    @Setup(Level.Trial)
    public void setup() {
        in = new AttentionInputs(T);
    }

    @Benchmark
    public void forward(Blackhole bh) {
        try (PointerScope scope = new PointerScope()) {
            bh.consume(LigerOps.attnForward(in.q, in.k, in.v, in.config, in.rope, null, null, false).o().data_ptr().address());
        }
    }

    @Benchmark
    public void forwardBackward(Blackhole bh) {
        try (PointerScope scope = new PointerScope()) {
            bh.consume(LigerOps.attnForward(in.q, in.k, in.v, in.config, in.rope, null, null, false).o().data_ptr().address());
            bh.consume(LigerOps.attnBackward(in.q, in.k, in.v, in.dO, in.config, in.rope, null).dq().data_ptr().address());
        }
    }
}
