package dev.liger.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.InputStream;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import dev.liger.io.SafetensorsException;
import dev.liger.io.SafetensorsFile;
import dev.liger.io.SafetensorsWriter;
import org.bytedeco.pytorch.Tensor;

/**
 * A training checkpoint: trainable tensors, optimizer state, RNG states, the step and the data
 * cursor. Saved atomically: everything is written and fsync'd in a hidden temp directory, a manifest
 * (file sizes and SHA-256) is written last, and the directory is renamed into place. Only a
 * {@code step-N} directory whose manifest verifies is ever loaded, so a kill at any point leaves
 * either the previous checkpoint or the new one.
 */
public record Checkpoint(
    long step,
    long optimizerStep,
    long cursor,
    Map<String, Tensor> params,
    Map<String, Tensor> optimizer,
    Map<String, Tensor> rng,
    Map<String, String> info) {

  public static final String TENSORS = "tensors.safetensors";
  public static final String STATE = "state.json";
  public static final String MANIFEST = "MANIFEST.json";
  private static final int FORMAT = 1;
  private static final Pattern DIR = Pattern.compile("step-(\\d+)");
  private static final ObjectMapper JSON = new ObjectMapper();

  /** Writes this checkpoint under root as step-NNNNNNNN and returns that directory. */
  public Path save(Path root) throws IOException {
    Files.createDirectories(root);
    cleanTemp(root);
    String name = String.format("step-%08d", step);
    Path tmp = root.resolve(".tmp-" + name + "-" + ProcessHandle.current().pid() + "-" + System.nanoTime());
    Files.createDirectory(tmp);
    Map<String, Tensor> all = new LinkedHashMap<>();
    params.forEach((k, v) -> all.put("param/" + k, v));
    optimizer.forEach((k, v) -> all.put("optim/" + k, v));
    rng.forEach((k, v) -> all.put("rng/" + k, v));
    try {
      SafetensorsWriter.write(tmp.resolve(TENSORS), all, Map.of("format", "liger-checkpoint"));
    } catch (SafetensorsException e) {
      throw new IOException(e.getMessage(), e);
    }

    ObjectNode state = JSON.createObjectNode();
    state.put("format", FORMAT);
    state.put("step", step);
    state.put("optimizer_step", optimizerStep);
    state.put("cursor", cursor);
    ObjectNode infoNode = state.putObject("info");
    info.forEach(infoNode::put);
    writeSynced(tmp.resolve(STATE), JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(state));

    ObjectNode manifest = JSON.createObjectNode();
    manifest.put("format", FORMAT);
    manifest.put("step", step);
    ObjectNode files = manifest.putObject("files");
    for (String f : List.of(TENSORS, STATE)) {
      ObjectNode e = files.putObject(f);
      e.put("bytes", Files.size(tmp.resolve(f)));
      e.put("sha256", sha256(tmp.resolve(f)));
    }
    writeSynced(tmp.resolve(MANIFEST), JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(manifest));
    syncDir(tmp);

    Path dst = root.resolve(name);
    if (Files.exists(dst)) {
      // Re-saving a step (after a resume): move the old one aside first so the rename stays atomic.
      Path old = root.resolve(".tmp-old-" + name + "-" + System.nanoTime());
      Files.move(dst, old, StandardCopyOption.ATOMIC_MOVE);
      deleteTree(old);
    }
    try {
      Files.move(tmp, dst, StandardCopyOption.ATOMIC_MOVE);
    } catch (AtomicMoveNotSupportedException e) {
      throw new IOException("checkpoint directory " + root + " does not support atomic rename", e);
    }
    syncDir(root);
    return dst;
  }

  /** The newest step-N directory under root whose manifest verifies; temp and broken directories are skipped. */
  public static Optional<Path> latest(Path root) throws IOException {
    for (Path dir : complete(root)) return Optional.of(dir);
    return Optional.empty();
  }

  /** Complete checkpoints, newest first. */
  public static List<Path> complete(Path root) throws IOException {
    List<Path> out = new ArrayList<>();
    if (!Files.isDirectory(root)) return out;
    List<Path> candidates;
    try (Stream<Path> s = Files.list(root)) {
      candidates = s.filter(p -> DIR.matcher(p.getFileName().toString()).matches())
          .sorted(Comparator.comparingLong(Checkpoint::stepOf).reversed()).toList();
    }
    for (Path p : candidates) if (verify(p) == null) out.add(p);
    return out;
  }

  /** Loads a checkpoint directory, verifying its manifest first. */
  public static Checkpoint load(Path dir) throws IOException {
    String problem = verify(dir);
    if (problem != null) throw new IOException("not a complete checkpoint: " + dir + ": " + problem);
    JsonNode state = JSON.readTree(dir.resolve(STATE).toFile());
    if (state.path("format").asInt(-1) != FORMAT) throw new IOException(dir.resolve(STATE) + ": unknown checkpoint format");
    Map<String, Tensor> params = new LinkedHashMap<>(), optim = new LinkedHashMap<>(), rng = new LinkedHashMap<>();
    try (SafetensorsFile f = SafetensorsFile.open(dir.resolve(TENSORS))) {
      for (String k : f.names()) {
        Tensor t = Tensors.keep(f.load(k));
        if (k.startsWith("param/")) params.put(k.substring(6), t);
        else if (k.startsWith("optim/")) optim.put(k.substring(6), t);
        else if (k.startsWith("rng/")) rng.put(k.substring(4), t);
        else throw new IOException(dir.resolve(TENSORS) + ": unexpected tensor " + k);
      }
    } catch (SafetensorsException e) {
      throw new IOException(e.getMessage(), e);
    }
    Map<String, String> info = new LinkedHashMap<>();
    state.path("info").fields().forEachRemaining(e -> info.put(e.getKey(), e.getValue().asText()));
    return new Checkpoint(state.path("step").asLong(), state.path("optimizer_step").asLong(),
        state.path("cursor").asLong(), params, optim, rng, info);
  }

  /** Deletes all but the newest {@code keep} complete checkpoints. */
  public static void prune(Path root, int keep) throws IOException {
    List<Path> all = complete(root);
    for (int i = keep; i < all.size(); i++) deleteTree(all.get(i));
  }

  /** null if dir holds a complete checkpoint, else what is wrong. */
  static String verify(Path dir) {
    try {
      Path m = dir.resolve(MANIFEST);
      if (!Files.isRegularFile(m)) return "no " + MANIFEST;
      JsonNode manifest = JSON.readTree(m.toFile());
      JsonNode files = manifest.path("files");
      if (manifest.path("format").asInt(-1) != FORMAT || !files.isObject()) return "unreadable manifest";
      for (String f : List.of(TENSORS, STATE)) {
        JsonNode e = files.path(f);
        Path p = dir.resolve(f);
        if (!Files.isRegularFile(p)) return "missing " + f;
        if (Files.size(p) != e.path("bytes").asLong(-1)) return f + " has the wrong size";
        if (!sha256(p).equals(e.path("sha256").asText())) return f + " fails its checksum";
      }
      return null;
    } catch (IOException e) {
      return e.getMessage();
    }
  }

  private static long stepOf(Path p) {
    Matcher m = DIR.matcher(p.getFileName().toString());
    return m.matches() ? Long.parseLong(m.group(1)) : -1;
  }

  private static void cleanTemp(Path root) {
    try (Stream<Path> s = Files.list(root)) {
      for (Path p : s.filter(p -> p.getFileName().toString().startsWith(".tmp-")).toList()) deleteTree(p);
    } catch (IOException ignored) {
      // Leftovers from a killed save are harmless: they never match step-N.
    }
  }

  private static void writeSynced(Path file, byte[] bytes) throws IOException {
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
      var buf = java.nio.ByteBuffer.wrap(bytes);
      while (buf.hasRemaining()) ch.write(buf);
      ch.force(true);
    }
  }

  private static void syncDir(Path dir) throws IOException {
    try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
      ch.force(true);
    } catch (IOException e) {
      // Some filesystems refuse fsync on directories; the file contents are already synced.
    }
  }

  static String sha256(Path p) throws IOException {
    try (InputStream in = Files.newInputStream(p)) {
      MessageDigest md = MessageDigest.getInstance("SHA-256");
      byte[] buf = new byte[1 << 16];
      for (int n; (n = in.read(buf)) > 0; ) md.update(buf, 0, n);
      return HexFormat.of().formatHex(md.digest());
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  static void deleteTree(Path p) throws IOException {
    if (!Files.exists(p)) return;
    try (Stream<Path> s = Files.walk(p)) {
      for (Path q : s.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(q);
    }
  }
}
