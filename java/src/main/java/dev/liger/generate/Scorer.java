package dev.liger.generate;

import dev.liger.model.LlamaModel;
import dev.liger.model.Positions;
import dev.liger.model.Tensors;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

/** Teacher-forced scoring: per-token log-likelihoods, perplexity, and full logits at chosen positions. */
public final class Scorer {
    private final LlamaModel model;

    public Scorer(LlamaModel model) {
        this.model = model;
    }

    /**
     * @param logProbs   log p(ids[t+1] | ids[..t]) for t = 0..n-2 (natural log, fp32 log-softmax of the logits)
     * @param logitsAt   the requested positions
     * @param logits     logits[i] = the full logit row at position logitsAt[i]
     */
    public record Score(long[] ids, double[] logProbs, int[] logitsAt, float[][] logits) {
        public double perplexity() {
            if (logProbs.length == 0) return Double.NaN;
            double s = 0;
            for (double l : logProbs) s += l;
            return Math.exp(-s / logProbs.length);
        }
    }

    public Score score(long[] ids, int[] logitsAt) {
        int n = ids.length;
        if (n == 0) throw new IllegalArgumentException("nothing to score: no tokens");
        int vocab = model.config().vocabSize();
        for (long id : ids) {
            if (id < 0 || id >= vocab) throw new IllegalArgumentException("token id " + id + " outside the vocabulary [0, " + vocab + ")");
        }
        for (int p : logitsAt) {
            if (p < 0 || p >= n) throw new IllegalArgumentException("--logits-at position " + p + " outside [0, " + n + ")");
        }
        try (PointerScope scope = new PointerScope()) {
            Tensor t = Tensors.longs(ids, 1, n).to(model.device(), ScalarType.Long);
            Tensor logits = model.forward(t, Positions.contiguous(1, n, 0, model.device())).select(0, 0).to(ScalarType.Float);
            Tensor lp = logits.log_softmax(-1);
            double[] out = new double[n - 1];
            if (n > 1) {
                Tensor targets = Tensors.longs(java.util.Arrays.copyOfRange(ids, 1, n), n - 1, 1).to(model.device(), ScalarType.Long);
                float[] g = Tensors.toFloats(lp.narrow(0, 0, n - 1).gather(1, targets));
                for (int i = 0; i < g.length; i++) out[i] = g[i];
            }
            float[][] rows = new float[logitsAt.length][];
            for (int i = 0; i < logitsAt.length; i++) rows[i] = Tensors.toFloats(logits.select(0, logitsAt[i]));
            return new Score(ids.clone(), out, logitsAt.clone(), rows);
        }
    }
}
