package dev.liger.resources;

/** A model, tensor or batch would not fit in memory; refused before anything was allocated. */
public final class InsufficientMemoryException extends RuntimeException {
    private final long needed;
    private final long available;

    public InsufficientMemoryException(String what, long needed, long available) {
        super(what + " needs " + MemoryBudget.human(needed) + " (" + needed + " bytes) but only "
                + MemoryBudget.human(available) + " (" + available + " bytes) of memory is available; refused before allocating");
        this.needed = needed;
        this.available = available;
    }

    public long needed() {
        return needed;
    }

    public long available() {
        return available;
    }
}
