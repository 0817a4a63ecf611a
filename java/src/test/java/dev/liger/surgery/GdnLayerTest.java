package dev.liger.surgery;

import static dev.liger.surgery.LinearizerTest.liger;
import static dev.liger.surgery.LinearizerTest.loss;
import static dev.liger.surgery.LinearizerTest.randomIds;
import static dev.liger.surgery.LinearizerTest.relErr;
import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.liger.autograd.Tape;
import dev.liger.data.OnMalformed;
import dev.liger.data.PackedRow;
import dev.liger.data.Packer;
import dev.liger.data.PackingConfig;
import dev.liger.data.PlainTextReader;
import dev.liger.data.TokenEncoder;
import dev.liger.data.TokenizedDocument;
import dev.liger.kernels.GdnSupport;
import dev.liger.kernels.GdnSupport.Entry;
import dev.liger.lora.LoraConfig;
import dev.liger.model.DefaultModel;
import dev.liger.model.LlamaModel;
import dev.liger.model.MixerCache;
import dev.liger.model.Positions;
import dev.liger.model.SoftmaxAttention;
import dev.liger.model.Tensors;
import dev.liger.pipeline.Finetune;
import dev.liger.tokenizer.Tokenizer;
import dev.liger.train.AdamWConfig;
import dev.liger.train.LrSchedule;
import dev.liger.train.NonFinitePolicy;
import dev.liger.train.Precision;
import dev.liger.train.TrainConfig;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Liger-GDN on the embedded fixture model: native and reference agree on logits and LoRA gradients, decoding equals
 * prefill below, at and past the window, packed documents and left padding stay apart, LoRA training through the
 * tape lowers the loss, and the config round-trips. Native cases are skipped while the kernel is unsupported.
 */
class GdnLayerTest {

    static LigerConfig gdn() {
        return LigerConfig.defaults().withVariant(LigerConfig.Variant.GDN);
    }

    static void assumeBackend(LigerAttention.Backend backend, Entry... needed) {
        if (backend == LigerAttention.Backend.NATIVE) GdnSupport.assumeNativeGdn(needed);
    }

    @Test
    void linearizeInstallsGdnLayers() {
        try (PointerScope scope = new PointerScope();
             LlamaModel m = liger(gdn().withGdnBeta(0.5f).withFullAttentionLayers(List.of(2)), LigerAttention.Backend.REFERENCE)) {
            List<LigerAttention> layers = Linearizer.ligerLayers(m);
            assertEquals(3, layers.size());
            assertInstanceOf(SoftmaxAttention.class, m.layers().get(2).mixer());
            LigerAttention.Gdn g = layers.get(0).gdn();
            assertNotNull(g, "GDN layers carry their delta-rule settings");
            assertEquals(0.5f, g.beta());
            assertEquals(16f, g.gateNorm());
            assertTrue(g.useGate());
        }
    }

    /** The GDN branch changes the function: Liger-GDN, Liger-GLA and SWA only give different logits. */
    @Test
    void gdnDiffersFromGlaAndFromSwaOnly() {
        try (PointerScope scope = new PointerScope();
             LlamaModel g = liger(gdn(), LigerAttention.Backend.REFERENCE);
             LlamaModel l = liger(LigerConfig.defaults(), LigerAttention.Backend.REFERENCE);
             LlamaModel s = liger(gdn().withMix(0f), LigerAttention.Backend.REFERENCE);
             LlamaModel sg = liger(LigerConfig.defaults().withMix(0f), LigerAttention.Backend.REFERENCE)) {
            Tensor ids = randomIds(1, 80, g.config().vocabSize(), 11);
            Positions pos = Positions.contiguous(1, 80, 0, Tensors.CPU);
            Tensor lg = g.forward(ids, pos), ll = l.forward(ids, pos), ls = s.forward(ids, pos);
            assertTrue(relErr(lg, ll) > 1e-2, "GDN vs GLA: " + relErr(lg, ll));
            assertTrue(relErr(lg, ls) > 1e-2, "GDN vs SWA only: " + relErr(lg, ls));
            // a = 0 keeps its meaning: SWA only is the same model whatever the recurrent variant
            assertTrue(relErr(ls, sg.forward(ids, pos)) < 1e-6, "SWA-only GDN equals SWA-only GLA");
        }
    }

    @Test
    void nativeAndReferenceAgreeOnLogitsAndLoraGradients() {
        GdnSupport.assumeNativeGdn(Entry.FORWARD, Entry.BACKWARD);
        for (LigerConfig cfg : new LigerConfig[] {gdn(), gdn().withMix(1f).withGdnBeta(1.5f), gdn().withUseGate(false)}) {
            try (PointerScope scope = new PointerScope();
                 LlamaModel nat = liger(cfg, LigerAttention.Backend.NATIVE);
                 LlamaModel ref = liger(cfg, LigerAttention.Backend.REFERENCE)) {
                Tensor ids = randomIds(2, 150, nat.config().vocabSize(), 1);
                Positions pos = Positions.contiguous(2, 150, 0, Tensors.CPU);
                dev.liger.lora.LoraAdapters ln = dev.liger.lora.LoraAdapters.attach(nat, LoraConfig.defaults(), torch.createCPUGenerator(5));
                dev.liger.lora.LoraAdapters lr = dev.liger.lora.LoraAdapters.attach(ref, LoraConfig.defaults(), torch.createCPUGenerator(5));
                // B starts at zero (no change to the model): give it values so that the A gradients are non-zero too
                randomizeB(ln, 9);
                randomizeB(lr, 9);
                try (Tape tape = new Tape()) {
                    Linearizer.setTape(nat, tape);
                    Tensor logitsN = nat.forward(ids, pos), logitsR = ref.forward(ids, pos);
                    double fwd = relErr(logitsN, logitsR);
                    assertTrue(fwd < 1e-4, cfg + ": logits native vs reference " + fwd);
                    tape.backward(loss(logitsN, ids));
                    loss(logitsR, ids).backward();
                    var pn = ln.trainable();
                    var pr = lr.trainable();
                    assertEquals(pr.keySet(), pn.keySet());
                    for (String name : pn.keySet()) {
                        double e = relErr(pn.get(name).grad(), pr.get(name).grad());
                        assertTrue(e < 1e-3, cfg + ": LoRA gradient " + name + " native vs reference " + e);
                    }
                } finally {
                    Linearizer.setTape(nat, null);
                }
            }
        }
    }

    private static void randomizeB(dev.liger.lora.LoraAdapters lora, long seed) {
        torch.manual_seed(seed);
        try (org.bytedeco.pytorch.NoGradGuard ng = new org.bytedeco.pytorch.NoGradGuard()) {
            for (var e : new java.util.TreeMap<>(lora.trainable()).entrySet())
                if (e.getKey().contains("lora_B")) e.getValue().copy_(torch.randn(e.getValue().sizes()).mul(new org.bytedeco.pytorch.Scalar(0.05)));
        }
    }

    /** Logits of step-by-step decoding equal those of one prefill at every position (below, at, past W). */
    @ParameterizedTest
    @EnumSource(LigerAttention.Backend.class)
    void decodeEqualsPrefill(LigerAttention.Backend backend) {
        assumeBackend(backend, Entry.FORWARD, Entry.DECODE);
        for (LigerConfig cfg : new LigerConfig[] {gdn().withWindow(16).withFullAttentionLayers(List.of(1)),
                gdn().withMix(1f).withGdnBeta(0.7f), gdn().withMix(0f).withWindow(8)}) {
            try (PointerScope scope = new PointerScope(); LlamaModel m = liger(cfg, backend)) {
                int t = 40; // below (< 16), at (16) and past W
                Tensor ids = randomIds(1, t, m.config().vocabSize(), 2);
                Tensor full = m.forward(ids, Positions.contiguous(1, t, 0, Tensors.CPU));
                List<MixerCache> caches = m.newCaches(1, t);
                int prompt = 5;
                Tensor first = m.step(ids.narrow(1, 0, prompt), Positions.contiguous(1, prompt, 0, Tensors.CPU), caches, false);
                assertTrue(relErr(first, full.narrow(1, 0, prompt)) < 1e-4);
                for (int s = prompt; s < t; s++) {
                    Tensor step = m.step(ids.narrow(1, s, 1), Positions.contiguous(1, 1, s, Tensors.CPU), caches, true);
                    double e = relErr(step, full.select(1, s));
                    assertTrue(e < 1e-4, backend + " " + cfg + ": position " + s + " decode vs prefill " + e);
                }
                long held = ligerBytes(m, caches);
                for (int s = 0; s < 20; s++) m.step(ids.narrow(1, s, 1), Positions.contiguous(1, 1, t + s, Tensors.CPU), caches, true);
                assertTrue(held > 0, "Liger-GDN keeps a state");
                assertEquals(held, ligerBytes(m, caches), "the Liger-GDN caches keep a constant size");
                caches.forEach(MixerCache::close);
            }
        }
    }

    private static long ligerBytes(LlamaModel m, List<MixerCache> caches) {
        long n = 0;
        for (int l = 0; l < caches.size(); l++) if (m.layers().get(l).mixer() instanceof LigerAttention) n += caches.get(l).bytes();
        return n;
    }

    /** Two documents packed in one row (positions restart) give the logits of two separate forwards. */
    @ParameterizedTest
    @EnumSource(LigerAttention.Backend.class)
    void packedDocumentsDoNotLeak(LigerAttention.Backend backend) {
        assumeBackend(backend, Entry.FORWARD);
        try (PointerScope scope = new PointerScope(); LlamaModel m = liger(gdn().withWindow(8), backend)) {
            Tensor a = randomIds(1, 40, m.config().vocabSize(), 3), b = randomIds(1, 30, m.config().vocabSize(), 4);
            Tensor la = m.forward(a, Positions.contiguous(1, 40, 0, Tensors.CPU));
            Tensor lb = m.forward(b, Positions.contiguous(1, 30, 0, Tensors.CPU));
            long[] p = new long[70];
            for (int i = 0; i < 70; i++) p[i] = i < 40 ? i : i - 40;
            Tensor packed = m.forward(torch.cat(new TensorVector(a, b), 1), new Positions(Tensors.longs(p, 1, 70), null, 39));
            assertTrue(relErr(packed.narrow(1, 0, 40), la) < 1e-4);
            assertTrue(relErr(packed.narrow(1, 40, 30), lb) < 1e-4);
        }
    }

    /** A left-padded batch prefill, then decoding, equals each prompt alone. */
    @ParameterizedTest
    @EnumSource(LigerAttention.Backend.class)
    void leftPaddedBatchEqualsSeparateSequences(LigerAttention.Backend backend) {
        assumeBackend(backend, Entry.FORWARD, Entry.DECODE);
        try (PointerScope scope = new PointerScope(); LlamaModel m = liger(gdn().withWindow(8), backend)) {
            Tensor a = randomIds(1, 14, m.config().vocabSize(), 5), b = randomIds(1, 9, m.config().vocabSize(), 6);
            Tensor la = m.forward(a, Positions.contiguous(1, 14, 0, Tensors.CPU));
            Tensor lb = m.forward(b, Positions.contiguous(1, 9, 0, Tensors.CPU));
            Tensor pa = a.narrow(1, 0, 12), pb = b.narrow(1, 0, 7);
            Tensor padded = torch.cat(new TensorVector(pa,
                    torch.cat(new TensorVector(torch.zeros(new long[] {1, 5}, new TensorOptions(ScalarType.Long)), pb), 1)), 0);
            List<MixerCache> caches = m.newCaches(2, 16);
            Tensor out = m.step(padded, Positions.padded(new int[] {12, 7}, null, 12, true, Tensors.CPU), caches, false);
            assertTrue(relErr(out.select(0, 0), la.select(0, 0).narrow(0, 0, 12)) < 1e-4);
            assertTrue(relErr(out.select(0, 1).narrow(0, 5, 7), lb.select(0, 0).narrow(0, 0, 7)) < 1e-4);
            for (int s = 0; s < 2; s++) {
                Tensor next = torch.cat(new TensorVector(a.narrow(1, 12 + s, 1), b.narrow(1, 7 + s, 1)), 0);
                Tensor step = m.step(next, new Positions(Tensors.longs(new long[] {12 + s, 7 + s}, 2, 1), null, 12 + s), caches, true);
                assertTrue(relErr(step.select(0, 0), la.select(1, 12 + s).select(0, 0)) < 1e-4, "row 0 step " + s);
                assertTrue(relErr(step.select(0, 1), lb.select(1, 7 + s).select(0, 0)) < 1e-4, "row 1 step " + s);
            }
        }
    }

    /** LoRA fine-tuning of the GDN conversion on real text lowers the held-out loss (native ops through the tape). */
    @ParameterizedTest
    @EnumSource(LigerAttention.Backend.class)
    void loraTrainingLowersTheLoss(LigerAttention.Backend backend, @TempDir Path tmp) throws Exception {
        assumeBackend(backend, Entry.FORWARD, Entry.BACKWARD);
        Path text = Path.of(GdnLayerTest.class.getResource("/data/brown-excerpt.txt").toURI());
        List<PackedRow> rows;
        try (Tokenizer tok = Tokenizer.load(DefaultModel.path())) {
            TokenEncoder enc = TokenEncoder.of(s -> java.util.Arrays.stream(tok.encode(s, false)).mapToInt(x -> (int) x).toArray(),
                    tok.bosId(), tok.eosIds().get(0));
            List<TokenizedDocument> docs = new ArrayList<>();
            for (var ex : PlainTextReader.read(text, PlainTextReader.Boundary.LINE, OnMalformed.REJECT).examples())
                docs.add(TokenizedDocument.encode(ex, enc));
            rows = Packer.packRows(docs, new PackingConfig(64, 3, 0, 1));
        }
        List<PackedRow> held = rows.subList(0, 4);
        try (PointerScope scope = new PointerScope(); LlamaModel m = liger(gdn().withWindow(16), backend)) {
            double before = Finetune.validationLoss(m, held, 2);
            TrainConfig tc = new TrainConfig(AdamWConfig.defaults().withLr(5e-3), LrSchedule.constant(), 6, 1, 1.0, 0,
                    Precision.FP32, 0, 0, 1, NonFinitePolicy.STOP, tmp.resolve("run"), true);
            Finetune.Result r = Finetune.run(m, LoraConfig.defaults(), tc, rows, held, 2, false,
                    new java.io.PrintStream(java.io.OutputStream.nullOutputStream()));
            System.out.printf("Liger-GDN (%s) LoRA on %d rows of 64: held-out loss %.4f -> %.4f%n", backend, rows.size(),
                    before, r.validationLoss());
            assertTrue(r.validationLoss() < before - 0.05, before + " -> " + r.validationLoss());
        }
    }

    @Test
    void configJsonCarriesBetaAndValidatesIt() throws Exception {
        LigerConfig c = gdn().withGdnBeta(0.25f).withWindow(32);
        Path f = java.nio.file.Files.createTempDirectory("liger").resolve(LigerConfig.FILE_NAME);
        c.write(f);
        assertEquals(c, LigerConfig.read(f));
        assertTrue(java.nio.file.Files.readString(f).contains("\"gdn_beta\""));
        ObjectMapper om = new ObjectMapper();
        assertEquals(1f, LigerConfig.fromJson(om.readTree("{\"liger_variant\": \"gdn\"}"), "x.json").gdnBeta());
        for (String bad : new String[] {"0", "2.5", "-1", "\"one\""}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> LigerConfig.fromJson(om.readTree("{\"gdn_beta\": " + bad + "}"), "x.json"));
            assertTrue(e.getMessage().contains("gdn_beta") && e.getMessage().contains("x.json"), e.getMessage());
        }
        assertEquals(2f, LigerConfig.fromJson(om.readTree("{\"gdn_beta\": 2}"), "x.json").gdnBeta());
    }
}
