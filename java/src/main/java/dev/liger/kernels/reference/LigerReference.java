package dev.liger.kernels.reference;

import dev.liger.kernels.LigerAttnConfig;
import dev.liger.kernels.LigerCache;
import dev.liger.kernels.LigerOps;
import dev.liger.kernels.LigerOps.AttnResult;
import dev.liger.kernels.LigerOps.GdnResult;
import dev.liger.kernels.LigerOps.GlaResult;
import dev.liger.kernels.RopeTables;
import java.util.ArrayList;
import java.util.List;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * The Liger kernel math (DESIGN.md 1.1, 1.3, liger.h) in plain libtorch ops: autograd-native and in
 * whatever dtype the inputs have (float64 makes it the test oracle). Sequence tensors are
 * [B,T,H,D] as for the native kernels; one GRM state per KV head.
 *
 * <p>The GRM runs either token by token ({@link Mode#NAIVE}, the literal recurrence) or chunked
 * ({@link Mode#CHUNKED}: chunks of 64, state passed between chunks, intra-chunk scores against the
 * chunk's middle row so that no exponent exceeds half a chunk's decay). The window attention is
 * computed in query blocks of 64 so memory stays linear in T.
 */
public final class LigerReference {
    private LigerReference() {}

    /** How the GRM recurrence is evaluated. */
    public enum Mode { NAIVE, CHUNKED }

    public static final int CHUNK = 64;

    /** Feature-mapped query, key and log-gate of the fused layer. */
    public record Features(Tensor phiQ, Tensor phiK, Tensor g) {}

    /** Feature maps and key gate of {@code config.variant()} from raw q [..,D] and k [..,D]. */
    public static Features featureMaps(Tensor q, Tensor k, LigerAttnConfig config) {
        Tensor phiQ = torch.softmax(q, -1);
        Tensor phiK, g;
        if (config.variant() == LigerAttnConfig.Variant.GLA) {
            phiK = torch.softmax(k, -1);
            g = torch.log_sigmoid(k).div(new Scalar((double) config.gateNorm()));
        } else {
            phiK = torch.sigmoid(k).neg().add(new Scalar(1.0));
            g = torch.log_sigmoid(k);
        }
        if (!config.useGate()) g = torch.zeros_like(k);
        return new Features(phiQ, phiK, g);
    }

    /** HF rotate-half RoPE of x [T,H,D] at positions start..start+T-1. */
    public static Tensor rope(Tensor x, RopeTables rope, long start) {
        long t = x.size(0), half = x.size(2) / 2;
        Tensor cos = rope.cos().narrow(0, start, t).to(x.scalar_type().intern()).unsqueeze(1);
        Tensor sin = rope.sin().narrow(0, start, t).to(x.scalar_type().intern()).unsqueeze(1);
        Tensor x1 = x.narrow(2, 0, half), x2 = x.narrow(2, half, half);
        return torch.cat(new TensorVector(x1.mul(cos).sub(x2.mul(sin)), x2.mul(cos).add(x1.mul(sin))), 2);
    }

    // ---------------------------------------------------------------- plain GLA

    /**
     * {@code S_t = diag(exp(g_t)) S_{t-1} + k_t^T v_t}, {@code o_t = scale q_t S_t}; see
     * {@link dev.liger.kernels.LigerOps#glaForward}. {@code ht} is always returned, in the input dtype.
     */
    public static GlaResult gla(Tensor q, Tensor k, Tensor v, Tensor g, double scale, Tensor h0, Tensor cuSeqlens,
                                Mode mode) {
        List<long[]> seqs = sequences(q, cuSeqlens);
        List<Tensor> outs = new ArrayList<>(), states = new ArrayList<>();
        for (int n = 0; n < seqs.size(); n++) {
            long b = seqs.get(n)[0], s = seqs.get(n)[1], len = seqs.get(n)[2];
            Tensor s0 = h0 == null ? null : h0.select(0, n).to(q.scalar_type().intern());
            Tensor gs = g.select(0, b).narrow(0, s, len).to(q.scalar_type().intern());
            Tensor[] r = grm(q.select(0, b).narrow(0, s, len), k.select(0, b).narrow(0, s, len),
                    v.select(0, b).narrow(0, s, len), gs, scale, s0, mode);
            outs.add(r[0]);
            states.add(r[1]);
        }
        return new GlaResult(assemble(outs, cuSeqlens != null), torch.stack(vec(states), 0));
    }

    /**
     * GRM of one sequence: q [T,Hq,Dk], k, g [T,Hkv,Dk], v [T,Hkv,Dv], s0 [Hkv,Dk,Dv] or null.
     * Returns {o [T,Hq,Dv], final state [Hkv,Dk,Dv]}.
     */
    static Tensor[] grm(Tensor q, Tensor k, Tensor v, Tensor g, double scale, Tensor s0, Mode mode) {
        long t = q.size(0), hq = q.size(1), dk = q.size(2), hkv = k.size(1), dv = v.size(2), grp = hq / hkv;
        Tensor state = s0 != null ? s0 : q.new_zeros(hkv, dk, dv);
        if (t == 0) return new Tensor[] {q.new_zeros(0, hq, dv), state};
        // [Hkv, G, T, Dk] queries, [Hkv, T, D] keys/values/gates
        Tensor qh = q.reshape(t, hkv, grp, dk).permute(1, 2, 0, 3);
        Tensor kh = k.permute(1, 0, 2), vh = v.permute(1, 0, 2), gh = g.permute(1, 0, 2);
        List<Tensor> outs = new ArrayList<>();
        if (mode == Mode.NAIVE) {
            for (long i = 0; i < t; i++) {
                Tensor ki = kh.select(1, i).unsqueeze(2), vi = vh.select(1, i).unsqueeze(1);
                state = gh.select(1, i).exp().unsqueeze(2).mul(state).add(ki.mul(vi));
                outs.add(torch.matmul(qh.select(2, i), state)); // [Hkv, G, Dv]
            }
            Tensor o = torch.stack(vec(outs), 2); // [Hkv, G, T, Dv]
            return new Tensor[] {o.permute(2, 0, 1, 3).reshape(t, hq, dv).mul(new Scalar(scale)), state};
        }
        // Chunked: rows of a chunk are (token, query head of the group) pairs so that every product is
        // a plain batched matmul over KV heads (broadcasting batch matmuls are slow on CPU).
        Tensor qr = q.reshape(t, hkv, grp, dk).permute(1, 0, 2, 3).contiguous(); // [Hkv, T, G, Dk]
        Tensor kc0 = kh.contiguous(), vc0 = vh.contiguous(), gc0 = gh.contiguous();
        for (long c0 = 0; c0 < t; c0 += CHUNK) {
            long len = Math.min(CHUNK, t - c0);
            Tensor qc = qr.narrow(1, c0, len), kc = kc0.narrow(1, c0, len), vc = vc0.narrow(1, c0, len);
            Tensor gcum = gc0.narrow(1, c0, len).cumsum(1); // inclusive, [Hkv, L, Dk]
            Tensor glast = gcum.narrow(1, len - 1, 1);
            Tensor ref = gcum.narrow(1, (len - 1) / 2, 1);
            // inter-chunk: (q * exp(G)) S_prev, exponents <= 0
            Tensor inter = torch.matmul(qc.mul(gcum.exp().unsqueeze(2)).reshape(hkv, len * grp, dk), state);
            // intra-chunk: sum_{j<=i} (q_i exp(G_i - G_j)) . k_j v_j, split at the middle row
            Tensor qg = qc.mul(gcum.sub(ref).exp().unsqueeze(2)).reshape(hkv, len * grp, dk);
            Tensor kg = kc.mul(ref.sub(gcum).exp());
            Tensor a = torch.matmul(qg, kg.mT()); // [Hkv, L*G, L]
            a = a.masked_fill(causalMask(len, grp), new Scalar(0.0));
            outs.add(inter.add(torch.matmul(a, vc)).reshape(hkv, len, grp, dv));
            state = glast.exp().mT().mul(state).add(torch.matmul(kc.mul(glast.sub(gcum).exp()).mT(), vc));
        }
        Tensor o = torch.cat(vec(outs), 1); // [Hkv, T, G, Dv]
        return new Tensor[] {o.permute(1, 0, 2, 3).reshape(t, hq, dv).mul(new Scalar(scale)), state};
    }

    /** True where key j lies after query row (l, g): rows are (token, group member) pairs. */
    private static Tensor causalMask(long len, long grp) {
        TensorOptions i64 = new TensorOptions(ScalarType.Long);
        Tensor rows = torch.arange(new Scalar(0L), new Scalar(len), i64).unsqueeze(1);
        Tensor cols = torch.arange(new Scalar(0L), new Scalar(len), i64).unsqueeze(0);
        return torch.gt(cols, rows).unsqueeze(1).expand(len, grp, len).reshape(len * grp, len);
    }

    // ---------------------------------------------------------------- gated delta rule

    /**
     * The gated delta rule token by token (the literal recurrence of liger.h, the oracle of the chunked kernels):
     * {@code S_t = exp(g_t) (I - beta_t k_t k_t^T) S_{t-1} + beta_t k_t v_t^T}, {@code o_t = scale S_t^T q_t}.
     * q [B,T,Hq,Dk], k [B,T,Hkv,Dk], v [B,T,Hkv,Dv], g and beta [B,T,Hkv], h0 [N,Hkv,Dk,Dv] or null; see
     * {@link dev.liger.kernels.LigerOps#gdnForward}. {@code ht} is always returned, in the input dtype.
     */
    public static GdnResult gdn(Tensor q, Tensor k, Tensor v, Tensor g, Tensor beta, double scale, Tensor h0,
                                Tensor cuSeqlens) {
        return gdn(q, k, v, g, beta, scale, h0, cuSeqlens, Mode.NAIVE);
    }

    /**
     * As above, token by token ({@link Mode#NAIVE}) or in chunks of 64 in the UT/WY form ({@link Mode#CHUNKED}, the
     * kernels' algorithm in plain libtorch ops: memory linear in T under autograd, for long sequences).
     */
    public static GdnResult gdn(Tensor q, Tensor k, Tensor v, Tensor g, Tensor beta, double scale, Tensor h0,
                                Tensor cuSeqlens, Mode mode) {
        ScalarType dt = q.scalar_type().intern();
        List<long[]> seqs = sequences(q, cuSeqlens);
        List<Tensor> outs = new ArrayList<>(), states = new ArrayList<>();
        for (int n = 0; n < seqs.size(); n++) {
            long b = seqs.get(n)[0], s = seqs.get(n)[1], len = seqs.get(n)[2];
            Tensor s0 = h0 == null ? null : h0.select(0, n).to(dt);
            Tensor qs = q.select(0, b).narrow(0, s, len), ks = k.select(0, b).narrow(0, s, len);
            Tensor vs = v.select(0, b).narrow(0, s, len), gs = g.select(0, b).narrow(0, s, len).to(dt);
            Tensor bs = beta.select(0, b).narrow(0, s, len).to(dt);
            Tensor[] r = mode == Mode.NAIVE ? gdnSeq(qs, ks, vs, gs, bs, scale, s0) : gdnChunked(qs, ks, vs, gs, bs, scale, s0);
            outs.add(r[0]);
            states.add(r[1]);
        }
        return new GdnResult(assemble(outs, cuSeqlens != null), torch.stack(vec(states), 0));
    }

    /** One sequence: q [T,Hq,Dk], k [T,Hkv,Dk], v [T,Hkv,Dv], g, beta [T,Hkv]; returns {o [T,Hq,Dv], state}. */
    private static Tensor[] gdnSeq(Tensor q, Tensor k, Tensor v, Tensor g, Tensor beta, double scale, Tensor s0) {
        long t = q.size(0), hq = q.size(1), dk = q.size(2), hkv = k.size(1), dv = v.size(2), grp = hq / hkv;
        Tensor state = s0 != null ? s0 : q.new_zeros(hkv, dk, dv);
        if (t == 0) return new Tensor[] {q.new_zeros(0, hq, dv), state};
        Tensor qh = q.reshape(t, hkv, grp, dk); // [T, Hkv, G, Dk]
        List<Tensor> outs = new ArrayList<>();
        for (long i = 0; i < t; i++) {
            Tensor ki = k.select(0, i).unsqueeze(2);           // [Hkv, Dk, 1]
            Tensor vi = v.select(0, i).unsqueeze(1);           // [Hkv, 1, Dv]
            Tensor bi = beta.select(0, i).view(hkv, 1, 1);
            Tensor decay = g.select(0, i).exp().view(hkv, 1, 1);
            // (I - b k k^T) S = S - b k (k^T S)
            Tensor erased = state.sub(bi.mul(ki).mul(torch.matmul(ki.mT(), state)));
            state = decay.mul(erased).add(bi.mul(ki).mul(vi));
            outs.add(torch.matmul(qh.select(0, i), state)); // [Hkv, G, Dv]
        }
        Tensor o = torch.stack(vec(outs), 0).reshape(t, hq, dv).mul(new Scalar(scale));
        return new Tensor[] {o, state};
    }

    /**
     * One sequence in chunks (liger.h): with G the inclusive cumulative gate inside a chunk and S the state at its
     * start, the pseudo-values solve {@code (I + strict_tril(diag(beta) K K^T * Gamma)) U = diag(beta) V -
     * diag(beta exp(G)) K S} (Gamma_ij = exp(G_i - G_j)), then {@code O = (Q * exp(G)) S + tril(Q K^T * Gamma) U}
     * and {@code S' = exp(G_last) S + (K * exp(G_last - G))^T U}. Every exponent is <= 0; entries above the
     * diagonal are masked before exponentiation.
     */
    private static Tensor[] gdnChunked(Tensor q, Tensor k, Tensor v, Tensor g, Tensor beta, double scale, Tensor s0) {
        long t = q.size(0), hq = q.size(1), dk = q.size(2), hkv = k.size(1), dv = v.size(2), grp = hq / hkv;
        Tensor state = s0 != null ? s0 : q.new_zeros(hkv, dk, dv);
        if (t == 0) return new Tensor[] {q.new_zeros(0, hq, dv), state};
        Tensor qr = q.reshape(t, hkv, grp, dk).permute(1, 0, 2, 3).contiguous(); // [Hkv, T, G, Dk]
        Tensor kh = k.permute(1, 0, 2).contiguous(), vh = v.permute(1, 0, 2).contiguous(); // [Hkv, T, D]
        Tensor gh = g.permute(1, 0).contiguous(), bh = beta.permute(1, 0).contiguous();     // [Hkv, T]
        TensorOptions i64 = new TensorOptions(ScalarType.Long);
        List<Tensor> outs = new ArrayList<>();
        for (long c0 = 0; c0 < t; c0 += CHUNK) {
            long len = Math.min(CHUNK, t - c0);
            Tensor qc = qr.narrow(1, c0, len).reshape(hkv, len * grp, dk), kc = kh.narrow(1, c0, len);
            Tensor vc = vh.narrow(1, c0, len), bc = bh.narrow(1, c0, len).unsqueeze(2);   // bc [Hkv, L, 1]
            Tensor gcum = gh.narrow(1, c0, len).cumsum(1);                                 // [Hkv, L]
            Tensor rows = torch.arange(new Scalar(0L), new Scalar(len), i64).unsqueeze(1);
            Tensor cols = torch.arange(new Scalar(0L), new Scalar(len), i64).unsqueeze(0);
            Tensor above = torch.gt(cols, rows);                                           // j > i
            Tensor diff = gcum.unsqueeze(2).sub(gcum.unsqueeze(1));                        // G_i - G_j
            Tensor gamma = diff.masked_fill(above, new Scalar(Double.NEGATIVE_INFINITY)).exp(); // [Hkv, L, L]
            Tensor strict = torch.matmul(kc, kc.mT()).mul(gamma).mul(bc)
                    .masked_fill(torch.ge(cols, rows), new Scalar(0.0));
            Tensor eye = torch.eye(len, new TensorOptions(q.scalar_type().intern())).unsqueeze(0);
            Tensor rhs = bc.mul(vc).sub(torch.matmul(bc.mul(gcum.exp().unsqueeze(2)).mul(kc), state)); // [Hkv, L, Dv]
            Tensor u = torch.linalg_solve_triangular(strict.add(eye), rhs, false, true, true);
            // outputs: rows are (token, group member) pairs
            Tensor gq = gcum.unsqueeze(2).expand(hkv, len, grp).reshape(hkv, len * grp);
            Tensor inter = torch.matmul(qc.mul(gq.exp().unsqueeze(2)), state);
            Tensor gammaQ = gamma.unsqueeze(2).expand(hkv, len, grp, len).reshape(hkv, len * grp, len);
            Tensor a = torch.matmul(qc, kc.mT()).mul(gammaQ).masked_fill(causalMask(len, grp), new Scalar(0.0));
            outs.add(inter.add(torch.matmul(a, u)).reshape(hkv, len, grp, dv));
            Tensor glast = gcum.narrow(1, len - 1, 1);                                     // [Hkv, 1]
            Tensor kdec = kc.mul(glast.sub(gcum).exp().unsqueeze(2));
            state = glast.exp().unsqueeze(2).mul(state).add(torch.matmul(kdec.mT(), u));
        }
        Tensor o = torch.cat(vec(outs), 1); // [Hkv, T, G, Dv]
        return new Tensor[] {o.permute(1, 0, 2, 3).reshape(t, hq, dv).mul(new Scalar(scale)), state};
    }

    // ---------------------------------------------------------------- fused Liger attention

    /**
     * Fused Liger attention from raw q [B,T,Hq,D], k, v [B,T,Hkv,D], optionally continuing from
     * {@code cacheIn}; always returns the cache after the last token (in the input dtype; window
     * slots never written keep their previous content, and with mix == 1 the window is not touched).
     */
    public static AttnResult attention(Tensor q, Tensor k, Tensor v, LigerAttnConfig config, RopeTables rope,
                                       Tensor cuSeqlens, LigerCache cacheIn, Mode mode) {
        if (config.mix() < 1 && rope == null) throw new IllegalArgumentException("rope tables are required when mix < 1");
        ScalarType dt = q.scalar_type().intern();
        long hkv = k.size(2), d = q.size(3);
        int w = config.window();
        List<long[]> seqs = sequences(q, cuSeqlens);
        List<Tensor> outs = new ArrayList<>(), states = new ArrayList<>(), wks = new ArrayList<>(), wvs = new ArrayList<>();
        long[] posOut = new long[seqs.size()];
        long[] posIn = cacheIn == null ? new long[seqs.size()] : longs(cacheIn.pos());
        for (int n = 0; n < seqs.size(); n++) {
            long b = seqs.get(n)[0], s = seqs.get(n)[1], len = seqs.get(n)[2];
            Tensor s0 = cacheIn == null ? null : cacheIn.state().select(0, n).to(dt);
            Tensor wk = null, wv = null;
            if (w > 1) {
                wk = cacheIn == null || cacheIn.winK() == null ? q.new_zeros(hkv, w - 1, d) : cacheIn.winK().select(0, n).to(dt);
                wv = cacheIn == null || cacheIn.winV() == null ? q.new_zeros(hkv, w - 1, d) : cacheIn.winV().select(0, n).to(dt);
            }
            Tensor[] r = attentionSeq(q.select(0, b).narrow(0, s, len), k.select(0, b).narrow(0, s, len),
                    v.select(0, b).narrow(0, s, len), config, rope, s0, wk, wv, posIn[n], mode);
            outs.add(r[0]);
            states.add(r[1]);
            if (w > 1) {
                wks.add(r[2]);
                wvs.add(r[3]);
            }
            posOut[n] = posIn[n] + len;
        }
        Tensor pos = LigerOps.longTensor(posOut);
        LigerCache cache = new LigerCache(torch.stack(vec(states), 0), w > 1 ? torch.stack(vec(wks), 0) : null,
                w > 1 ? torch.stack(vec(wvs), 0) : null, pos);
        return new AttnResult(assemble(outs, cuSeqlens != null), cache);
    }

    /** One sequence; returns {o [T,Hq,D], state, winK, winV}. */
    private static Tensor[] attentionSeq(Tensor q, Tensor k, Tensor v, LigerAttnConfig c, RopeTables rope, Tensor s0,
                                         Tensor winK, Tensor winV, long pos0, Mode mode) {
        long t = q.size(0), hq = q.size(1), d = q.size(2), hkv = k.size(1), grp = hq / hkv;
        int w = c.window();
        Features f = featureMaps(q, k, c);
        Tensor[] g = grm(f.phiQ(), f.phiK(), v, f.g(), 1.0, s0, mode);
        Tensor o = g[0];
        Tensor newWk = winK, newWv = winV;
        if (c.mix() < 1) { // with mix == 1 there is no SWA: the window buffers are left as they are
            // keys: the cached previous min(pos0, W-1) tokens (ordered by position), then this call's
            long m = w > 1 ? Math.min(pos0, w - 1) : 0;
            Tensor kr = rope(k, rope, pos0).permute(1, 0, 2).contiguous(); // [Hkv, T, D]
            Tensor vh = v.permute(1, 0, 2).contiguous();
            Tensor allK = kr, allV = vh;
            if (m > 0) {
                Tensor idx = slots(pos0 - m, pos0, w - 1);
                allK = torch.cat(new TensorVector(torch.index_select(winK, 1, idx), kr), 1);
                allV = torch.cat(new TensorVector(torch.index_select(winV, 1, idx), vh), 1);
            }
            if (t > 0) {
                Tensor qr = rope(q, rope, pos0).reshape(t, hkv, grp, d).permute(1, 0, 2, 3).contiguous(); // [Hkv, T, G, D]
                Tensor swa = windowAttention(qr, allK, allV, m, w, c.swaScaleFor(d)); // [Hkv, T, G, D]
                swa = swa.permute(1, 0, 2, 3).reshape(t, hq, d);
                o = o.mul(new Scalar((double) c.mix())).add(swa.mul(new Scalar(1.0 - c.mix())));
            }
            if (w > 1) {
                long total = m + t, keep = Math.min(total, w - 1), end = pos0 + t;
                Tensor idx = slots(end - keep, end, w - 1);
                newWk = winK.index_copy(1, idx, allK.narrow(1, total - keep, keep));
                newWv = winV.index_copy(1, idx, allV.narrow(1, total - keep, keep));
            }
        }
        return new Tensor[] {o, g[1], newWk, newWv};
    }

    /**
     * Softmax attention of queries qr [Hkv,T,G,D] (query t sits at key index t + m) over keys
     * allK/allV [Hkv, m+T, D], each query seeing the W keys ending at itself; in blocks of 64 queries.
     */
    private static Tensor windowAttention(Tensor qr, Tensor allK, Tensor allV, long m, int w, double scale) {
        long hkv = qr.size(0), t = qr.size(1), grp = qr.size(2), d = qr.size(3);
        List<Tensor> outs = new ArrayList<>();
        TensorOptions i64 = new TensorOptions(ScalarType.Long);
        for (long s = 0; s < t; s += CHUNK) {
            long e = Math.min(t, s + CHUNK), lq = e - s;
            long j0 = Math.max(0, s + m - w + 1), j1 = e + m;
            Tensor scores = torch.matmul(qr.narrow(1, s, lq).reshape(hkv, lq * grp, d), allK.narrow(1, j0, j1 - j0).mT())
                    .mul(new Scalar(scale)); // [Hkv, Lq*G, Lk]
            Tensor rows = torch.arange(new Scalar(s + m), new Scalar(e + m), i64).unsqueeze(1);
            Tensor cols = torch.arange(new Scalar(j0), new Scalar(j1), i64).unsqueeze(0);
            Tensor diff = rows.sub(cols);
            Tensor outside = torch.lt(diff, new Scalar(0L)).logical_or(torch.gt(diff, new Scalar((long) w - 1)))
                    .unsqueeze(1).expand(lq, grp, j1 - j0).reshape(lq * grp, j1 - j0);
            Tensor p = torch.softmax(scores.masked_fill(outside, new Scalar(Double.NEGATIVE_INFINITY)), -1);
            outs.add(torch.matmul(p, allV.narrow(1, j0, j1 - j0)).reshape(hkv, lq, grp, d));
        }
        return torch.cat(vec(outs), 1); // [Hkv, T, G, D]
    }

    /** Ring slots p % ring for positions from..to-1. */
    private static Tensor slots(long from, long to, long ring) {
        long[] s = new long[(int) (to - from)];
        for (int i = 0; i < s.length; i++) s[i] = (from + i) % ring;
        return LigerOps.longTensor(s);
    }

    // ---------------------------------------------------------------- helpers

    /** (batch index, start, length) of every sequence: one per batch row, or the cu_seqlens segments. */
    private static List<long[]> sequences(Tensor q, Tensor cuSeqlens) {
        List<long[]> out = new ArrayList<>();
        if (cuSeqlens == null) {
            for (long b = 0; b < q.size(0); b++) out.add(new long[] {b, 0, q.size(1)});
        } else {
            if (q.size(0) != 1) throw new IllegalArgumentException("cu_seqlens needs B == 1, got B = " + q.size(0));
            long[] c = longs(cuSeqlens);
            for (int i = 0; i + 1 < c.length; i++) out.add(new long[] {0, c[i], c[i + 1] - c[i]});
        }
        return out;
    }

    private static Tensor assemble(List<Tensor> perSequence, boolean packed) {
        return packed ? torch.cat(vec(perSequence), 0).unsqueeze(0) : torch.stack(vec(perSequence), 0);
    }

    private static TensorVector vec(List<Tensor> ts) {
        return new TensorVector(ts.toArray(new Tensor[0]));
    }

    private static long[] longs(Tensor t) {
        return LigerOps.longs(t);
    }
}
