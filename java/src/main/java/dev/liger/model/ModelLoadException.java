package dev.liger.model;

/** A checkpoint's tensors do not fit its config (missing tensor, wrong shape). */
public class ModelLoadException extends RuntimeException {
    public ModelLoadException(String message) {
        super(message);
    }
}
