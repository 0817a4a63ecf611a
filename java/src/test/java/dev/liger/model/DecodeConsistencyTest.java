package dev.liger.model;

import static org.junit.jupiter.api.Assertions.*;

import dev.liger.io.SafetensorsFile;
import java.util.ArrayList;
import java.util.List;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Cached decoding must reproduce the full forward: prefill of a prefix, then chunks and single tokens,
 * give the same logits as one pass over the whole sequence; left-padded batches give each row's own logits.
 */
class DecodeConsistencyTest {
    private static long[] row(Tensor ids, int b) {
        long[] all = Tensors.toLongs(ids);
        int t = (int) ids.size(1);
        return java.util.Arrays.copyOfRange(all, b * t, (b + 1) * t);
    }

    @ParameterizedTest
    @ValueSource(strings = {"tiny-qwen2", "tiny-mistral", "tiny-llama3-rope"})
    void stepwiseDecodeMatchesFullForward(String name) {
        try (SafetensorsFile ref = SafetensorsFile.open(Fixtures.dir(name).resolve("reference.safetensors"));
             LlamaModel m = LlamaModel.load(Fixtures.dir(name), Tensors.CPU, ScalarType.Float);
             PointerScope scope = new PointerScope()) {
            long[] ids = row(ref.load("input_ids"), 0);
            int n = 40, v = m.config().vocabSize();
            long[] seq = java.util.Arrays.copyOf(ids, n);
            float[] full = Tensors.toFloats(m.forward(Tensors.longs(seq, 1, n), Positions.contiguous(1, n, 0, Tensors.CPU)));
            List<MixerCache> caches = m.newCaches(1, 4); // small hint: forces the cache to grow
            List<float[]> parts = new ArrayList<>();
            int[] chunks = {7, 1, 1, 13, 1, 17}; // 7 + 1 + 1 + 13 + 1 + 17 = 40 (crosses the 16-token window)
            int at = 0;
            for (int c : chunks) {
                long[] piece = java.util.Arrays.copyOfRange(seq, at, at + c);
                parts.add(Tensors.toFloats(m.step(Tensors.longs(piece, 1, c), Positions.contiguous(1, c, at, Tensors.CPU), caches, false)));
                at += c;
            }
            assertEquals(n, at);
            float[] stepped = new float[n * v];
            int off = 0;
            for (float[] p : parts) {
                System.arraycopy(p, 0, stepped, off, p.length);
                off += p.length;
            }
            double rel = Fixtures.relativeError(stepped, full);
            System.out.printf("%s: cached decode vs full forward relative error %.3g%n", name, rel);
            assertTrue(rel < 1e-5, name + ": " + rel);
            assertEquals(n, caches.get(0).length());
            caches.forEach(MixerCache::close);
        }
    }

    @org.junit.jupiter.api.Test
    void slidingWindowCacheStaysBoundedAndExact() {
        String name = "tiny-mistral"; // window 16
        try (SafetensorsFile ref = SafetensorsFile.open(Fixtures.dir(name).resolve("reference.safetensors"));
             LlamaModel m = LlamaModel.load(Fixtures.dir(name), Tensors.CPU, ScalarType.Float);
             PointerScope scope = new PointerScope()) {
            long[] a = row(ref.load("input_ids"), 0), b = row(ref.load("input_ids"), 1);
            int n = 80, v = m.config().vocabSize(), prompt = 10;
            long[] ids = new long[2 * n];
            System.arraycopy(a, 0, ids, 0, n);
            System.arraycopy(b, 0, ids, n, n);
            float[] full = Tensors.toFloats(m.forward(Tensors.longs(ids, 2, n), Positions.contiguous(2, n, 0, Tensors.CPU)));
            List<MixerCache> caches = m.newCaches(2, 8);
            m.step(Tensors.longs(new long[] {a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9],
                    b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9]}, 2, prompt), Positions.contiguous(2, prompt, 0, Tensors.CPU), caches, false);
            double worst = 0;
            long maxStored = 0;
            for (int t = prompt; t < n; t++) {
                float[] got = Tensors.toFloats(m.step(Tensors.longs(new long[] {a[t], b[t]}, 2, 1), Positions.contiguous(2, 1, t, Tensors.CPU), caches, true));
                for (int r = 0; r < 2; r++) {
                    float[] want = java.util.Arrays.copyOfRange(full, (r * n + t) * v, (r * n + t + 1) * v);
                    worst = Math.max(worst, Fixtures.relativeError(java.util.Arrays.copyOfRange(got, r * v, (r + 1) * v), want));
                }
                maxStored = Math.max(maxStored, ((KvCache) caches.get(0)).stored());
            }
            System.out.printf("%s: 70 decode steps vs full forward relative error %.3g, at most %d cached keys (window 16)%n", name, worst, maxStored);
            assertTrue(worst < 1e-5, "decode drifted: " + worst);
            assertTrue(maxStored < 32, "sliding-window cache kept " + maxStored + " keys");
            assertEquals(n, caches.get(0).length());
            caches.forEach(MixerCache::close);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"tiny-qwen2", "tiny-mistral"})
    void leftPaddedBatchMatchesSingleSequences(String name) {
        try (SafetensorsFile ref = SafetensorsFile.open(Fixtures.dir(name).resolve("reference.safetensors"));
             LlamaModel m = LlamaModel.load(Fixtures.dir(name), Tensors.CPU, ScalarType.Float);
             PointerScope scope = new PointerScope()) {
            Tensor all = ref.load("input_ids");
            int v = m.config().vocabSize();
            int[] lengths = {30, 21};
            int len = 30;
            long[] batch = new long[2 * len];
            long[][] rows = new long[2][];
            for (int b = 0; b < 2; b++) {
                rows[b] = java.util.Arrays.copyOf(row(all, b), lengths[b]);
                System.arraycopy(rows[b], 0, batch, b * len + len - lengths[b], lengths[b]);
            }
            List<MixerCache> caches = m.newCaches(2, len + 3);
            float[] pre = Tensors.toFloats(m.step(Tensors.longs(batch, 2, len), Positions.padded(lengths, null, len, true, Tensors.CPU), caches, false));
            long[] next = {rows[0][0], rows[1][0]};
            float[] one = Tensors.toFloats(m.step(Tensors.longs(next, 2, 1),
                    new Positions(Tensors.longs(new long[] {30, 21}, 2, 1), null, 30), caches, false));
            for (int b = 0; b < 2; b++) {
                long[] ext = java.util.Arrays.copyOf(rows[b], lengths[b] + 1);
                ext[lengths[b]] = next[b];
                float[] solo = Tensors.toFloats(m.forward(Tensors.longs(ext, 1, ext.length), Positions.contiguous(1, ext.length, 0, Tensors.CPU)));
                float[] soloPrompt = java.util.Arrays.copyOfRange(solo, 0, lengths[b] * v);
                float[] batched = java.util.Arrays.copyOfRange(pre, (b * len + len - lengths[b]) * v, (b + 1) * len * v);
                assertTrue(Fixtures.relativeError(batched, soloPrompt) < 1e-5, name + " row " + b + " prefill");
                float[] soloLast = java.util.Arrays.copyOfRange(solo, lengths[b] * v, (lengths[b] + 1) * v);
                float[] batchedLast = java.util.Arrays.copyOfRange(one, b * v, (b + 1) * v);
                assertTrue(Fixtures.relativeError(batchedLast, soloLast) < 1e-5, name + " row " + b + " decode step");
            }
            caches.forEach(MixerCache::close);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"tiny-qwen2"})
    void bf16ForwardStaysCloseToFp32(String name) {
        try (SafetensorsFile ref = SafetensorsFile.open(Fixtures.dir(name).resolve("reference.safetensors"));
             LlamaModel m = LlamaModel.load(Fixtures.dir(name), Tensors.CPU, ScalarType.BFloat16);
             PointerScope scope = new PointerScope()) {
            Tensor ids = ref.load("input_ids");
            float[] expected = Tensors.toFloats(ref.load("logits"));
            float[] actual = Tensors.toFloats(m.forward(ids, Positions.contiguous(2, (int) ids.size(1), 0, Tensors.CPU)));
            double rel = Fixtures.relativeError(actual, expected);
            System.out.printf("%s: bf16 logits vs HF fp32 relative error %.3g%n", name, rel);
            assertTrue(rel < 0.05, "bf16 drifted: " + rel);
            assertTrue(rel > 1e-6, "bf16 run must actually compute in bf16: " + rel);
        }
    }
}
