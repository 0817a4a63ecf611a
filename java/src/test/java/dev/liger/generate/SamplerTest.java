package dev.liger.generate;

import static org.junit.jupiter.api.Assertions.*;

import java.util.Set;
import org.junit.jupiter.api.Test;

class SamplerTest {
    private static final float[] LOGITS = {2.0f, 1.0f, 0.5f, -1.0f, 3.0f};

    @Test
    void topKKeepsTheKMostLikely() {
        double[] p = Sampler.probabilities(LOGITS, 0, 5, new SamplingParams(1, 2, 1, 0, 1, Set.of()));
        assertEquals(0, p[1]);
        assertEquals(0, p[2]);
        assertEquals(0, p[3]);
        double z = Math.exp(2) + Math.exp(3);
        assertEquals(Math.exp(2) / z, p[0], 1e-12);
        assertEquals(Math.exp(3) / z, p[4], 1e-12);
    }

    @Test
    void topPKeepsTheSmallestPrefixReachingP() {
        double[] full = Sampler.probabilities(LOGITS, 0, 5, new SamplingParams(1, 0, 1, 0, 1, Set.of()));
        // Sorted: idx4 (~0.61), idx0 (~0.22), ... p = 0.7 needs the first two.
        double[] p = Sampler.probabilities(LOGITS, 0, 5, new SamplingParams(1, 0, 0.7, 0, 1, Set.of()));
        assertTrue(full[4] < 0.7 && full[4] + full[0] >= 0.7);
        assertEquals(full[4] / (full[4] + full[0]), p[4], 1e-12);
        assertEquals(0, p[1]);
        double[] tiny = Sampler.probabilities(LOGITS, 0, 5, new SamplingParams(1, 0, 1e-9, 0, 1, Set.of()));
        assertEquals(1.0, tiny[4], 1e-12);
    }

    @Test
    void temperatureSharpensAndSamplingFollowsTheDistribution() {
        double[] cold = Sampler.probabilities(LOGITS, 0, 5, new SamplingParams(0.1, 0, 1, 0, 1, Set.of()));
        assertTrue(cold[4] > 0.99);
        SamplingParams hot = new SamplingParams(1, 0, 1, 7, 1, Set.of());
        double[] p = Sampler.probabilities(LOGITS, 0, 5, hot);
        Sampler s = new Sampler(hot, 0);
        int[] counts = new int[5];
        int n = 20000;
        for (int i = 0; i < n; i++) counts[(int) s.next(LOGITS, 0, 5)]++;
        for (int i = 0; i < 5; i++) assertEquals(p[i], counts[i] / (double) n, 0.015, "token " + i);
        assertEquals(4, Sampler.argmax(LOGITS, 0, 5));
    }

    @Test
    void badParametersAreRejected() {
        assertThrows(IllegalArgumentException.class, () -> new SamplingParams(-1, 0, 1, 0, 1, Set.of()));
        assertThrows(IllegalArgumentException.class, () -> new SamplingParams(1, -1, 1, 0, 1, Set.of()));
        assertThrows(IllegalArgumentException.class, () -> new SamplingParams(1, 0, 0, 0, 1, Set.of()));
        assertThrows(IllegalArgumentException.class, () -> new SamplingParams(1, 0, 1.5, 0, 1, Set.of()));
        assertThrows(IllegalArgumentException.class, () -> new SamplingParams(1, 0, 1, 0, -2, Set.of()));
    }
}
