package dev.liger.cli;

import dev.liger.data.OnMalformed;
import dev.liger.data.PackedDataset;
import dev.liger.data.Packer;
import dev.liger.data.PackingConfig;
import dev.liger.lora.LoraConfig;
import dev.liger.pipeline.Corpus;
import dev.liger.pipeline.Finetune;
import dev.liger.surgery.LigerAttention;
import dev.liger.surgery.LigerConfig;
import dev.liger.surgery.LigerModels;
import dev.liger.surgery.Linearizer;
import dev.liger.train.AdamWConfig;
import dev.liger.train.LrSchedule;
import dev.liger.train.NonFinitePolicy;
import dev.liger.train.Precision;
import dev.liger.train.TrainConfig;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * LoRA fine-tuning. A Transformer checkpoint is linearized first (with the Liger flags); a Liger checkpoint is
 * trained as it is. Writes PEFT adapters, checkpoints and a JSON-lines log to --out; --export also writes the
 * merged model.
 */
@Command(name = "finetune", mixinStandardHelpOptions = true,
        description = "Recover a linearized model's quality with LoRA on text, JSONL or Alpaca data.")
public final class FinetuneCommand implements Callable<Integer> {
    @Mixin
    ModelOptions model;

    @Mixin
    LigerOptions liger;

    @Option(names = "--data", required = true, split = ",", paramLabel = "FILE", description = "Training files (comma-separated or repeated).")
    List<Path> data = new ArrayList<>();

    @Option(names = "--format", defaultValue = "auto", description = "lines, blocks, jsonl, alpaca or auto (by extension). Default: ${DEFAULT-VALUE}.")
    String format;

    @Option(names = "--on-malformed", defaultValue = "skip", description = "skip (report and go on) or reject (stop at the first). Default: ${DEFAULT-VALUE}.")
    String onMalformed;

    @Option(names = {"-o", "--out"}, required = true, paramLabel = "DIR", description = "Run directory: adapter/, checkpoints/, train.jsonl.")
    Path out;

    @Option(names = "--steps", defaultValue = "200", description = "Optimizer steps. Default: ${DEFAULT-VALUE}.") long steps;
    @Option(names = "--seq-len", defaultValue = "512", description = "Packed sequence length. Default: ${DEFAULT-VALUE}.") int seqLen;
    @Option(names = "--batch", defaultValue = "8", description = "Rows per micro-batch. Default: ${DEFAULT-VALUE}.") int batch;
    @Option(names = "--grad-accum", defaultValue = "1", description = "Micro-batches per step. Default: ${DEFAULT-VALUE}.") int gradAccum;
    @Option(names = "--lr", defaultValue = "1e-3", description = "AdamW learning rate. Default: ${DEFAULT-VALUE}.") double lr;
    @Option(names = "--weight-decay", defaultValue = "0.01", description = "AdamW weight decay. Default: ${DEFAULT-VALUE}.") double weightDecay;
    @Option(names = "--schedule", defaultValue = "constant", description = "constant, cosine or linear. Default: ${DEFAULT-VALUE}.") String schedule;
    @Option(names = "--warmup", defaultValue = "0", description = "Linear warm-up steps. Default: ${DEFAULT-VALUE}.") long warmup;
    @Option(names = "--clip", defaultValue = "0", description = "Global gradient-norm clip (0 = off). Default: ${DEFAULT-VALUE}.") double clip;
    @Option(names = "--seed", defaultValue = "0", description = "Seed (data order, LoRA init, dropout). Default: ${DEFAULT-VALUE}.") long seed;
    @Option(names = "--precision", defaultValue = "fp32", description = "fp32 or bf16 (autocast). Default: ${DEFAULT-VALUE}.") String precision;
    @Option(names = "--eval-every", defaultValue = "0", description = "Validate every N steps (0 = only at the end). Default: ${DEFAULT-VALUE}.") long evalEvery;
    @Option(names = "--checkpoint-every", defaultValue = "50", description = "Checkpoint every N steps (0 = off). Default: ${DEFAULT-VALUE}.") long checkpointEvery;
    @Option(names = "--validation-fraction", defaultValue = "0.02", description = "Share of documents held out. Default: ${DEFAULT-VALUE}.") double validationFraction;
    @Option(names = "--on-nan", defaultValue = "stop", description = "stop or skip a step whose loss is NaN/Inf. Default: ${DEFAULT-VALUE}.") String onNan;
    @Option(names = "--resume", description = "Continue from the latest complete checkpoint in --out.") boolean resume;
    @Option(names = "--lora-rank", defaultValue = "8", description = "Default: ${DEFAULT-VALUE}.") int loraRank;
    @Option(names = "--lora-alpha", defaultValue = "8", description = "Default: ${DEFAULT-VALUE}.") double loraAlpha;
    @Option(names = "--lora-dropout", defaultValue = "0", description = "Default: ${DEFAULT-VALUE}.") double loraDropout;
    @Option(names = "--lora-targets", defaultValue = "q_proj,k_proj,v_proj", split = ",", description = "Default: ${DEFAULT-VALUE}.") List<String> loraTargets;
    @Option(names = "--export", paramLabel = "DIR", description = "Also write the merged model (weights + liger_config.json) here.") Path export;

    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        PrintWriter w = spec.commandLine().getOut();
        Path dir = model.directory();
        LigerConfig existing = LigerModels.configOf(dir);
        OnMalformed policy = switch (onMalformed.toLowerCase(Locale.ROOT)) {
            case "skip" -> OnMalformed.SKIP;
            case "reject" -> OnMalformed.REJECT;
            default -> throw new IllegalArgumentException("--on-malformed " + onMalformed + ": expected skip or reject");
        };
        NonFinitePolicy nan = switch (onNan.toLowerCase(Locale.ROOT)) {
            case "stop" -> NonFinitePolicy.STOP;
            case "skip" -> NonFinitePolicy.SKIP;
            default -> throw new IllegalArgumentException("--on-nan " + onNan + ": expected stop or skip");
        };
        try (ModelOptions.Loaded loaded = model.load()) {
            LigerConfig cfg = existing;
            if (cfg == null) {
                cfg = liger.config(loaded.model().layers().size());
                Linearizer.linearize(loaded.model(), cfg, model.backend(), model.f16Mode());
                w.printf("linearized %s (%s, window %d, mix %.2f)%n", model.displayName(), cfg.variant().key(), cfg.window(), cfg.mix());
            }
            var docs = Corpus.tokenize(Corpus.read(data, Corpus.Format.parse(format), policy, System.err),
                    Corpus.encoder(loaded.tokenizer()));
            int pad = loaded.tokenizer().specialTokens().getOrDefault("<pad>", 0);
            PackedDataset ds = Packer.pack(docs, new PackingConfig(seqLen, pad, validationFraction, seed));
            w.printf("data: %d documents -> %d training rows, %d validation rows of %d tokens%n",
                    docs.size(), ds.train().size(), ds.validation().size(), seqLen);
            TrainConfig tc = new TrainConfig(new AdamWConfig(lr, weightDecay, 0.9, 0.999, 1e-8),
                    LrSchedule.parse(schedule, warmup, steps), steps, gradAccum, clip, seed, Precision.parse(precision),
                    evalEvery, checkpointEvery, 2, nan, out, true);
            LoraConfig lc = new LoraConfig(loraRank, loraAlpha, loraDropout, loraTargets, false, seed);
            w.flush();
            Finetune.Result r = Finetune.run(loaded.model(), lc, tc, ds.train(), ds.validation(), batch, resume, System.err);
            r.resumedFrom().ifPresent(s -> w.printf("resumed from step %d%n", s));
            r.adapters().save(out.resolve("adapter"), dir.toString());
            w.printf("trained %d LoRA parameters; validation loss %.4f (perplexity %.2f)%n", r.adapters().trainableCount(),
                    r.validationLoss(), Math.exp(r.validationLoss()));
            w.printf("adapter: %s%n", out.resolve("adapter"));
            if (export != null) {
                r.adapters().mergeAndUnload();
                LigerModels.export(loaded.model(), cfg, dir, export);
                w.printf("merged model: %s%n", export);
            }
        }
        return 0;
    }
}
