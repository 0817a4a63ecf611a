package dev.liger.kernels;

import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;

/**
 * The recurrent cache of one Liger attention layer for N sequences (DESIGN.md 1.3, liger.h):
 * GRM states F32 [N, Hkv, D, D], the last W-1 RoPE'd keys and their values F32 [N, Hkv, W-1, D]
 * in a ring (slot = position % (W-1); null when W == 1), and the position I64 [N] (tokens consumed).
 * Constant size whatever the length.
 */
public record LigerCache(Tensor state, Tensor winK, Tensor winV, Tensor pos) {

    public LigerCache {
        if (state == null || pos == null) throw new IllegalArgumentException("cache state and pos must not be null");
        if ((winK == null) != (winV == null))
            throw new IllegalArgumentException("cache winK and winV must be both present or both absent");
    }

    /** An empty cache (zero states, position 0) for N sequences. */
    public static LigerCache empty(long n, long hkv, long d, int window) {
        return empty(n, hkv, d, window, null);
    }

    /** An empty cache on the device of {@code like} (the CPU when null). */
    public static LigerCache empty(long n, long hkv, long d, int window, Tensor like) {
        if (n <= 0 || hkv <= 0 || d <= 0) throw new IllegalArgumentException(
                "cache dims must be positive, got N=" + n + " Hkv=" + hkv + " D=" + d);
        if (window < 1) throw new IllegalArgumentException("window must be >= 1, got " + window);
        Tensor state = zeros(like, torch.ScalarType.Float, n, hkv, d, d);
        Tensor wk = window > 1 ? zeros(like, torch.ScalarType.Float, n, hkv, window - 1, d) : null;
        Tensor wv = window > 1 ? zeros(like, torch.ScalarType.Float, n, hkv, window - 1, d) : null;
        Tensor pos = zeros(like, torch.ScalarType.Long, n);
        return new LigerCache(state, wk, wv, pos);
    }

    private static Tensor zeros(Tensor like, torch.ScalarType dtype, long... dims) {
        TensorOptions options = new TensorOptions(dtype);
        // new_zeros keeps like's device; dtype comes from the options
        return like == null ? torch.zeros(dims, options) : like.new_zeros(dims, options);
    }

    public long sequences() {
        return state.size(0);
    }

    /** Window size this cache was made for (1 when it keeps no window). */
    public int window() {
        return winK == null ? 1 : (int) winK.size(2) + 1;
    }

    /** A deep copy (the decode entry point updates a cache in place). */
    public LigerCache copy() {
        return new LigerCache(state.clone(), winK == null ? null : winK.clone(), winV == null ? null : winV.clone(),
                pos.clone());
    }
}
