package dev.liger.cli;

import dev.liger.surgery.LigerAttention;
import dev.liger.surgery.LigerConfig;
import dev.liger.surgery.LigerModels;
import dev.liger.surgery.Linearizer;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** Converts a Transformer checkpoint into a Liger checkpoint (same weights plus liger_config.json). */
@Command(name = "linearize", mixinStandardHelpOptions = true,
        description = "Convert every softmax attention layer to Liger attention (no new parameters) and write the converted checkpoint.")
public final class LinearizeCommand implements Callable<Integer> {
    @Mixin
    ModelOptions model;

    @Mixin
    LigerOptions liger;

    @Option(names = {"-o", "--out"}, required = true, paramLabel = "DIR", description = "Output checkpoint directory (must not exist or be empty).")
    Path out;

    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
        Path dir = model.directory();
        if (LigerModels.configOf(dir) != null)
            throw new IllegalArgumentException("--model " + dir + " is already a Liger checkpoint (it has " + LigerConfig.FILE_NAME + ")");
        try (ModelOptions.Loaded loaded = model.load()) {
            LigerConfig cfg = liger.config(loaded.model().layers().size());
            int converted = Linearizer.linearize(loaded.model(), cfg, LigerAttention.Backend.NATIVE).size();
            LigerModels.export(loaded.model(), cfg, dir, out);
            var w = spec.commandLine().getOut();
            w.printf("linearized %d of %d layers (%s%s, window %d, mix %.2f, gate %s); kept softmax attention in %s%n",
                    converted, loaded.model().layers().size(), cfg.variant().key(),
                    cfg.variant() == LigerConfig.Variant.GDN ? " beta " + cfg.gdnBeta() : "", cfg.window(), cfg.mix(),
                    cfg.useGate() ? "on, normalizer " + cfg.gateNormalizer() : "off", cfg.fullAttentionLayers());
            w.printf("wrote %s%n", out);
        }
        return 0;
    }
}
