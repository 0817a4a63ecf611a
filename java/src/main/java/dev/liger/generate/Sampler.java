package dev.liger.generate;

import java.util.Arrays;
import java.util.SplittableRandom;

/** Picks one token from a row of logits. Deterministic for a given seed; one instance per sequence. */
public final class Sampler {
    private final SamplingParams params;
    private final SplittableRandom random;

    public Sampler(SamplingParams params, long streamId) {
        this.params = params;
        this.random = new SplittableRandom(params.seed() ^ (0x9E3779B97F4A7C15L * (streamId + 1)));
    }

    public long next(float[] logits, int offset, int vocab) {
        if (params.isGreedy()) return argmax(logits, offset, vocab);
        double[] p = probabilities(logits, offset, vocab, params);
        double u = random.nextDouble();
        double acc = 0;
        int last = -1;
        for (int i = 0; i < vocab; i++) {
            if (p[i] == 0) continue;
            acc += p[i];
            last = i;
            if (u < acc) return i;
        }
        return last;
    }

    public static long argmax(float[] logits, int offset, int vocab) {
        int best = 0;
        float bv = logits[offset];
        for (int i = 1; i < vocab; i++) {
            float v = logits[offset + i];
            if (v > bv || (Float.isNaN(bv) && !Float.isNaN(v))) {
                bv = v;
                best = i;
            }
        }
        return best;
    }

    /** The filtered, renormalized distribution that {@link #next} samples from (zeros outside top-k/top-p). */
    static double[] probabilities(float[] logits, int offset, int vocab, SamplingParams params) {
        double[] z = new double[vocab];
        double max = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < vocab; i++) {
            z[i] = logits[offset + i] / params.temperature();
            max = Math.max(max, z[i]);
        }
        if (Double.isInfinite(max) || Double.isNaN(max)) throw new IllegalStateException("logits have no finite maximum (NaN or all -inf)");
        double sum = 0;
        for (int i = 0; i < vocab; i++) {
            z[i] = Math.exp(z[i] - max);
            sum += z[i];
        }
        for (int i = 0; i < vocab; i++) z[i] /= sum;
        Integer[] order = null;
        if (params.topK() > 0 && params.topK() < vocab || params.topP() < 1) {
            order = new Integer[vocab];
            for (int i = 0; i < vocab; i++) order[i] = i;
            final double[] zz = z;
            Arrays.sort(order, (a, b) -> zz[a] != zz[b] ? Double.compare(zz[b], zz[a]) : Integer.compare(a, b));
        }
        if (order == null) return z;
        int keep = params.topK() > 0 ? Math.min(params.topK(), vocab) : vocab;
        if (params.topP() < 1) {
            double acc = 0;
            int n = 0;
            while (n < keep) {
                acc += z[order[n]];
                n++;
                if (acc >= params.topP()) break;
            }
            keep = n;
        }
        double[] out = new double[vocab];
        double s = 0;
        for (int r = 0; r < keep; r++) s += z[order[r]];
        for (int r = 0; r < keep; r++) out[order[r]] = z[order[r]] / s;
        return out;
    }
}
