package dev.liger.model;

import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * Keys (RoPE'd) and values of consumed tokens, [B, Hkv, capacity, D], plus each key's position and
 * validity. Capacity doubles when exceeded. Memory grows with length (the Transformer baseline), except
 * with a sliding window, where keys that no future query can see are dropped.
 */
public final class KvCache implements MixerCache {
    private final int batch;
    private final int kvHeads;
    private final int headDim;
    private final ScalarType dtype;
    private final Device device;
    private Tensor k;
    private Tensor v;
    private Tensor pos;
    private Tensor valid;
    private long length;
    private long consumed;
    private boolean anyInvalid;

    KvCache(int batch, int kvHeads, int headDim, int capacity, ScalarType dtype, Device device) {
        this.batch = batch;
        this.kvHeads = kvHeads;
        this.headDim = headDim;
        this.dtype = dtype;
        this.device = device;
        allocate(Math.max(1, capacity));
    }

    private void allocate(long cap) {
        try (PointerScope scope = new PointerScope()) {
            Tensor nk = Tensors.keep(torch.zeros(new long[] {batch, kvHeads, cap, headDim}, new TensorOptions(dtype).device(new org.bytedeco.pytorch.DeviceOptional(device))));
            Tensor nv = Tensors.keep(torch.zeros(new long[] {batch, kvHeads, cap, headDim}, new TensorOptions(dtype).device(new org.bytedeco.pytorch.DeviceOptional(device))));
            Tensor np = Tensors.keep(torch.zeros(new long[] {batch, cap}, new TensorOptions(ScalarType.Long).device(new org.bytedeco.pytorch.DeviceOptional(device))));
            Tensor nm = Tensors.keep(torch.zeros(new long[] {batch, cap}, new TensorOptions(ScalarType.Bool).device(new org.bytedeco.pytorch.DeviceOptional(device))));
            if (length > 0) {
                nk.narrow(2, 0, length).copy_(k.narrow(2, 0, length));
                nv.narrow(2, 0, length).copy_(v.narrow(2, 0, length));
                np.narrow(1, 0, length).copy_(pos.narrow(1, 0, length));
                nm.narrow(1, 0, length).copy_(valid.narrow(1, 0, length));
            }
            releaseAll();
            k = nk;
            v = nv;
            pos = np;
            valid = nm;
        }
    }

    /** Appends keys/values [B, Hkv, T, D] at positions [B, T] with validity [B, T] (null = all valid). */
    void append(Tensor keys, Tensor values, Tensor positions, Tensor validity) {
        long t = keys.size(2);
        if (keys.size(0) != batch) throw new IllegalArgumentException("cache holds " + batch + " sequences, got a batch of " + keys.size(0));
        if (length + t > capacity()) allocate(Math.max(2 * capacity(), length + t));
        k.narrow(2, length, t).copy_(keys);
        v.narrow(2, length, t).copy_(values);
        pos.narrow(1, length, t).copy_(positions);
        if (validity == null) {
            valid.narrow(1, length, t).fill_(new Scalar(1));
        } else {
            valid.narrow(1, length, t).copy_(validity);
            anyInvalid = true;
        }
        length += t;
        consumed += t;
    }

    /**
     * Drops all but the last {@code keep} slots (sliding-window attention never reads older keys again), so
     * a windowed model's cache stays bounded. Slots keep their order.
     */
    void keepLast(long keep) {
        if (keep >= length) return;
        long from = length - keep;
        try (PointerScope scope = new PointerScope()) {
            if (keep > 0) {
                k.narrow(2, 0, keep).copy_(k.narrow(2, from, keep).clone());
                v.narrow(2, 0, keep).copy_(v.narrow(2, from, keep).clone());
                pos.narrow(1, 0, keep).copy_(pos.narrow(1, from, keep).clone());
                valid.narrow(1, 0, keep).copy_(valid.narrow(1, from, keep).clone());
            }
        }
        length = keep;
    }

    /** Key/value slots currently held (at most the tokens consumed). */
    public long stored() {
        return length;
    }

    Tensor keys() {
        return k.narrow(2, 0, length);
    }

    Tensor values() {
        return v.narrow(2, 0, length);
    }

    Tensor positions() {
        return pos.narrow(1, 0, length);
    }

    /** Validity of cached keys [B, length], or null when every cached key is a real token. */
    Tensor validity() {
        return anyInvalid ? valid.narrow(1, 0, length) : null;
    }

    public long capacity() {
        return k.size(2);
    }

    @Override
    public long length() {
        return consumed;
    }

    @Override
    public long bytes() {
        return k.nbytes() + v.nbytes() + pos.nbytes() + valid.nbytes();
    }

    private void releaseAll() {
        Tensors.release(k);
        Tensors.release(v);
        Tensors.release(pos);
        Tensors.release(valid);
    }

    @Override
    public void close() {
        releaseAll();
        k = v = pos = valid = null;
    }
}
