package dev.liger.config;

/** A config file is unreadable, or names a model or RoPE variant this project does not support. */
public class ConfigException extends RuntimeException {
    public ConfigException(String message) {
        super(message);
    }

    public ConfigException(String message, Throwable cause) {
        super(message, cause);
    }
}
