package dev.liger.io;

/** A safetensors file is malformed, or a requested tensor is absent. Messages name the file and tensor. */
public class SafetensorsException extends RuntimeException {
    public SafetensorsException(String message) {
        super(message);
    }

    public SafetensorsException(String message, Throwable cause) {
        super(message, cause);
    }
}
