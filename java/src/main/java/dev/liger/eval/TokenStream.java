package dev.liger.eval;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/** Text files to one token stream for {@link Perplexity}. */
public final class TokenStream {
  private TokenStream() {}

  /**
   * Encodes the files in order and concatenates them. With {@code linesAsDocuments}, every non-blank
   * line is a document (the fixture's validation protocol); otherwise each whole file is one. Each
   * document is wrapped as [bos] ids [eos], leaving out a special id that is negative.
   */
  public static long[] fromFiles(List<Path> files, TextEncoder encoder, long bos, long eos, boolean linesAsDocuments)
      throws IOException {
    LongList out = new LongList();
    for (Path f : files) {
      String text;
      try {
        text = Files.readString(f, StandardCharsets.UTF_8);
      } catch (java.nio.charset.MalformedInputException e) {
        throw new IOException(f + ": not valid UTF-8 text", e);
      }
      if (linesAsDocuments) {
        for (String line : text.split("\n")) if (!line.isBlank()) document(out, encoder.encode(line), bos, eos);
      } else if (!text.isEmpty()) {
        document(out, encoder.encode(text), bos, eos);
      }
    }
    return out.toArray();
  }

  private static void document(LongList out, long[] ids, long bos, long eos) {
    if (bos >= 0) out.add(bos);
    for (long id : ids) out.add(id);
    if (eos >= 0) out.add(eos);
  }

  private static final class LongList {
    private long[] a = new long[1024];
    private int n;

    void add(long v) {
      if (n == a.length) a = java.util.Arrays.copyOf(a, 2 * n);
      a[n++] = v;
    }

    long[] toArray() { return java.util.Arrays.copyOf(a, n); }
  }
}
