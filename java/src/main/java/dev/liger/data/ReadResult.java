package dev.liger.data;

import java.util.List;

/**
 * What a reader produced.
 *
 * @param examples the well-formed records, in file order
 * @param skipped  the malformed records left out (empty under {@link OnMalformed#REJECT})
 */
public record ReadResult(List<Example> examples, List<Problem> skipped) {
    public ReadResult {
        examples = List.copyOf(examples);
        skipped = List.copyOf(skipped);
    }
}
