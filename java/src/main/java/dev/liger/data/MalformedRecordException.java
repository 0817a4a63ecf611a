package dev.liger.data;

/** A record that cannot be read; the message starts with {@code file:line:}. */
public final class MalformedRecordException extends RuntimeException {
    private final transient Problem problem;

    public MalformedRecordException(Problem problem) {
        super(problem.toString());
        this.problem = problem;
    }

    public Problem problem() {
        return problem;
    }
}
