package dev.liger.hardening;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.liger.train.Checkpoint;
import dev.liger.train.LossSpikeException;
import dev.liger.train.NonFiniteLossException;
import dev.liger.train.NonFinitePolicy;
import dev.liger.train.Objective;
import dev.liger.train.StepStats;
import dev.liger.train.TinyLm;
import dev.liger.train.TrainConfig;
import dev.liger.train.Trainer;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Numerical faults end to end on the trainer: a non-finite gradient in one layer, NaN in the inputs (the
 * loss), a corrupted parameter and a loss spike are each detected, reported with the step (and the tensor,
 * hence the layer, where one is to blame), stopped or skipped per the policy, and never written into a
 * checkpoint: every checkpoint left behind loads and holds only finite tensors.
 */
class NumericalFaultTest {
    static final String V_LORA_A = "base_model.model.model.layers.0.self_attn.v_proj.lora_A.weight";

    @TempDir Path tmp;

    private static TrainConfig config(Path out, long steps, NonFinitePolicy policy) {
        return TrainConfig.defaults(steps, out).withProgress(false).withCheckpointEvery(1).withNonFinite(policy);
    }

    /** The model's objective, with the loss of batch {@code at} (0-based) multiplied by {@code factor}. */
    private static Objective<TinyLm.Batch> scaledAt(TinyLm m, TinyLm.Source src, long at, double factor) {
        Objective<TinyLm.Batch> base = m.objective();
        return new Objective<>() {
            @Override public long targets(TinyLm.Batch b) { return base.targets(b); }
            @Override public Tensor lossSum(TinyLm.Batch b) {
                Tensor l = base.lossSum(b);
                return src.cursor() - 1 == at ? l.mul(new Scalar(factor)) : l;
            }
        };
    }

    private static void assertCheckpointsFinite(Path root) throws IOException {
        List<Path> all = Checkpoint.complete(root);
        assertFalse(all.isEmpty(), "no checkpoint written");
        for (Path dir : all) {
            Checkpoint c = Checkpoint.load(dir);
            for (Map<String, Tensor> group : List.of(c.params(), c.optimizer()))
                for (var e : group.entrySet())
                    assertTrue(e.getValue().isfinite().all().item().toBool(), dir + ": " + e.getKey() + " is not finite");
        }
    }

    @Test
    void gradientFaultInOneLayerStopsNamingStepAndLayer() throws IOException {
        TinyLm m = new TinyLm(3);
        TinyLm.Source src = new TinyLm.Source(2, 8);
        Map<String, Tensor> params = m.lora.trainable();
        assertTrue(params.containsKey(V_LORA_A), params.keySet().toString());
        Trainer<TinyLm.Batch> t = new Trainer<>(config(tmp, 8, NonFinitePolicy.STOP), params, m.objective(), src);
        t.afterBackward(() -> {
            if (src.cursor() == 4) params.get(V_LORA_A).grad().fill_(new Scalar(Double.POSITIVE_INFINITY));
        });
        NonFiniteLossException e = assertThrows(NonFiniteLossException.class, t::run);
        assertEquals(4, e.step());
        assertTrue(e.getMessage().contains("step 4") && e.getMessage().contains(V_LORA_A) && e.getMessage().contains("layers.0"),
                e.getMessage());
        assertEquals(3, t.step());
        assertEquals("step-00000003", Checkpoint.latest(t.checkpointDir()).orElseThrow().getFileName().toString());
        assertCheckpointsFinite(t.checkpointDir());
    }

    @Test
    void nanInputsAreSkippedAndNeverCheckpointed() throws IOException {
        TinyLm m = new TinyLm(3);
        TinyLm.Source src = new TinyLm.Source(2, 8);
        Trainer<TinyLm.Batch> t = new Trainer<>(config(tmp, 6, NonFinitePolicy.SKIP), m.lora.trainable(),
                scaledAt(m, src, 2, Double.NaN), src);
        List<StepStats> stats = t.run();
        assertEquals(6, stats.size());
        for (StepStats s : stats) assertEquals(s.step() == 3, s.skipped(), "step " + s.step());
        assertCheckpointsFinite(t.checkpointDir());
    }

    @Test
    void corruptedParameterIsNamedAndNotCheckpointed() throws IOException {
        TinyLm m = new TinyLm(3);
        TinyLm.Source src = new TinyLm.Source(2, 8);
        Map<String, Tensor> params = m.lora.trainable();
        Trainer<TinyLm.Batch> t = new Trainer<>(config(tmp, 8, NonFinitePolicy.STOP), params, m.objective(), src);
        t.onStep(s -> {
            if (s.step() == 2) {
                try (var g = new org.bytedeco.pytorch.NoGradGuard()) {
                    params.get(V_LORA_A).view(-1).narrow(0, 0, 1).fill_(new Scalar(Double.NaN));
                }
            }
        });
        // The corruption lands after step 2's update, before its checkpoint: that save is refused.
        IllegalStateException refused = assertThrows(IllegalStateException.class, t::run);
        assertTrue(refused.getMessage().contains("refusing to checkpoint") && refused.getMessage().contains(V_LORA_A), refused.getMessage());
        assertEquals("step-00000001", Checkpoint.latest(t.checkpointDir()).orElseThrow().getFileName().toString());
        // Carrying on from the corrupted state: the next step's loss is NaN and the parameter is named.
        NonFiniteLossException e = assertThrows(NonFiniteLossException.class, t::run);
        assertEquals(3, e.step());
        assertTrue(e.getMessage().contains("non-finite parameters in " + V_LORA_A), e.getMessage());
        assertCheckpointsFinite(t.checkpointDir());
    }

    @Test
    void lossSpikeStopsOrSkipsPerPolicy() throws IOException {
        TinyLm m = new TinyLm(3);
        TinyLm.Source src = new TinyLm.Source(2, 8);
        Trainer<TinyLm.Batch> stop = new Trainer<>(config(tmp.resolve("stop"), 10, NonFinitePolicy.STOP), m.lora.trainable(),
                scaledAt(m, src, 6, 50), src).lossSpike(5, 3);
        LossSpikeException e = assertThrows(LossSpikeException.class, stop::run);
        assertEquals(7, e.step());
        assertTrue(e.loss() > 5 * e.recentMean() && e.getMessage().contains("step 7"), e.getMessage());
        assertEquals(6, stop.step());

        TinyLm m2 = new TinyLm(3);
        TinyLm.Source src2 = new TinyLm.Source(2, 8);
        Map<String, Tensor> p2 = m2.lora.trainable();
        java.util.Map<Long, float[]> snap = new java.util.HashMap<>();
        Trainer<TinyLm.Batch> skip = new Trainer<>(config(tmp.resolve("skip"), 10, NonFinitePolicy.SKIP), p2,
                scaledAt(m2, src2, 6, 50), src2).lossSpike(5, 3);
        skip.onStep(s -> snap.put(s.step(), dev.liger.train.TT.toFloats(p2.get(V_LORA_A))));
        List<StepStats> stats = skip.run();
        assertEquals(10, stats.size());
        for (StepStats s : stats) assertEquals(s.step() == 7, s.skipped(), "step " + s.step());
        assertTrue(java.util.Arrays.equals(snap.get(6L), snap.get(7L)), "a skipped spike must not update the parameters");
        assertCheckpointsFinite(skip.checkpointDir());
    }
}
