package dev.liger.model;

import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;

/**
 * Where the tokens of a [B, T] batch sit: RoPE positions (I64 [B, T]) and which entries are real tokens
 * (Bool [B, T]; null when all are). Padding (left or right) is expressed by valid = false; padded
 * entries' outputs are unspecified and must be ignored by the caller.
 *
 * @param maxPosition the largest position in {@code positions}, known on the Java side so RoPE tables can be
 *                    sized without reading the device
 */
public record Positions(Tensor positions, Tensor valid, long maxPosition) {

    /** Positions start, start+1, ... for every row, all tokens valid. */
    public static Positions contiguous(int batch, int length, long start, Device device) {
        long[] p = new long[batch * length];
        for (int b = 0; b < batch; b++) {
            for (int t = 0; t < length; t++) p[b * length + t] = start + t;
        }
        return new Positions(Tensors.longs(p, batch, length).to(device, org.bytedeco.pytorch.global.torch.ScalarType.Long), null, start + length - 1);
    }

    /**
     * Rows of different lengths in a [B, T] batch: left-padded (real tokens at the end) or right-padded.
     * Real tokens get positions start[b], start[b]+1, ...
     */
    public static Positions padded(int[] lengths, long[] start, int length, boolean left, Device device) {
        int batch = lengths.length;
        long[] p = new long[batch * length];
        boolean[] v = new boolean[batch * length];
        boolean anyPad = false;
        long max = 0;
        for (int b = 0; b < batch; b++) {
            if (lengths[b] < 0 || lengths[b] > length) {
                throw new IllegalArgumentException("sequence " + b + " has length " + lengths[b] + ", outside [0, " + length + "]");
            }
            int pad = length - lengths[b];
            anyPad |= pad > 0;
            for (int t = 0; t < length; t++) {
                int rel = left ? t - pad : t;
                boolean real = left ? t >= pad : t < lengths[b];
                v[b * length + t] = real;
                long s = start == null ? 0 : start[b];
                p[b * length + t] = real ? s + rel : s;
                max = Math.max(max, p[b * length + t]);
            }
        }
        Tensor pos = Tensors.longs(p, batch, length).to(device, org.bytedeco.pytorch.global.torch.ScalarType.Long);
        Tensor valid = anyPad ? Tensors.bools(v, batch, length).to(device, org.bytedeco.pytorch.global.torch.ScalarType.Bool) : null;
        return new Positions(pos, valid, max);
    }

    public int batch() {
        return (int) positions.size(0);
    }

    public int length() {
        return (int) positions.size(1);
    }
}
