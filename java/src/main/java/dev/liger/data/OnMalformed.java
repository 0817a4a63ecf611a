package dev.liger.data;

/** What a reader does with a malformed record (bad JSON, missing field, wrong type, invalid UTF-8). */
public enum OnMalformed {
    /** Leave it out, count it in {@link ReadResult#skipped()} and log a warning naming file:line. */
    SKIP,
    /** Stop with a {@link MalformedRecordException} naming file:line. */
    REJECT
}
