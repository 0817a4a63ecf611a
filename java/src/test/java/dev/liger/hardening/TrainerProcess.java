package dev.liger.hardening;

import dev.liger.lora.LoraConfig;
import dev.liger.train.LrSchedule;
import dev.liger.train.StepStats;
import dev.liger.train.TinyLm;
import dev.liger.train.TrainConfig;
import dev.liger.train.Trainer;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.Optional;

/**
 * A training run of the tiny LM that checkpoints after every step, as a separate program so that a test
 * can SIGKILL it. It resumes from the newest complete checkpoint under its output directory, prints
 * {@code RESUMED <step>} (or {@code FRESH}), then {@code STEP <n> <loss>} for every step, just before that
 * step's checkpoint is written, and {@code DONE} at the end. Dropout makes the run depend on the saved RNG
 * state and the data source on its saved cursor, so an exact resume is a real test of what a checkpoint holds.
 */
public final class TrainerProcess {
    private TrainerProcess() {}

    public static void main(String[] args) throws IOException {
        Path out = Path.of(args[0]);
        long steps = Long.parseLong(args[1]);
        run(out, steps, System.out);
        System.out.println("DONE");
        System.out.flush();
    }

    static Trainer<TinyLm.Batch> trainer(Path out, long steps) {
        TinyLm m = new TinyLm(5, LoraConfig.defaults().withRank(2).withAlpha(4).withDropout(0.2).withSeed(9));
        TrainConfig cfg = TrainConfig.defaults(steps, out).withProgress(false).withCheckpointEvery(1)
                .withSchedule(new LrSchedule(LrSchedule.Kind.COSINE, 2, steps, 0.1));
        return new Trainer<>(cfg, m.lora.trainable(), m.objective(), new TinyLm.Source(3, 10)).rng(m.rng);
    }

    static void run(Path out, long steps, PrintStream log) throws IOException {
        Trainer<TinyLm.Batch> t = trainer(out, steps);
        Optional<Long> from = t.resume();
        log.println(from.map(s -> "RESUMED " + s).orElse("FRESH"));
        t.onStep((StepStats s) -> {
            log.println("STEP " + s.step() + " " + s.loss());
            log.flush();
        });
        t.run();
    }
}
