package dev.liger.surgery;

import dev.liger.kernels.LigerOps;
import dev.liger.model.Positions;
import dev.liger.model.Tensors;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

import java.util.ArrayList;
import java.util.List;

/**
 * Turns a [B, T] batch with padding and/or packed documents into the kernels' variable-length form: the real
 * tokens of all rows concatenated into one [1, N, ...] sequence with cu_seqlens offsets, and back.
 */
final class Packing {
    private final long[] index;      // flat row-major [B*T] index of each packed token, or null when trivial
    private final long[] cuSeqlens;  // N_seq + 1 offsets
    private final boolean trivial;

    private Packing(long[] index, long[] cuSeqlens, boolean trivial) {
        this.index = index;
        this.cuSeqlens = cuSeqlens;
        this.trivial = trivial;
    }

    /**
     * Sequences for a full forward: padded entries dropped, and a new sequence wherever a position does not
     * follow its predecessor by one (packed documents restart their positions).
     */
    static Packing of(Positions p) {
        return build(p, true);
    }

    /** One sequence per row (a prefill continuing each row's own cache), padded entries dropped. */
    static Packing rows(Positions p) {
        return build(p, false);
    }

    private static Packing build(Positions p, boolean splitOnRestart) {
        int b = p.batch(), t = p.length();
        long[] pos = Tensors.toLongs(p.positions());
        boolean[] valid = new boolean[b * t];
        if (p.valid() == null) {
            java.util.Arrays.fill(valid, true);
        } else {
            long[] v = Tensors.toLongs(p.valid().to(torch.ScalarType.Long));
            for (int i = 0; i < v.length; i++) valid[i] = v[i] != 0;
        }
        List<Long> idx = new ArrayList<>();
        List<Long> cu = new ArrayList<>();
        cu.add(0L);
        boolean trivial = p.valid() == null;
        for (int r = 0; r < b; r++) {
            long prev = Long.MIN_VALUE;
            boolean open = false;
            for (int s = 0; s < t; s++) {
                int i = r * t + s;
                if (!valid[i]) continue;
                if (open && splitOnRestart && pos[i] != prev + 1) {
                    cu.add((long) idx.size());
                    trivial = false;
                }
                idx.add((long) i);
                open = true;
                prev = pos[i];
            }
            if (open || !splitOnRestart) cu.add((long) idx.size());
        }
        long[] index = idx.stream().mapToLong(Long::longValue).toArray();
        long[] offsets = cu.stream().mapToLong(Long::longValue).toArray();
        return new Packing(index, offsets, trivial && splitOnRestart);
    }

    /** True when the batch is B whole sequences of length T: the kernels take it as it is. */
    boolean isTrivial() {
        return trivial;
    }

    /** I64 [N_seq + 1] offsets on the CPU (the kernels read them on the host). */
    Tensor cuSeqlens() {
        return LigerOps.longTensor(cuSeqlens);
    }

    /** x [B, T, H, D] -> [1, N, H, D] of the real tokens in order. */
    Tensor pack(Tensor x) {
        long h = x.size(2), d = x.size(3);
        Tensor flat = x.reshape(x.size(0) * x.size(1), h, d);
        Tensor ix = LigerOps.longTensor(index).to(x.device(), torch.ScalarType.Long);
        return flat.index_select(0, ix).unsqueeze(0);
    }

    /** y [1, N, H, D] -> [B, T, H, D], zeros at padded entries. */
    Tensor unpack(Tensor y, long b, long t) {
        long h = y.size(2), d = y.size(3);
        Tensor ix = LigerOps.longTensor(index).to(y.device(), torch.ScalarType.Long);
        Tensor out = torch.zeros(new long[] {b * t, h, d}, y.options());
        return out.index_copy(0, ix, y.squeeze(0)).view(b, t, h, d);
    }
}
