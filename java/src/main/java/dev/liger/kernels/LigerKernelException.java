package dev.liger.kernels;

/**
 * A native kernel call returned a non-OK status. Carries the status code and the message from
 * {@code liger_last_error()} so the caller sees which argument or condition the library rejected.
 */
public final class LigerKernelException extends RuntimeException {
    private final int status;

    public LigerKernelException(String entryPoint, int status, String nativeMessage) {
        super(entryPoint + " failed (" + statusName(status) + "): " + nativeMessage);
        this.status = status;
    }

    /** One of {@code LigerKernels.LIGER_ERR_*}. */
    public int status() {
        return status;
    }

    public boolean isUnsupported() {
        return status == LigerKernels.LIGER_ERR_UNSUPPORTED;
    }

    static String statusName(int status) {
        return switch (status) {
            case LigerKernels.LIGER_ERR_INVALID_ARGUMENT -> "invalid argument";
            case LigerKernels.LIGER_ERR_UNSUPPORTED -> "unsupported";
            case LigerKernels.LIGER_ERR_RUNTIME -> "runtime error";
            default -> "status " + status;
        };
    }
}
