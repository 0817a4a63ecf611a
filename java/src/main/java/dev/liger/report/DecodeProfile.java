package dev.liger.report;

import dev.liger.model.LlamaModel;
import dev.liger.model.MixerCache;
import dev.liger.model.Positions;
import dev.liger.model.Tensors;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Measures decoding cost against context length: greedy decoding one token at a time from a short prompt, and
 * at chosen lengths the bytes held by the per-layer caches, the process's resident memory, and the median
 * wall time per token over the preceding tokens.
 */
public final class DecodeProfile {
    private DecodeProfile() {}

    /**
     * @param length     tokens in context when measured
     * @param cacheBytes bytes of tensor memory held by all layers' caches
     * @param rssBytes   resident set size of this process
     * @param heapBytes  committed Java heap (part of the resident set; garbage-collected, not native)
     * @param msPerToken median milliseconds per decoded token over the last {@code window} tokens
     */
    public record Point(int length, long cacheBytes, long rssBytes, long heapBytes, double msPerToken) {
        /** Resident memory outside the Java heap: libtorch tensors, native caches, code. */
        public long nativeBytes() {
            return rssBytes - heapBytes;
        }
    }

    /** Decodes up to the largest checkpoint, measuring at each; {@code window} tokens are timed before each point. */
    public static List<Point> run(LlamaModel model, int[] checkpoints, int window, long firstToken) {
        int[] at = checkpoints.clone();
        Arrays.sort(at);
        if (at.length == 0 || at[0] < 1) throw new IllegalArgumentException("checkpoints must be positive lengths");
        List<Point> out = new ArrayList<>();
        List<MixerCache> caches = model.newCaches(1, 16);
        double[] times = new double[Math.max(1, window)];
        long token = firstToken;
        int next = 0;
        try (NoGradGuard ng = new NoGradGuard()) {
            for (int len = 1; len <= at[at.length - 1]; len++) {
                long t0 = System.nanoTime();
                try (PointerScope scope = new PointerScope()) {
                    Tensor logits = model.step(Tensors.longs(new long[] {token}, 1, 1),
                            Positions.contiguous(1, 1, len - 1, model.device()), caches, true);
                    token = logits.argmax().item_long();
                }
                times[len % times.length] = (System.nanoTime() - t0) / 1e6;
                if (len == at[next]) {
                    long bytes = 0;
                    for (MixerCache c : caches) bytes += c.bytes();
                    int n = Math.min(len, times.length);
                    double[] w = Arrays.copyOf(times, n);
                    Arrays.sort(w);
                    System.gc(); // let unreachable wrappers release their native memory before reading RSS
                    Runtime rt = Runtime.getRuntime();
                    out.add(new Point(len, bytes, residentBytes(), rt.totalMemory(), w[n / 2]));
                    next++;
                }
            }
        } finally {
            for (MixerCache c : caches) c.close();
        }
        return out;
    }

    /** VmRSS of this process in bytes (0 where /proc is unavailable). */
    public static long residentBytes() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status")))
                if (line.startsWith("VmRSS:"))
                    return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
        } catch (IOException | NumberFormatException e) {
            return 0;
        }
        return 0;
    }
}
