package dev.liger.data;

import java.util.List;

/**
 * Packed training and validation rows; no document has tokens in both.
 *
 * @param train               training rows, in shuffled document order
 * @param validation          held-out rows
 * @param trainDocuments      documents packed into {@code train}
 * @param validationDocuments documents packed into {@code validation}
 */
public record PackedDataset(List<PackedRow> train, List<PackedRow> validation, int trainDocuments,
                            int validationDocuments) {
    public PackedDataset {
        train = List.copyOf(train);
        validation = List.copyOf(validation);
    }
}
