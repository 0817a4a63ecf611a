package dev.liger.autograd;

import java.util.ArrayList;
import java.util.List;
import org.bytedeco.pytorch.BoolOptional;
import org.bytedeco.pytorch.GradMode;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorArrayRefOptional;
import org.bytedeco.pytorch.global.torch;

/**
 * Backward for {@link NativeOp}s inside a libtorch autograd graph (DESIGN.md section 3). libtorch's
 * C++ custom-function API is not reachable from Java, so a recorded op's outputs are detached leaves
 * that require grad; after the loss's backward has filled their {@code .grad}, {@link #backward()}
 * walks the ops in reverse, calls each op's backward, and pushes the input gradients upstream with one
 * autograd call of {@code sum_i sum(input_i * grad_input_i)} per op, whose gradient with respect to
 * {@code input_i} is exactly {@code grad_input_i}.
 *
 * <p>Use one tape per forward/backward pass. Every backward call retains the graph, because graph
 * segments upstream of one op can be shared with another op's segment or with the loss (residual
 * streams); the graph is freed with its tensors.
 */
public final class Tape implements AutoCloseable {

    private record Entry(NativeOp op, Tensor[] inputs, Tensor[] detachedInputs, Tensor[] outputs) {}

    private final List<Entry> entries = new ArrayList<>();

    /**
     * Runs {@code op}. When grad mode is on and some input requires grad the op is recorded and its
     * outputs are returned as fresh leaves requiring grad; otherwise the plain outputs are returned.
     */
    public Tensor[] apply(NativeOp op, Tensor... inputs) {
        boolean record = false;
        for (Tensor t : inputs) record |= t != null && t.requires_grad();
        record &= GradMode.is_enabled();
        if (!record) return inference(op, inputs);
        Tensor[] detached = detachAll(inputs);
        Tensor[] outputs = forwardNoGrad(op, detached);
        Tensor[] leaves = new Tensor[outputs.length];
        for (int i = 0; i < outputs.length; i++) {
            leaves[i] = outputs[i].detach();
            leaves[i].requires_grad_(true);
        }
        entries.add(new Entry(op, inputs.clone(), detached, leaves));
        return leaves;
    }

    /** The no-record path: runs the op's forward only, whatever the inputs' requires_grad. */
    public static Tensor[] inference(NativeOp op, Tensor... inputs) {
        return forwardNoGrad(op, detachAll(inputs));
    }

    /** Number of ops recorded and not yet back-propagated. */
    public int size() {
        return entries.size();
    }

    /** {@code loss.backward()} (graph retained), then {@link #backward()}. */
    public void backward(Tensor loss) {
        loss.backward(torch.ones_like(loss), new BoolOptional(true), false, new TensorArrayRefOptional());
        backward();
    }

    /**
     * Back-propagates through the recorded ops, last first. Call after the loss's backward (with the
     * graph retained where segments are shared); clears the tape.
     */
    public void backward() {
        for (int e = entries.size() - 1; e >= 0; e--) {
            Entry entry = entries.get(e);
            Tensor[] grads = new Tensor[entry.outputs.length];
            for (int i = 0; i < grads.length; i++) {
                Tensor g = entry.outputs[i].grad();
                grads[i] = g != null && g.defined() ? g : torch.zeros_like(entry.outputs[i]);
            }
            Tensor[] outs = new Tensor[entry.outputs.length];
            for (int i = 0; i < outs.length; i++) outs[i] = entry.outputs[i].detach();
            Tensor[] inGrads;
            try (NoGradGuard guard = new NoGradGuard()) {
                inGrads = entry.op.backward(entry.detachedInputs, outs, grads);
            }
            if (inGrads == null || inGrads.length != entry.inputs.length)
                throw new IllegalStateException(entry.op.name() + ".backward returned "
                        + (inGrads == null ? "null" : inGrads.length + " gradients") + " for "
                        + entry.inputs.length + " inputs");
            Tensor surrogate = null;
            for (int i = 0; i < inGrads.length; i++) {
                Tensor in = entry.inputs[i];
                if (in == null || !in.requires_grad() || inGrads[i] == null) continue;
                Tensor g = inGrads[i];
                if (!sameShape(in, g))
                    throw new IllegalStateException(entry.op.name() + ".backward: gradient " + i + " has shape "
                            + shape(g) + " but the input has shape " + shape(in));
                Tensor term = in.mul(g.to(in.scalar_type().intern()).detach()).sum();
                surrogate = surrogate == null ? term : surrogate.add(term);
            }
            if (surrogate != null)
                surrogate.backward(torch.ones_like(surrogate), new BoolOptional(true), false, new TensorArrayRefOptional());
        }
        entries.clear();
    }

    /** Drops the recorded ops (and with them the references to their tensors). */
    @Override
    public void close() {
        entries.clear();
    }

    private static Tensor[] forwardNoGrad(NativeOp op, Tensor[] detached) {
        Tensor[] out;
        try (NoGradGuard guard = new NoGradGuard()) {
            out = op.forward(detached);
        }
        if (out == null || out.length == 0) throw new IllegalStateException(op.name() + ".forward returned no outputs");
        return out;
    }

    private static Tensor[] detachAll(Tensor[] inputs) {
        Tensor[] d = new Tensor[inputs.length];
        for (int i = 0; i < inputs.length; i++) d[i] = inputs[i] == null ? null : inputs[i].detach();
        return d;
    }

    private static boolean sameShape(Tensor a, Tensor b) {
        if (a.dim() != b.dim()) return false;
        for (int i = 0; i < a.dim(); i++) if (a.size(i) != b.size(i)) return false;
        return true;
    }

    private static String shape(Tensor t) {
        StringBuilder sb = new StringBuilder("[");
        for (int i = 0; i < t.dim(); i++) sb.append(i == 0 ? "" : ", ").append(t.size(i));
        return sb.append(']').toString();
    }
}
