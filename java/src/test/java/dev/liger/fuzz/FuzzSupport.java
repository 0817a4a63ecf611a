package dev.liger.fuzz;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Shared plumbing of the fuzz targets: the readers under test take files, so each input is written to a
 * scratch file first; and the one rule every target enforces, that an input ends in a result or in one of
 * the exception types the reader documents. Anything else (NullPointerException, ArithmeticException,
 * IndexOutOfBounds..., an Error) escapes and is a finding.
 */
final class FuzzSupport {
    private static final ThreadLocal<Path> SCRATCH = ThreadLocal.withInitial(() -> {
        try {
            Path dir = Files.createTempDirectory("liger-fuzz");
            dir.toFile().deleteOnExit();
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    });

    private FuzzSupport() {}

    /** A per-thread scratch directory that lives as long as the JVM. */
    static Path scratchDir() {
        return SCRATCH.get();
    }

    /** Writes {@code data} to {@code name} in the scratch directory and returns its path. */
    static Path write(String name, byte[] data) {
        Path p = scratchDir().resolve(name);
        try {
            Files.write(p, data);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return p;
    }

    /** Rethrows {@code t} unless it is an instance of one of the documented types and carries a message. */
    @SafeVarargs
    static void expectDocumented(Throwable t, Class<? extends Throwable>... documented) {
        for (Class<? extends Throwable> c : documented) {
            if (c.isInstance(t)) {
                if (t.getMessage() == null || t.getMessage().isBlank())
                    throw new AssertionError("documented exception without a message", t);
                return;
            }
        }
        if (t instanceof RuntimeException r) throw r;
        if (t instanceof Error e) throw e;
        throw new AssertionError("undocumented checked exception", t);
    }
}
