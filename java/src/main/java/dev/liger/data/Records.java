package dev.liger.data;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Shared reading machinery: the file's lines with numbers, and the malformed-record policy. */
final class Records {
    private static final System.Logger LOG = System.getLogger("dev.liger.data");

    /** One line of a file: 1-based number and text, or {@code text == null} when it is not valid UTF-8. */
    record Line(long number, String text) {}

    private final Path file;
    private final OnMalformed policy;
    private final List<Example> examples = new ArrayList<>();
    private final List<Problem> skipped = new ArrayList<>();

    Records(Path file, OnMalformed policy) {
        if (file == null) throw new IllegalArgumentException("file is required");
        if (policy == null) throw new IllegalArgumentException("malformed-record policy is required");
        this.file = file;
        this.policy = policy;
    }

    Path file() {
        return file;
    }

    String origin(long line) {
        return file + ":" + line;
    }

    void add(Example e) {
        examples.add(e);
    }

    /** Applies the policy: throws under REJECT, records and warns under SKIP. */
    void malformed(long line, String reason) {
        Problem p = new Problem(file, line, reason);
        if (policy == OnMalformed.REJECT) throw new MalformedRecordException(p);
        LOG.log(System.Logger.Level.WARNING, "skipping malformed record " + p);
        skipped.add(p);
    }

    ReadResult result() {
        return new ReadResult(examples, skipped);
    }

    static byte[] readAll(Path file) {
        try {
            return Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            throw new UncheckedIOException("data file not found: " + file, e);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read data file " + file + ": " + e.getMessage(), e);
        }
    }

    /**
     * The file's lines, split on '\n' with one trailing '\r' removed; each decoded as strict UTF-8 so a
     * bad byte spoils only its own line. A final empty piece after a trailing newline is not a line.
     */
    static List<Line> lines(byte[] bytes) {
        List<Line> out = new ArrayList<>();
        int start = 0;
        long number = 1;
        int offset = startsWithBom(bytes) ? 3 : 0;
        start = offset;
        for (int i = offset; i <= bytes.length; i++) {
            if (i == bytes.length || bytes[i] == '\n') {
                if (i == bytes.length && i == start) break;
                int end = i;
                if (end > start && bytes[end - 1] == '\r') end--;
                out.add(new Line(number++, decode(bytes, start, end - start)));
                start = i + 1;
            }
        }
        return out;
    }

    private static boolean startsWithBom(byte[] b) {
        return b.length >= 3 && (b[0] & 0xff) == 0xEF && (b[1] & 0xff) == 0xBB && (b[2] & 0xff) == 0xBF;
    }

    private static String decode(byte[] bytes, int start, int length) {
        try {
            return StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(bytes, start, length)).toString();
        } catch (CharacterCodingException e) {
            return null;
        }
    }
}
