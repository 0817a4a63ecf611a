package dev.liger.tokenizer;

/** A tokenizer file is missing or malformed. */
public class TokenizerException extends RuntimeException {
    public TokenizerException(String message, Throwable cause) {
        super(message, cause);
    }

    public TokenizerException(String message) {
        super(message);
    }
}
