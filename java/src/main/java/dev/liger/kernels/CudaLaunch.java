package dev.liger.kernels;

import java.lang.reflect.InvocationTargetException;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.cuda.CUDAGuard;
import org.bytedeco.pytorch.cuda.CUDAStream;
import org.bytedeco.pytorch.global.torch_cuda;

/**
 * A kernel call on a CUDA device: the tensors' device made current (restored on {@link #close()}) and
 * libtorch's current CUDA stream on it, so that the kernels are ordered with the surrounding libtorch work.
 *
 * <p>Only reached when a CUDA tensor arrives: this is the one class that touches libtorch's CUDA bindings,
 * which the CPU build of the presets cannot load.
 */
final class CudaLaunch implements AutoCloseable {
    final Pointer stream;
    private final CUDAGuard guard;

    private CudaLaunch(Pointer stream, CUDAGuard guard) {
        this.stream = stream;
        this.guard = guard;
    }

    static CudaLaunch on(Tensor q) {
        if (LigerKernels.liger_has_cuda() == 0)
            throw unsupported("q is a CUDA tensor but the loaded Liger native library has no CUDA kernels "
                    + "(build with -Pgpu, which sets -Dliger.cuda=ON)", null);
        byte index = q.device().index();
        CUDAGuard guard = null;
        try {
            guard = new CUDAGuard(index);
            CUDAStream current = torch_cuda.getCurrentCUDAStream(index);
            // CUDAStream.stream() returns org.bytedeco.cuda's CUstream_st: reached reflectively so that the
            // CPU build compiles without the CUDA presets on its classpath.
            Pointer stream = (Pointer) CUDAStream.class.getMethod("stream").invoke(current);
            return new CudaLaunch(stream, guard);
        } catch (LinkageError | ReflectiveOperationException e) {
            if (guard != null) guard.close();
            Throwable cause = e instanceof InvocationTargetException ite && ite.getCause() != null ? ite.getCause() : e;
            throw unsupported("q is a CUDA tensor but libtorch's CUDA bindings could not be loaded (they need "
                    + "org.bytedeco:pytorch linux-x86_64-gpu and org.bytedeco:cuda: the -Pgpu profile): " + cause, cause);
        }
    }

    private static LigerKernelException unsupported(String message, Throwable cause) {
        LigerKernelException e = new LigerKernelException("LigerOps", LigerKernels.LIGER_ERR_UNSUPPORTED, message);
        if (cause != null) e.initCause(cause);
        return e;
    }

    @Override
    public void close() {
        guard.close();
    }
}
