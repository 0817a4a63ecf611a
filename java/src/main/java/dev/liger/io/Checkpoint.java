package dev.liger.io;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.bytedeco.pytorch.Tensor;

/**
 * The weights of a Hugging Face checkpoint: one {@code model.safetensors} or the shards listed by
 * {@code model.safetensors.index.json}. Tensors are looked up by their Hugging Face name.
 */
public final class Checkpoint implements AutoCloseable {
    public static final String SINGLE = "model.safetensors";
    public static final String INDEX = "model.safetensors.index.json";

    private final Path source;
    private final List<SafetensorsFile> files;
    private final Map<String, SafetensorsFile> byName;

    private Checkpoint(Path source, List<SafetensorsFile> files, Map<String, SafetensorsFile> byName) {
        this.source = source;
        this.files = files;
        this.byName = byName;
    }

    /** Opens a checkpoint directory, an index file, or a single .safetensors file. */
    public static Checkpoint open(Path path) {
        if (Files.isDirectory(path)) {
            Path index = path.resolve(INDEX);
            if (Files.isRegularFile(index)) return openIndex(index);
            Path single = path.resolve(SINGLE);
            if (Files.isRegularFile(single)) return openFiles(single, List.of(single));
            throw new SafetensorsException(path + ": no " + SINGLE + " or " + INDEX + " in this directory");
        }
        if (!Files.isRegularFile(path)) throw new SafetensorsException(path + ": no such file or directory");
        if (path.getFileName().toString().endsWith(".index.json")) return openIndex(path);
        return openFiles(path, List.of(path));
    }

    private static Checkpoint openIndex(Path index) {
        JsonNode root;
        try {
            root = new ObjectMapper().readTree(index.toFile());
        } catch (IOException e) {
            throw new SafetensorsException(index + ": cannot read index: " + e.getMessage(), e);
        }
        JsonNode map = root == null ? null : root.get("weight_map");
        if (map == null || !map.isObject()) throw new SafetensorsException(index + ": missing 'weight_map' object");
        Map<String, String> wanted = new LinkedHashMap<>();
        map.fields().forEachRemaining(e -> {
            if (!e.getValue().isTextual()) throw new SafetensorsException(index + ": weight_map['" + e.getKey() + "'] is not a file name");
            wanted.put(e.getKey(), e.getValue().asText());
        });
        Map<String, SafetensorsFile> opened = new LinkedHashMap<>();
        Map<String, SafetensorsFile> byName = new LinkedHashMap<>();
        try {
            for (Map.Entry<String, String> e : wanted.entrySet()) {
                String shard = e.getValue();
                if (shard.contains("/") || shard.contains("\\") || shard.startsWith("..")) {
                    throw new SafetensorsException(index + ": weight_map['" + e.getKey() + "'] names '" + shard + "' outside the checkpoint directory");
                }
                SafetensorsFile f = opened.get(shard);
                if (f == null) {
                    Path p = index.resolveSibling(shard);
                    if (!Files.isRegularFile(p)) {
                        throw new SafetensorsException(index + ": shard '" + shard + "' (holding tensor '" + e.getKey() + "') does not exist");
                    }
                    f = SafetensorsFile.open(p);
                    opened.put(shard, f);
                }
                if (!f.contains(e.getKey())) {
                    throw new SafetensorsException(f.path() + ": tensor '" + e.getKey() + "' listed in " + index.getFileName() + " is missing from the shard");
                }
                byName.put(e.getKey(), f);
            }
        } catch (RuntimeException ex) {
            opened.values().forEach(SafetensorsFile::close);
            throw ex;
        }
        return new Checkpoint(index, new ArrayList<>(opened.values()), Collections.unmodifiableMap(byName));
    }

    private static Checkpoint openFiles(Path source, List<Path> paths) {
        List<SafetensorsFile> files = new ArrayList<>();
        Map<String, SafetensorsFile> byName = new LinkedHashMap<>();
        try {
            for (Path p : paths) {
                SafetensorsFile f = SafetensorsFile.open(p);
                files.add(f);
                for (String n : f.names()) {
                    SafetensorsFile prev = byName.put(n, f);
                    if (prev != null) throw new SafetensorsException(p + ": tensor '" + n + "' also appears in " + prev.path());
                }
            }
        } catch (RuntimeException ex) {
            files.forEach(SafetensorsFile::close);
            throw ex;
        }
        return new Checkpoint(source, files, Collections.unmodifiableMap(byName));
    }

    public Path source() {
        return source;
    }

    public List<String> names() {
        return List.copyOf(byName.keySet());
    }

    public boolean contains(String name) {
        return byName.containsKey(name);
    }

    public TensorInfo info(String name) {
        return file(name).info(name);
    }

    /** Reads a tensor into a new CPU tensor of its stored dtype; a missing name is an error naming the checkpoint. */
    public Tensor load(String name) {
        return file(name).load(name);
    }

    private SafetensorsFile file(String name) {
        SafetensorsFile f = byName.get(name);
        if (f == null) throw new SafetensorsException(source + ": missing tensor '" + name + "'");
        return f;
    }

    @Override
    public void close() {
        files.forEach(SafetensorsFile::close);
    }
}
