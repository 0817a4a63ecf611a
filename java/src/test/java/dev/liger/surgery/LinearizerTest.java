package dev.liger.surgery;

import static org.junit.jupiter.api.Assertions.*;

import dev.liger.autograd.Tape;
import dev.liger.kernels.LigerAttnConfig;
import dev.liger.model.DefaultModel;
import dev.liger.model.LlamaModel;
import dev.liger.model.MixerCache;
import dev.liger.model.Positions;
import dev.liger.model.SoftmaxAttention;
import dev.liger.model.Tensors;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** The converted fixture model: native and reference paths agree, decoding equals prefill, documents stay apart. */
class LinearizerTest {

    static LlamaModel liger(LigerConfig cfg, LigerAttention.Backend backend) {
        LlamaModel m = LlamaModel.load(DefaultModel.path(), Tensors.CPU, ScalarType.Float);
        Linearizer.linearize(m, cfg, backend);
        return m;
    }

    static Tensor randomIds(int b, int t, long vocab, long seed) {
        Random r = new Random(seed);
        long[] ids = new long[b * t];
        for (int i = 0; i < ids.length; i++) ids[i] = 4 + r.nextInt((int) vocab - 4);
        return Tensors.longs(ids, b, t);
    }

    static double relErr(Tensor a, Tensor b) {
        return a.sub(b).abs().max().item_double() / b.abs().max().item_double();
    }

    static Tensor loss(Tensor logits, Tensor ids) {
        long t = ids.size(1);
        Tensor lp = logits.narrow(1, 0, t - 1).log_softmax(-1);
        Tensor tgt = ids.narrow(1, 1, t - 1).unsqueeze(-1);
        return lp.gather(-1, tgt).mean().neg();
    }

    @Test
    void theFp16KernelChoiceReachesEveryLigerLayer() {
        LigerConfig cfg = LigerConfig.defaults().withFullAttentionLayers(List.of(1));
        try (LlamaModel plain = liger(cfg, LigerAttention.Backend.NATIVE);
             LlamaModel fast = LlamaModel.load(DefaultModel.path(), Tensors.CPU, ScalarType.Float)) {
            for (LigerAttention a : Linearizer.ligerLayers(plain))
                assertEquals(LigerAttnConfig.F16Mode.DEFAULT, a.config().f16Mode());
            List<LigerAttention> layers = Linearizer.linearize(fast, cfg, LigerAttention.Backend.NATIVE, LigerAttnConfig.F16Mode.FAST);
            assertEquals(3, layers.size());
            for (LigerAttention a : layers) {
                assertEquals(LigerAttnConfig.F16Mode.FAST, a.config().f16Mode());
                assertEquals(Linearizer.kernelConfig(cfg).withF16Mode(LigerAttnConfig.F16Mode.FAST), a.config());
            }
        }
    }

    @Test
    void nativeAndReferenceAgreeOnLogitsAndGradients() {
        LigerConfig cfg = LigerConfig.defaults();
        try (PointerScope scope = new PointerScope();
             LlamaModel nat = liger(cfg, LigerAttention.Backend.NATIVE);
             LlamaModel ref = liger(cfg, LigerAttention.Backend.REFERENCE)) {
            Tensor ids = randomIds(2, 150, nat.config().vocabSize(), 1);
            Positions pos = Positions.contiguous(2, 150, 0, Tensors.CPU);
            List<Tensor> wn = new ArrayList<>(), wr = new ArrayList<>();
            for (int l = 0; l < nat.layers().size(); l++) {
                LigerAttention a = (LigerAttention) nat.layers().get(l).mixer();
                LigerAttention b = (LigerAttention) ref.layers().get(l).mixer();
                for (Tensor w : new Tensor[] {a.qProj().weight(), a.kProj().weight(), a.vProj().weight()}) { w.requires_grad_(true); wn.add(w); }
                for (Tensor w : new Tensor[] {b.qProj().weight(), b.kProj().weight(), b.vProj().weight()}) { w.requires_grad_(true); wr.add(w); }
            }
            try (Tape tape = new Tape()) {
                Linearizer.setTape(nat, tape);
                Tensor ln = nat.forward(ids, pos), lr = ref.forward(ids, pos);
                double fwd = relErr(ln, lr);
                assertTrue(fwd < 1e-4, "logits native vs reference: " + fwd);
                tape.backward(loss(ln, ids));
                loss(lr, ids).backward();
                for (int i = 0; i < wn.size(); i++) {
                    double e = relErr(wn.get(i).grad(), wr.get(i).grad());
                    assertTrue(e < 1e-3, "gradient " + i + " native vs reference: " + e);
                }
            } finally {
                Linearizer.setTape(nat, null);
            }
        }
    }

    /** Logits of step-by-step decoding equal those of one prefill at every position (below, at, past W). */
    @ParameterizedTest
    @EnumSource(LigerAttention.Backend.class)
    void decodeEqualsPrefill(LigerAttention.Backend backend) {
        LigerConfig cfg = LigerConfig.defaults().withWindow(16).withFullAttentionLayers(List.of(1));
        try (PointerScope scope = new PointerScope(); LlamaModel m = liger(cfg, backend)) {
            assertInstanceOf(SoftmaxAttention.class, m.layers().get(1).mixer(), "hybrid layer keeps softmax attention");
            int t = 70; // below (< 16), at (16) and well past W
            Tensor ids = randomIds(1, t, m.config().vocabSize(), 2);
            Tensor full = m.forward(ids, Positions.contiguous(1, t, 0, Tensors.CPU));
            List<MixerCache> caches = m.newCaches(1, t);
            int prompt = 5;
            Tensor first = m.step(ids.narrow(1, 0, prompt), Positions.contiguous(1, prompt, 0, Tensors.CPU), caches, false);
            assertTrue(relErr(first, full.narrow(1, 0, prompt)) < 1e-4);
            for (int s = prompt; s < t; s++) {
                Tensor step = m.step(ids.narrow(1, s, 1), Positions.contiguous(1, 1, s, Tensors.CPU), caches, true);
                double e = relErr(step, full.select(1, s));
                assertTrue(e < 1e-4, backend + ": position " + s + " decode vs prefill " + e);
            }
        }
    }

    /**
     * Two documents packed in one row (positions restart) give the logits of two separate forwards: for the
     * Transformer (0 = no conversion), a pure Liger model (1) and an inter-layer hybrid (2).
     */
    @ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(ints = {0, 1, 2})
    void packedDocumentsDoNotLeak(int kind) {
        LlamaModel model = LlamaModel.load(DefaultModel.path(), Tensors.CPU, ScalarType.Float);
        if (kind > 0) Linearizer.linearize(model, LigerConfig.defaults().withWindow(8)
                .withFullAttentionLayers(kind == 2 ? List.of(0, 2) : List.of()), LigerAttention.Backend.NATIVE);
        try (PointerScope scope = new PointerScope(); LlamaModel m = model) {
            Tensor a = randomIds(1, 40, m.config().vocabSize(), 3), b = randomIds(1, 30, m.config().vocabSize(), 4);
            Tensor la = m.forward(a, Positions.contiguous(1, 40, 0, Tensors.CPU));
            Tensor lb = m.forward(b, Positions.contiguous(1, 30, 0, Tensors.CPU));
            long[] p = new long[70];
            for (int i = 0; i < 70; i++) p[i] = i < 40 ? i : i - 40;
            Tensor packed = m.forward(torch.cat(new org.bytedeco.pytorch.TensorVector(a, b), 1),
                    new Positions(Tensors.longs(p, 1, 70), null, 39));
            assertTrue(relErr(packed.narrow(1, 0, 40), la) < 1e-4);
            assertTrue(relErr(packed.narrow(1, 40, 30), lb) < 1e-4);
        }
    }

    /** A left-padded batch prefill and decode equals each prompt alone. */
    @Test
    void leftPaddedBatchEqualsSeparateSequences() {
        try (PointerScope scope = new PointerScope(); LlamaModel m = liger(LigerConfig.defaults().withWindow(8), LigerAttention.Backend.NATIVE)) {
            Tensor a = randomIds(1, 12, m.config().vocabSize(), 5), b = randomIds(1, 7, m.config().vocabSize(), 6);
            Tensor la = m.forward(a, Positions.contiguous(1, 12, 0, Tensors.CPU));
            Tensor lb = m.forward(b, Positions.contiguous(1, 7, 0, Tensors.CPU));
            Tensor padded = torch.cat(new org.bytedeco.pytorch.TensorVector(a,
                    torch.cat(new org.bytedeco.pytorch.TensorVector(torch.zeros(new long[] {1, 5}, new org.bytedeco.pytorch.TensorOptions(ScalarType.Long)), b), 1)), 0);
            List<MixerCache> caches = m.newCaches(2, 16);
            Tensor out = m.step(padded, Positions.padded(new int[] {12, 7}, null, 12, true, Tensors.CPU), caches, false);
            assertTrue(relErr(out.select(0, 0), la.select(0, 0)) < 1e-4);
            assertTrue(relErr(out.select(0, 1).narrow(0, 5, 7), lb.select(0, 0)) < 1e-4);
        }
    }

    @Test
    void configErrorsNameTheProblem() {
        try (PointerScope scope = new PointerScope();
             LlamaModel m = LlamaModel.load(DefaultModel.path(), Tensors.CPU, ScalarType.Float)) {
            int n = m.layers().size();
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () ->
                    Linearizer.linearize(m, LigerConfig.defaults().withFullAttentionLayers(List.of(n)), LigerAttention.Backend.NATIVE));
            assertTrue(e.getMessage().contains("full_attention_layers"), e.getMessage());
            Linearizer.linearize(m, LigerConfig.defaults(), LigerAttention.Backend.NATIVE);
            assertThrows(IllegalStateException.class, () -> Linearizer.linearize(m, LigerConfig.defaults(), LigerAttention.Backend.NATIVE));
        }
    }

    @Test
    void configJsonRoundTripAndValidation() throws Exception {
        LigerConfig c = LigerConfig.defaults().withVariant(LigerConfig.Variant.HGRN2).withWindow(32).withMix(0.25f)
                .withUseGate(false).withFullAttentionLayers(LigerConfig.everyKth(2, 4));
        java.nio.file.Path f = java.nio.file.Files.createTempDirectory("liger").resolve(LigerConfig.FILE_NAME);
        c.write(f);
        assertEquals(c, LigerConfig.read(f));
        assertEquals(List.of(1, 3), c.fullAttentionLayers());
        com.fasterxml.jackson.databind.ObjectMapper om = new com.fasterxml.jackson.databind.ObjectMapper();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> LigerConfig.fromJson(om.readTree("{\"windw\": 3}"), "x.json"));
        assertTrue(e.getMessage().contains("windw") && e.getMessage().contains("x.json"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> LigerConfig.fromJson(om.readTree("{\"mix\": 2}"), "x.json"));
        assertTrue(e.getMessage().contains("mix"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> LigerConfig.fromJson(om.readTree("{\"liger_variant\": \"mamba\"}"), "x.json"));
        assertTrue(e.getMessage().contains("mamba"), e.getMessage());
    }
}
