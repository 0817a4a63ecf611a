package dev.liger.data;

/**
 * How documents become fixed-length training rows.
 *
 * @param seqLen             tokens per row
 * @param padId              id that fills a row's unused tail (never a training target)
 * @param validationFraction share of documents held out, {@code floor(n * fraction)} of them, in [0, 1)
 * @param seed               seed of the document shuffle (and so of the split and the row order)
 */
public record PackingConfig(int seqLen, int padId, double validationFraction, long seed) {
    public PackingConfig {
        if (seqLen < 2) throw new IllegalArgumentException("seqLen must be >= 2, got " + seqLen);
        if (padId < 0) throw new IllegalArgumentException("padId must be >= 0, got " + padId);
        if (!(validationFraction >= 0 && validationFraction < 1))
            throw new IllegalArgumentException("validationFraction must be in [0, 1), got " + validationFraction);
    }
}
