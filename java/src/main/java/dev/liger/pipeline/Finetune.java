package dev.liger.pipeline;

import dev.liger.autograd.Tape;
import dev.liger.data.PackedRow;
import dev.liger.lora.LoraAdapters;
import dev.liger.lora.LoraConfig;
import dev.liger.model.LlamaModel;
import dev.liger.surgery.Linearizer;
import dev.liger.train.StepStats;
import dev.liger.train.TrainConfig;
import dev.liger.train.Trainer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Generator;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.global.torch;

import java.io.IOException;
import java.io.PrintStream;
import java.util.List;
import java.util.Optional;

/**
 * LoRA fine-tuning of a (converted) model on packed rows: adapters on the configured projections, everything
 * else frozen, native Liger layers trained through a tape, validation on held-out rows.
 */
public final class Finetune {
    private Finetune() {}

    /** @param resumedFrom the checkpoint step the run continued from, if it resumed */
    public record Result(LoraAdapters adapters, List<StepStats> steps, Optional<Long> resumedFrom, double validationLoss) {}

    public static Result run(LlamaModel model, LoraConfig lora, TrainConfig train, List<PackedRow> trainRows,
                             List<PackedRow> validationRows, int batchSize, boolean resume, PrintStream progress)
            throws IOException {
        Generator rng = torch.make_generator_cpu();
        LoraAdapters adapters = LoraAdapters.attach(model, lora, rng);
        PackedLmObjective objective = new PackedLmObjective(model);
        Tape tape = new Tape();
        Linearizer.setTape(model, tape);
        try {
            Trainer<List<PackedRow>> trainer = new Trainer<>(train, adapters.trainable(), objective,
                    new RowBatches(trainRows, batchSize, train.seed()))
                    .afterBackward(tape::backward)
                    .rng(rng)
                    .progressTo(progress);
            if (!validationRows.isEmpty()) trainer.evaluator(() -> validationLoss(model, validationRows, batchSize));
            Optional<Long> from = resume ? trainer.resume() : Optional.empty();
            adapters.train(true);
            List<StepStats> stats = trainer.run();
            adapters.train(false);
            double val = validationRows.isEmpty() ? Double.NaN : validationLoss(model, validationRows, batchSize);
            return new Result(adapters, stats, from, val);
        } finally {
            Linearizer.setTape(model, null);
            tape.close();
        }
    }

    /** Mean next-token loss per target over {@code rows}, without gradients. */
    public static double validationLoss(LlamaModel model, List<PackedRow> rows, int batchSize) {
        PackedLmObjective objective = new PackedLmObjective(model);
        double sum = 0;
        long n = 0;
        try (NoGradGuard ng = new NoGradGuard()) {
            for (int i = 0; i < rows.size(); i += batchSize) {
                List<PackedRow> batch = rows.subList(i, Math.min(rows.size(), i + batchSize));
                try (PointerScope scope = new PointerScope()) {
                    sum += objective.lossSum(batch).item_double();
                    n += objective.targets(batch);
                }
            }
        }
        return n == 0 ? Double.NaN : sum / n;
    }
}
