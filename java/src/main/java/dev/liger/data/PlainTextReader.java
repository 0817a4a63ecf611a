package dev.liger.data;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Reads a UTF-8 text file into documents.
 *
 * <p>Lines are split on '\n' (a trailing '\r' is dropped); a line is blank when it holds only whitespace
 * ({@link String#isBlank()}). Blank lines are never documents nor part of one.
 */
public final class PlainTextReader {

    /** Where one document ends and the next begins. */
    public enum Boundary {
        /** Every non-blank line is a document (its text as is, without the line break). */
        LINE,
        /**
         * A document is a block of consecutive non-blank lines, joined with '\n'; one or more blank lines
         * separate documents.
         */
        BLANK_LINE
    }

    private PlainTextReader() {}

    /** A line that is not valid UTF-8 is malformed: under SKIP its document is left out. */
    public static ReadResult read(Path file, Boundary boundary, OnMalformed policy) {
        if (boundary == null) throw new IllegalArgumentException("document boundary is required");
        Records records = new Records(file, policy);
        List<Records.Line> lines = Records.lines(Records.readAll(file));
        if (boundary == Boundary.LINE) {
            for (Records.Line line : lines) {
                if (line.text() == null) records.malformed(line.number(), "line is not valid UTF-8");
                else if (!line.text().isBlank()) records.add(Example.plain(records.origin(line.number()), line.text()));
            }
        } else {
            List<Records.Line> block = new ArrayList<>();
            for (Records.Line line : lines) {
                if (line.text() != null && line.text().isBlank()) {
                    flushBlock(block, records);
                } else {
                    block.add(line);
                }
            }
            flushBlock(block, records);
        }
        return records.result();
    }

    private static void flushBlock(List<Records.Line> block, Records records) {
        if (block.isEmpty()) return;
        long first = block.get(0).number();
        StringBuilder sb = new StringBuilder();
        Records.Line bad = null;
        for (Records.Line line : block) {
            if (line.text() == null) {
                bad = line;
                break;
            }
            if (sb.length() > 0) sb.append('\n');
            sb.append(line.text());
        }
        block.clear();
        if (bad != null) {
            records.malformed(first, "line " + bad.number() + " of the document is not valid UTF-8");
        } else {
            records.add(Example.plain(records.origin(first), sb.toString()));
        }
    }
}
