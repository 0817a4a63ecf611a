package dev.liger.model;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.stream.Stream;

/**
 * The small Llama bundled in the jar (trained on the project's English text; see third_party/). The mmap
 * loader needs real files, so the resources are extracted once into a cache directory named by their
 * content hash: $LIGER_CACHE, else $XDG_CACHE_HOME/liger-jvm, else ~/.cache/liger-jvm, else java.io.tmpdir.
 * Extraction writes a temporary directory and renames it into place, so concurrent runs never see a partial copy.
 */
public final class DefaultModel {
    public static final String NAME = "tiny-llama";
    static final String RESOURCE_DIR = "/dev/liger/models/" + NAME + "/";
    static final List<String> FILES = List.of("config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json");

    private DefaultModel() {}

    /** The directory holding the extracted model files (extracting them on first use). */
    public static synchronized Path path() {
        String hash = contentHash();
        IOException last = null;
        for (Path root : cacheRoots()) {
            Path target = root.resolve("models").resolve(NAME + "-" + hash);
            if (complete(target)) return target;
            try {
                extract(target);
                return target;
            } catch (IOException e) {
                last = e; // try the next location (e.g. read-only home)
            }
        }
        throw new UncheckedIOException("cannot extract the embedded model to any cache directory", last);
    }

    private static boolean complete(Path dir) {
        for (String f : FILES) {
            if (!Files.isRegularFile(dir.resolve(f))) return false;
        }
        return true;
    }

    private static List<Path> cacheRoots() {
        String explicit = System.getenv("LIGER_CACHE");
        String xdg = System.getenv("XDG_CACHE_HOME");
        Path tmp = Path.of(System.getProperty("java.io.tmpdir"), "liger-jvm-" + System.getProperty("user.name", "user"));
        if (explicit != null && !explicit.isBlank()) return List.of(Path.of(explicit), tmp);
        Path home = xdg != null && !xdg.isBlank() ? Path.of(xdg, "liger-jvm") : Path.of(System.getProperty("user.home"), ".cache", "liger-jvm");
        return List.of(home, tmp);
    }

    private static void extract(Path target) throws IOException {
        Files.createDirectories(target.getParent());
        Path tmp = Files.createTempDirectory(target.getParent(), "." + NAME + "-");
        try {
            for (String f : FILES) {
                try (InputStream in = open(f)) {
                    Files.copy(in, tmp.resolve(f));
                }
            }
            try {
                Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, target);
            }
        } catch (FileAlreadyExistsException | DirectoryNotEmptyException e) {
            // Another process finished first; its copy is identical.
            if (!complete(target)) throw e;
        } finally {
            deleteTree(tmp);
        }
    }

    private static InputStream open(String file) {
        InputStream in = DefaultModel.class.getResourceAsStream(RESOURCE_DIR + file);
        if (in == null) throw new IllegalStateException("the embedded model resource " + RESOURCE_DIR + file + " is missing from the classpath");
        return in;
    }

    private static String contentHash() {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            byte[] buf = new byte[1 << 16];
            for (String f : FILES) {
                md.update(f.getBytes(java.nio.charset.StandardCharsets.UTF_8));
                try (InputStream in = open(f)) {
                    for (int n; (n = in.read(buf)) > 0; ) md.update(buf, 0, n);
                }
            }
            return HexFormat.of().formatHex(md.digest()).substring(0, 12);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the embedded model", e);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static void deleteTree(Path p) {
        if (!Files.exists(p)) return;
        try (Stream<Path> s = Files.walk(p)) {
            s.sorted(Comparator.reverseOrder()).forEach(x -> {
                try {
                    Files.deleteIfExists(x);
                } catch (IOException ignored) {
                    // best effort cleanup of our own temporary directory
                }
            });
        } catch (IOException ignored) {
            // best effort
        }
    }
}
