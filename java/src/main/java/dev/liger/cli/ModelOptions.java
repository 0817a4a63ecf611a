package dev.liger.cli;

import dev.liger.config.ModelConfig;
import dev.liger.kernels.LigerAttnConfig;
import dev.liger.model.DefaultModel;
import dev.liger.model.LlamaModel;
import dev.liger.surgery.LigerAttention;
import dev.liger.surgery.LigerModels;
import dev.liger.tokenizer.Tokenizer;
import java.nio.file.Files;
import java.nio.file.Path;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import picocli.CommandLine.Option;

/** --model, --dtype and --device, shared by every command that runs a model (use with @Mixin). */
public final class ModelOptions {
    @Option(names = "--model", paramLabel = "DIR",
            description = "Hugging Face checkpoint directory (config.json, *.safetensors, tokenizer.json). Default: the embedded tiny-llama.")
    Path model;

    @Option(names = "--dtype", paramLabel = "TYPE", defaultValue = "auto",
            description = "float32, bfloat16, float16, or auto (float32 on CPU, the checkpoint's dtype on CUDA). Default: ${DEFAULT-VALUE}.")
    String dtype;

    @Option(names = "--device", paramLabel = "DEV", defaultValue = "cpu", description = "cpu, cuda or cuda:N. Default: ${DEFAULT-VALUE}.")
    String device;

    @Option(names = "--liger-backend", paramLabel = "IMPL", defaultValue = "native",
            description = "Liger attention implementation for converted models: native (the kernels) or reference (pure libtorch). Default: ${DEFAULT-VALUE}.")
    String ligerBackend;

    @Option(names = "--cuda-f16", paramLabel = "MODE", defaultValue = "default",
            description = "Kernels for float16 Liger attention on CUDA: accurate (fp32 tiles, fp16's accuracy), fast (the bf16 kernels: "
                    + "bf16's accuracy and speed) or default (fast when LIGER_CUDA_F16_FAST=1 is set, else accurate). Default: ${DEFAULT-VALUE}.")
    String cudaF16;

    public LigerAttnConfig.F16Mode f16Mode() {
        return switch (cudaF16.trim().toLowerCase()) {
            case "default" -> LigerAttnConfig.F16Mode.DEFAULT;
            case "accurate" -> LigerAttnConfig.F16Mode.ACCURATE;
            case "fast" -> LigerAttnConfig.F16Mode.FAST;
            default -> throw new IllegalArgumentException("--cuda-f16 " + cudaF16 + ": expected default, accurate or fast");
        };
    }

    public LigerAttention.Backend backend() {
        return switch (ligerBackend.trim().toLowerCase()) {
            case "native" -> LigerAttention.Backend.NATIVE;
            case "reference" -> LigerAttention.Backend.REFERENCE;
            default -> throw new IllegalArgumentException("--liger-backend " + ligerBackend + ": expected native or reference");
        };
    }

    /** The checkpoint directory, validated. */
    public Path directory() {
        Path dir = model == null ? DefaultModel.path() : model;
        if (!Files.isDirectory(dir)) throw new IllegalArgumentException("--model " + dir + ": not a directory");
        if (!Files.isRegularFile(dir.resolve("config.json"))) throw new IllegalArgumentException("--model " + dir + ": no config.json");
        return dir;
    }

    public String displayName() {
        return model == null ? "embedded " + DefaultModel.NAME : model.toString();
    }

    public Device torchDevice() {
        String d = device.trim().toLowerCase();
        if (d.equals("cpu")) return new Device(torch.DeviceType.CPU);
        if (d.equals("cuda") || d.matches("cuda:\\d+")) {
            if (!torch.cuda_is_available()) throw new IllegalArgumentException("--device " + device + ": CUDA is not available in this libtorch build or machine");
            int index = d.equals("cuda") ? 0 : Integer.parseInt(d.substring(5));
            if (index >= torch.cuda_device_count()) throw new IllegalArgumentException("--device " + device + ": only " + torch.cuda_device_count() + " CUDA device(s)");
            return new Device(torch.DeviceType.CUDA, (byte) index);
        }
        throw new IllegalArgumentException("--device " + device + ": expected cpu, cuda or cuda:N");
    }

    public ScalarType scalarType(ModelConfig config, Device dev) {
        return switch (dtype.trim().toLowerCase()) {
            case "auto" -> dev.is_cuda() ? LlamaModel.configDtype(config) : ScalarType.Float;
            case "float32", "fp32", "f32" -> ScalarType.Float;
            case "bfloat16", "bf16" -> ScalarType.BFloat16;
            case "float16", "fp16", "f16", "half" -> ScalarType.Half;
            default -> throw new IllegalArgumentException("--dtype " + dtype + ": expected float32, bfloat16, float16 or auto");
        };
    }

    /** Loads model and tokenizer. */
    public Loaded load() {
        Path dir = directory();
        ModelConfig config = ModelConfig.load(dir.resolve("config.json"));
        Device dev = torchDevice();
        ScalarType st = scalarType(config, dev);
        LlamaModel m = LigerModels.load(dir, dev, st, backend(), f16Mode());
        try {
            Tokenizer tok = Tokenizer.load(dir);
            return new Loaded(dir, m, tok);
        } catch (RuntimeException e) {
            m.close();
            throw e;
        }
    }

    public static String dtypeName(ScalarType t) {
        return switch (t.intern()) {
            case Float -> "float32";
            case BFloat16 -> "bfloat16";
            case Half -> "float16";
            default -> t.intern().toString();
        };
    }

    public record Loaded(Path dir, LlamaModel model, Tokenizer tokenizer) implements AutoCloseable {
        @Override
        public void close() {
            tokenizer.close();
            model.close();
        }
    }
}
