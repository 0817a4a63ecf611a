package dev.liger.model;

import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/** Small conversions between Java arrays and libtorch tensors, and lifetime helpers. */
public final class Tensors {
    private Tensors() {}

    /** The CPU device. Retained so that it survives the PointerScope that may be open when this class initializes. */
    public static final Device CPU = (Device) new Device(torch.DeviceType.CPU).retainReference();

    /**
     * Marks a tensor as owned by a long-lived object: it then survives the closing of any PointerScope it
     * was created in, and is freed by that object's close() (or by the garbage collector).
     */
    public static Tensor keep(Tensor t) {
        t.retainReference();
        return t;
    }

    public static void release(Tensor t) {
        if (t != null && !t.isNull()) t.releaseReference();
    }

    public static Tensor longs(long[] data, long... shape) {
        try (LongPointer p = new LongPointer(data)) {
            return torch.from_blob(p, shape, new TensorOptions(ScalarType.Long)).clone();
        }
    }

    public static Tensor floats(float[] data, long... shape) {
        try (FloatPointer p = new FloatPointer(data)) {
            return torch.from_blob(p, shape, new TensorOptions(ScalarType.Float)).clone();
        }
    }

    public static Tensor bools(boolean[] data, long... shape) {
        byte[] b = new byte[data.length];
        for (int i = 0; i < b.length; i++) b[i] = (byte) (data[i] ? 1 : 0);
        try (org.bytedeco.javacpp.BytePointer p = new org.bytedeco.javacpp.BytePointer(b)) {
            return torch.from_blob(p, shape, new TensorOptions(ScalarType.Bool)).clone();
        }
    }

    /** Copies any tensor (any device, any floating dtype) into a Java float array, row-major. */
    public static float[] toFloats(Tensor t) {
        Tensor c = t.detach().to(CPU, ScalarType.Float).contiguous();
        float[] out = new float[(int) c.numel()];
        if (out.length == 0) return out;
        new FloatPointer(c.data_ptr()).get(out);
        return out;
    }

    public static long[] toLongs(Tensor t) {
        Tensor c = t.detach().to(CPU, ScalarType.Long).contiguous();
        long[] out = new long[(int) c.numel()];
        if (out.length == 0) return out;
        new LongPointer(c.data_ptr()).get(out);
        return out;
    }

    public static long[] shape(Tensor t) {
        long[] s = new long[(int) t.dim()];
        for (int i = 0; i < s.length; i++) s[i] = t.size(i);
        return s;
    }
}
