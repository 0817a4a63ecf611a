package dev.liger.cli;

import dev.liger.lora.LoraAdapters;
import dev.liger.surgery.LigerModels;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import org.bytedeco.pytorch.global.torch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** Merges a LoRA adapter into the weights and writes a self-contained checkpoint this project reloads. */
@Command(name = "export", mixinStandardHelpOptions = true,
        description = "Write a model (with its LoRA adapter merged) as a Hugging Face checkpoint plus liger_config.json.")
public final class ExportCommand implements Callable<Integer> {
    @Mixin
    ModelOptions model;

    @Option(names = "--adapter", paramLabel = "DIR", description = "LoRA adapter (PEFT layout) to merge.")
    Path adapter;

    @Option(names = {"-o", "--out"}, required = true, paramLabel = "DIR", description = "Output directory (must not exist or be empty).")
    Path out;

    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        Path dir = model.directory();
        try (ModelOptions.Loaded loaded = model.load()) {
            if (adapter != null) LoraAdapters.load(adapter, loaded.model(), torch.make_generator_cpu()).mergeAndUnload();
            LigerModels.export(loaded.model(), LigerModels.configOf(dir), dir, out);
        }
        spec.commandLine().getOut().printf("wrote %s%s%n", out, adapter == null ? "" : " (adapter " + adapter + " merged)");
        return 0;
    }
}
