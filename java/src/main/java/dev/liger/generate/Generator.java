package dev.liger.generate;

import dev.liger.model.LlamaModel;
import dev.liger.model.MixerCache;
import dev.liger.model.Positions;
import dev.liger.model.Tensors;
import java.util.ArrayList;
import java.util.List;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;

/**
 * Autoregressive generation through the model's token mixers and their caches: the same loop drives softmax
 * attention (KV-cache) and any replacement mixer. A batch of prompts is left-padded to one length and
 * prefilled at once; each row keeps its own positions, so results do not depend on what it is batched with.
 */
public final class Generator {
    private final LlamaModel model;

    public Generator(LlamaModel model) {
        this.model = model;
    }

    public GenerationResult generate(long[] prompt, SamplingParams params, TokenListener listener) {
        return generate(List.of(prompt), params, listener).get(0);
    }

    public List<GenerationResult> generate(List<long[]> prompts, SamplingParams params, TokenListener listener) {
        int b = prompts.size();
        if (b == 0) return List.of();
        int vocab = model.config().vocabSize();
        int len = 0;
        int[] lengths = new int[b];
        for (int i = 0; i < b; i++) {
            long[] p = prompts.get(i);
            if (p.length == 0) throw new IllegalArgumentException("prompt " + i + " is empty: generation needs at least one token (e.g. BOS)");
            for (long id : p) {
                if (id < 0 || id >= vocab) throw new IllegalArgumentException("prompt " + i + " has token id " + id + " outside the vocabulary [0, " + vocab + ")");
            }
            lengths[i] = p.length;
            len = Math.max(len, p.length);
        }
        long[] ids = new long[b * len];
        for (int i = 0; i < b; i++) {
            long[] p = prompts.get(i);
            System.arraycopy(p, 0, ids, i * len + (len - p.length), p.length);
        }
        Sampler[] samplers = new Sampler[b];
        List<List<Long>> out = new ArrayList<>();
        GenerationResult.StopReason[] reason = new GenerationResult.StopReason[b];
        for (int i = 0; i < b; i++) {
            samplers[i] = new Sampler(params, i);
            out.add(new ArrayList<>());
        }
        if (params.maxNewTokens() == 0) return results(out, reason);

        requireCachesFit(b, len + (long) params.maxNewTokens());
        List<MixerCache> caches = model.newCaches(b, len + params.maxNewTokens());
        try {
            float[] logits;
            try (PointerScope scope = new PointerScope()) {
                Tensor t = Tensors.longs(ids, b, len).to(model.device(), org.bytedeco.pytorch.global.torch.ScalarType.Long);
                Positions pos = Positions.padded(lengths, null, len, true, model.device());
                logits = Tensors.toFloats(model.step(t, pos, caches, true));
            }
            long[] nextPos = new long[b];
            long[] last = new long[b];
            for (int i = 0; i < b; i++) nextPos[i] = lengths[i];
            int live = b;
            for (int step = 0; ; step++) {
                for (int i = 0; i < b; i++) {
                    if (reason[i] != null) continue;
                    long tok = samplers[i].next(logits, i * vocab, vocab);
                    out.get(i).add(tok);
                    last[i] = tok;
                    if (listener != null) listener.onToken(i, tok);
                    if (params.stopTokens().contains(tok)) reason[i] = GenerationResult.StopReason.STOP_TOKEN;
                    else if (out.get(i).size() >= params.maxNewTokens()) reason[i] = GenerationResult.StopReason.MAX_TOKENS;
                    if (reason[i] != null) live--;
                }
                if (live == 0) break;
                // Finished rows keep stepping on their last token; their outputs are ignored.
                try (PointerScope scope = new PointerScope()) {
                    Tensor t = Tensors.longs(last, b, 1).to(model.device(), org.bytedeco.pytorch.global.torch.ScalarType.Long);
                    long max = 0;
                    for (long p : nextPos) max = Math.max(max, p);
                    Positions pos = new Positions(Tensors.longs(nextPos, b, 1).to(model.device(), org.bytedeco.pytorch.global.torch.ScalarType.Long), null, max);
                    logits = Tensors.toFloats(model.step(t, pos, caches, true));
                }
                for (int i = 0; i < b; i++) nextPos[i]++;
            }
        } finally {
            caches.forEach(MixerCache::close);
        }
        return results(out, reason);
    }

    /** Refuses a batch whose growing softmax-attention caches would not fit (Liger layers are constant-size). */
    private void requireCachesFit(long batch, long tokens) {
        if (!model.device().is_cpu()) return;
        int softmax = 0;
        for (dev.liger.model.DecoderLayer l : model.layers()) if (l.mixer() instanceof dev.liger.model.SoftmaxAttention) softmax++;
        if (softmax == 0) return;
        int bytes = model.dtype() == org.bytedeco.pytorch.global.torch.ScalarType.Float ? 4 : 2;
        dev.liger.resources.MemoryBudget.require("generation of " + batch + " sequence(s) x " + tokens + " tokens (KV-cache of "
                + softmax + " softmax-attention layers)", dev.liger.resources.MemoryBudget.kvCacheBytes(model.config(), softmax, batch, tokens, bytes));
    }

    private static List<GenerationResult> results(List<List<Long>> out, GenerationResult.StopReason[] reason) {
        List<GenerationResult> r = new ArrayList<>();
        for (int i = 0; i < out.size(); i++) {
            long[] a = out.get(i).stream().mapToLong(Long::longValue).toArray();
            r.add(new GenerationResult(a, reason[i] == null ? GenerationResult.StopReason.MAX_TOKENS : reason[i]));
        }
        return r;
    }
}
