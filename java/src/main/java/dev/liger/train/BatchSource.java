package dev.liger.train;

/**
 * An endless, deterministic stream of batches with a resumable position: after {@code seek(c)} the
 * source returns exactly what it returned after {@code cursor()} was c. Epoch wrap-around (and any
 * shuffling) must be a function of the cursor.
 */
public interface BatchSource<B> {
  B next();

  long cursor();

  void seek(long cursor);
}
