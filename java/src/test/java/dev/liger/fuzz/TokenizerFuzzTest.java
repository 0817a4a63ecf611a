package dev.liger.fuzz;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.liger.model.DefaultModel;
import dev.liger.tokenizer.Tokenizer;

/**
 * The tokenizer entry (the embedded model's tokenizer.json) on arbitrary strings and id sequences.
 * Documented outcome: encode always succeeds with ids inside the vocabulary and its ids decode; decode
 * of arbitrary 32-bit unsigned ids succeeds (ids the vocabulary lacks decode to nothing); other ids are
 * refused with IllegalArgumentException naming the id (they would otherwise wrap onto other tokens).
 */
public class TokenizerFuzzTest {
    private static final Tokenizer TOKENIZER = Tokenizer.load(DefaultModel.path());
    /** The embedded tokenizer's vocabulary: 4096 BPE tokens (special tokens included). */
    private static final long VOCAB = 4096;

    public static void fuzzerTestOneInput(FuzzedDataProvider in) {
        boolean special = in.consumeBoolean();
        long[] raw = new long[in.consumeInt(0, 16)];
        for (int i = 0; i < raw.length; i++) raw[i] = in.consumeBoolean() ? in.consumeLong(0, VOCAB + 8) : in.consumeLong();
        String text = in.consumeRemainingAsString();
        long[] ids = TOKENIZER.encode(text, special);
        for (long id : ids) if (id < 0 || id >= VOCAB) throw new AssertionError("encode produced id " + id + " outside [0, " + VOCAB + ")");
        TOKENIZER.decode(ids, true);
        boolean representable = true;
        for (long id : raw) representable &= id >= 0 && id <= 0xFFFF_FFFFL;
        try {
            TOKENIZER.decode(raw, false);
            if (!representable) throw new AssertionError("decode accepted ids outside u32: " + java.util.Arrays.toString(raw));
        } catch (Throwable e) {
            FuzzSupport.expectDocumented(e, IllegalArgumentException.class);
            if (representable) throw new AssertionError("decode refused u32 ids", e);
            if (!e.getMessage().contains("token id")) throw new AssertionError("error does not name the id", e);
        }
    }

    @FuzzTest(maxDuration = "15s")
    void tokenizer(FuzzedDataProvider in) {
        fuzzerTestOneInput(in);
    }
}
