package dev.liger.model;

import static org.junit.jupiter.api.Assertions.*;

import dev.liger.generate.Generator;
import dev.liger.generate.SamplingParams;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;

/** Many forward calls and generations must not grow the process's resident memory: native memory is scoped. */
class NativeMemoryTest {
    static long rssKb() throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("VmRSS:")) return Long.parseLong(line.replaceAll("[^0-9]", ""));
        }
        throw new IllegalStateException("no VmRSS in /proc/self/status");
    }

    @Test
    void forwardAndGenerateLoopsDoNotGrowRss() throws IOException {
        try (LlamaModel m = LlamaModel.load(Fixtures.dir("tiny-qwen2"), Tensors.CPU, ScalarType.Float)) {
            long[] ids = new long[2 * 64];
            for (int i = 0; i < ids.length; i++) ids[i] = (i * 37L) % m.config().vocabSize();
            Generator g = new Generator(m);
            int[] iteration = {0};
            Runnable work = () -> {
                try (PointerScope scope = new PointerScope()) {
                    Tensor t = Tensors.longs(ids, 2, 64);
                    Tensors.toFloats(m.forward(t, Positions.contiguous(2, 64, 0, Tensors.CPU)).narrow(1, 63, 1));
                }
                if (iteration[0]++ % 4 == 0) {
                    g.generate(java.util.List.of(new long[] {1, 5, 9}, new long[] {7}), SamplingParams.greedy(8, Set.of()), null);
                }
            };
            for (int i = 0; i < 60; i++) work.run();
            // Collect Java garbage first so that heap churn is not mistaken for native growth.
            System.gc();
            long before = rssKb();
            long pointersBefore = org.bytedeco.javacpp.Pointer.totalCount();
            int n = 240;
            for (int i = 0; i < n; i++) work.run();
            System.gc();
            long after = rssKb();
            long pointersAfter = org.bytedeco.javacpp.Pointer.totalCount();
            System.out.printf("JavaCPP live pointers before %d, after %d%n", pointersBefore, pointersAfter);
            assertTrue(pointersAfter - pointersBefore < 100, "native handles leak: " + pointersBefore + " -> " + pointersAfter);
            System.out.printf("RSS before %d KiB, after %d more iterations %d KiB (growth %d KiB)%n", before, n, after, after - before);
            assertTrue(after - before < 16 * 1024, "RSS grew by " + (after - before) + " KiB over " + n + " iterations");
        }
    }
}
