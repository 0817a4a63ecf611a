package dev.liger.autograd;

import org.bytedeco.pytorch.Tensor;

/**
 * An operation whose forward and backward are computed outside libtorch's autograd (a native kernel,
 * or any hand-written gradient). {@link Tape} gives it a place in an autograd graph.
 *
 * <p>Inputs may contain null entries for absent optional arguments; both methods see the same array.
 */
public interface NativeOp {

    /** Name used in error messages. */
    String name();

    /** Computes the outputs from (detached) inputs. */
    Tensor[] forward(Tensor[] inputs);

    /**
     * Maps the gradients that reached the outputs (zeros for outputs that received none) to one
     * gradient per input, shaped like that input; null where an input has no gradient.
     */
    Tensor[] backward(Tensor[] inputs, Tensor[] outputs, Tensor[] gradOutputs);
}
