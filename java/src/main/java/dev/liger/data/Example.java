package dev.liger.data;

import java.util.List;

/**
 * One training document before tokenization.
 *
 * @param origin   where it was read, {@code file:line} (the line where the record starts)
 * @param segments its text in order; plain text and JSONL give one trained segment, Alpaca a masked
 *                 prompt and a trained response
 */
public record Example(String origin, List<Segment> segments) {
    public Example {
        if (origin == null) throw new IllegalArgumentException("example origin is required");
        segments = List.copyOf(segments);
        if (segments.isEmpty()) throw new IllegalArgumentException(origin + ": example has no segments");
    }

    /** A document whose every token is a training target. */
    public static Example plain(String origin, String text) {
        return new Example(origin, List.of(new Segment(text, true)));
    }

    /** The whole text, segments concatenated. */
    public String text() {
        StringBuilder sb = new StringBuilder();
        for (Segment s : segments) sb.append(s.text());
        return sb.toString();
    }
}
