package dev.liger.hardening;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.liger.autograd.Tape;
import dev.liger.generate.GenerationResult;
import dev.liger.generate.Generator;
import dev.liger.generate.SamplingParams;
import dev.liger.lora.LoraAdapters;
import dev.liger.lora.LoraConfig;
import dev.liger.model.DefaultModel;
import dev.liger.model.LlamaModel;
import dev.liger.model.Positions;
import dev.liger.model.Tensors;
import dev.liger.report.DecodeProfile;
import dev.liger.surgery.LigerAttention;
import dev.liger.surgery.LigerConfig;
import dev.liger.surgery.Linearizer;
import dev.liger.train.AdamW;
import dev.liger.train.AdamWConfig;
import dev.liger.train.NextTokenLoss;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.SplittableRandom;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;

/**
 * A bounded soak of the embedded tiny model converted to Liger (native kernels): alternating LoRA train
 * steps (forward, tape backward through the native ops, AdamW) and sampled generations, for
 * {@code -Dliger.soak.seconds} (default 60). Resident memory (VmRSS: native and heap together) is sampled
 * after every round; after a warm-up third (allocator pools, JIT) it must stay flat: the median of the last
 * third may exceed the median of the middle third by at most {@link #RSS_DRIFT_BOUND}. The number of live
 * JavaCPP pointers (every libtorch Tensor/Scalar handle) must return to the same count after every round:
 * no tensor escapes its scope.
 */
class SoakTest {
    static final long RSS_DRIFT_BOUND = 24L << 20;
    static final long POINTER_SLACK = 32;
    static final int GEN_TOKENS = 16, TRAIN_TOKENS = 64;

    @Test
    void trainAndGenerateKeepMemoryFlat() throws IOException {
        int seconds = Integer.getInteger("liger.soak.seconds", 60);
        List<long[]> samples = new ArrayList<>(); // {elapsed ms, rss, heap, pointers}
        int rounds = 0, generated = 0;
        double firstLoss = Double.NaN, lastLoss = Double.NaN;
        long basePointers = -1;
        try (LlamaModel m = LlamaModel.load(DefaultModel.path(), Tensors.CPU, ScalarType.Float)) {
            Linearizer.linearize(m, LigerConfig.defaults(), LigerAttention.Backend.NATIVE);
            LoraAdapters lora = LoraAdapters.attach(m, LoraConfig.defaults(), torch.createCPUGenerator(0));
            AdamW opt = new AdamW(lora.trainable(), AdamWConfig.defaults());
            Generator gen = new Generator(m);
            int vocab = m.config().vocabSize();
            SplittableRandom rnd = new SplittableRandom(7);
            long start = System.nanoTime();
            while (System.nanoTime() - start < seconds * 1_000_000_000L) {
                double loss = trainStep(m, opt, rnd, vocab);
                if (rounds == 0) firstLoss = loss;
                lastLoss = loss;
                long[] prompt = new long[8];
                for (int i = 0; i < prompt.length; i++) prompt[i] = 1 + rnd.nextInt(vocab - 1);
                GenerationResult r = gen.generate(prompt, new SamplingParams(0.8, 40, 0.95, rounds, GEN_TOKENS, Set.of()), (s, t) -> {});
                generated += r.tokens().length;
                rounds++;
                long pointers = settledPointerCount();
                if (rounds == 1) basePointers = pointers;
                // Handles that left their scope unreferenced are reclaimed by the GC, so the count breathes by a
                // round's worth; a leak grows it without bound.
                if (basePointers >= 0)
                    assertTrue(pointers <= basePointers + POINTER_SLACK, "live native pointers grew from " + basePointers
                            + " to " + pointers + " by round " + rounds + ": something escapes its scope");
                samples.add(new long[] {(System.nanoTime() - start) / 1_000_000, DecodeProfile.residentBytes(),
                        Runtime.getRuntime().totalMemory() - Runtime.getRuntime().freeMemory(), pointers});
            }
            lora.trainable().size();
        }
        assertTrue(rounds >= 6, "only " + rounds + " rounds in " + seconds + " s");
        long midPtr = samples.subList(n(samples) / 3, 2 * n(samples) / 3).stream().mapToLong(s -> s[3]).max().orElse(0);
        long endPtr = samples.subList(2 * n(samples) / 3, n(samples)).stream().mapToLong(s -> s[3]).max().orElse(0);
        assertTrue(endPtr <= midPtr + POINTER_SLACK / 4, "live native pointers trend up: max " + midPtr + " (middle third) -> " + endPtr + " (last third)");
        int n = samples.size();
        long mid = median(samples.subList(n / 3, 2 * n / 3), 1), end = median(samples.subList(2 * n / 3, n), 1);
        long maxRss = samples.stream().mapToLong(s -> s[1]).max().orElse(0);
        long drift = end - mid;
        String summary = String.format(Locale.ROOT,
                "soak: %d s, %d rounds (train step + %d-token generation), %d tokens generated, loss %.3f -> %.3f, "
                        + "RSS median %.1f MiB (middle third) -> %.1f MiB (last third), drift %+.1f MiB, peak %.1f MiB, "
                        + "live native pointers %d..%d",
                seconds, rounds, GEN_TOKENS, generated, firstLoss, lastLoss, mid / 1048576.0, end / 1048576.0, drift / 1048576.0,
                maxRss / 1048576.0, samples.stream().mapToLong(s -> s[3]).min().orElse(0), samples.stream().mapToLong(s -> s[3]).max().orElse(0));
        System.out.println(summary);
        Files.writeString(Path.of("target", "soak.txt"), summary + "\n");
        assertTrue(drift < RSS_DRIFT_BOUND, summary);
        assertTrue(Double.isFinite(lastLoss) && lastLoss < firstLoss, "training on repeated data should lower the loss: " + summary);
    }

    /** One LoRA step on a fixed batch (so the loss must fall); returns the loss before the update. */
    private static double trainStep(LlamaModel m, AdamW opt, SplittableRandom unused, int vocab) {
        try (PointerScope scope = new PointerScope(); Tape tape = new Tape()) {
            long[] ids = new long[2 * TRAIN_TOKENS];
            SplittableRandom fixed = new SplittableRandom(11);
            for (int i = 0; i < ids.length; i++) ids[i] = 1 + fixed.nextInt(vocab - 1);
            Tensor t = Tensors.longs(ids, 2, TRAIN_TOKENS);
            Linearizer.setTape(m, tape);
            try {
                Tensor logits = m.forward(t, Positions.contiguous(2, TRAIN_TOKENS, 0, Tensors.CPU));
                Tensor loss = NextTokenLoss.sum(logits, t, null).div(new Scalar((double) NextTokenLoss.targets(t, null)));
                double v = loss.item_double();
                opt.zeroGrad();
                tape.backward(loss);
                opt.step(1e-3);
                return v;
            } finally {
                Linearizer.setTape(m, null);
            }
        }
    }

    /**
     * Live JavaCPP pointers once the garbage collector has reclaimed unreachable handles (JavaCPP frees those
     * from its deallocator thread), so that only handles something still holds are counted.
     */
    private static long settledPointerCount() {
        for (int i = 0; i < 3; i++) {
            System.gc();
            try {
                Thread.sleep(40);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        return Pointer.totalCount();
    }

    private static int n(List<long[]> xs) {
        return xs.size();
    }

    private static long median(List<long[]> xs, int column) {
        long[] v = xs.stream().mapToLong(s -> s[column]).sorted().toArray();
        return v[v.length / 2];
    }
}
