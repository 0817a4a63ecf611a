package dev.liger.data;

import java.nio.file.Path;

/**
 * A malformed record.
 *
 * @param file   the file read
 * @param line   1-based line where the record starts
 * @param reason what is wrong with it
 */
public record Problem(Path file, long line, String reason) {
    @Override
    public String toString() {
        return file + ":" + line + ": " + reason;
    }
}
