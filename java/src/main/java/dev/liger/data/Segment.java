package dev.liger.data;

/**
 * A piece of an example's text.
 *
 * @param text    the text, encoded on its own
 * @param trained true when its tokens are training targets (an Alpaca response), false when they are
 *                context only (an Alpaca prompt)
 */
public record Segment(String text, boolean trained) {
    public Segment {
        if (text == null) throw new IllegalArgumentException("segment text is required");
    }
}
