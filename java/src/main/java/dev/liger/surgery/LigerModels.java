package dev.liger.surgery;

import dev.liger.io.SafetensorsWriter;
import dev.liger.kernels.LigerAttnConfig;
import dev.liger.model.LlamaModel;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;

/**
 * Loading and exporting checkpoints that may carry a Liger conversion: a Hugging Face directory plus, for a
 * converted model, {@code liger_config.json}. Loading such a directory converts the model again (the weights
 * are the pretrained ones with any LoRA merged in; Liger adds no parameters).
 */
public final class LigerModels {
    private LigerModels() {}

    /** Files copied unchanged from the source checkpoint by {@link #export}. */
    static final List<String> SIDE_FILES = List.of("config.json", "generation_config.json", "tokenizer.json",
            "tokenizer_config.json", "special_tokens_map.json");

    /** The Liger config stored beside a checkpoint, or null for a plain Transformer. */
    public static LigerConfig configOf(Path dir) {
        Path f = dir.resolve(LigerConfig.FILE_NAME);
        return Files.isRegularFile(f) ? LigerConfig.read(f) : null;
    }

    /** Loads {@code dir}; a directory with a liger_config.json comes back linearized (fp16 as the process default). */
    public static LlamaModel load(Path dir, Device device, ScalarType dtype, LigerAttention.Backend backend) {
        return load(dir, device, dtype, backend, LigerAttnConfig.F16Mode.DEFAULT);
    }

    /** Loads {@code dir}; a directory with a liger_config.json comes back linearized, its fp16 kernels chosen by f16. */
    public static LlamaModel load(Path dir, Device device, ScalarType dtype, LigerAttention.Backend backend,
                                  LigerAttnConfig.F16Mode f16) {
        LigerConfig cfg = configOf(dir);
        LlamaModel m = LlamaModel.load(dir, device, dtype);
        if (cfg != null) {
            try {
                Linearizer.linearize(m, cfg, backend, f16);
            } catch (RuntimeException e) {
                m.close();
                throw e;
            }
        }
        return m;
    }

    /**
     * Writes {@code model}'s weights (LoRA must be merged first), the source's config and tokenizer files, and the
     * Liger config (null for none) to {@code out}. The directory appears atomically: it is written next to its
     * final place and renamed, so an interrupted export never leaves a loadable half.
     */
    public static void export(LlamaModel model, LigerConfig config, Path source, Path out) {
        Path target = out.toAbsolutePath().normalize();
        Path tmp = target.resolveSibling(target.getFileName() + ".partial-" + ProcessHandle.current().pid());
        try {
            if (Files.exists(target) && !isEmptyDir(target))
                throw new IllegalArgumentException(out + ": export target exists and is not empty");
            deleteTree(tmp);
            Files.createDirectories(tmp);
            Map<String, Tensor> weights = new TreeMap<>(model.weights());
            SafetensorsWriter.write(tmp.resolve("model.safetensors"), weights, Map.of("format", "pt"));
            for (String f : SIDE_FILES) {
                Path s = source.resolve(f);
                if (Files.isRegularFile(s)) Files.copy(s, tmp.resolve(f));
            }
            if (config != null) config.write(tmp.resolve(LigerConfig.FILE_NAME));
            if (Files.exists(target)) Files.delete(target);
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new UncheckedIOException(out + ": export failed: " + e.getMessage(), e);
        } finally {
            try {
                deleteTree(tmp);
            } catch (IOException ignored) {
                // best effort: a leftover .partial directory is never read as a checkpoint
            }
        }
    }

    private static boolean isEmptyDir(Path p) throws IOException {
        if (!Files.isDirectory(p)) return false;
        try (Stream<Path> s = Files.list(p)) {
            return s.findAny().isEmpty();
        }
    }

    private static void deleteTree(Path p) throws IOException {
        if (!Files.exists(p)) return;
        try (Stream<Path> s = Files.walk(p)) {
            for (Path x : s.sorted(Comparator.reverseOrder()).toList()) Files.delete(x);
        }
    }
}
