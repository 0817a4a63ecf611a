package dev.liger.fuzz;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.liger.data.AlpacaReader;
import dev.liger.data.JsonlReader;
import dev.liger.data.MalformedRecordException;
import dev.liger.data.OnMalformed;
import dev.liger.data.PlainTextReader;
import dev.liger.data.ReadResult;
import java.nio.file.Path;
import java.util.function.Function;

/**
 * The data readers (plain text by line and by blank line, JSONL, Alpaca array and lines) on arbitrary
 * bytes, under both malformed-record policies. Documented outcomes: under SKIP a result (Alpaca's array
 * layout may still reject a syntax error with {@link MalformedRecordException}); under REJECT a result
 * or {@link MalformedRecordException}. The two policies must agree: REJECT succeeds exactly when SKIP
 * skipped nothing, with the same examples.
 */
public class DataReadersFuzzTest {
    /** Skipped records are logged as warnings; millions of them would drown the session's output. */
    private static final java.util.logging.Logger QUIET = java.util.logging.Logger.getLogger("dev.liger.data");

    static {
        QUIET.setLevel(java.util.logging.Level.OFF);
    }

    public static void fuzzerTestOneInput(byte[] data) {
        Path file = FuzzSupport.write("data.txt", data);
        check("text/line", p -> PlainTextReader.read(file, PlainTextReader.Boundary.LINE, p), false);
        check("text/blank-line", p -> PlainTextReader.read(file, PlainTextReader.Boundary.BLANK_LINE, p), false);
        check("jsonl", p -> JsonlReader.read(file, p), false);
        check("alpaca", p -> AlpacaReader.read(file, p), true);
    }

    private static void check(String reader, Function<OnMalformed, ReadResult> read, boolean syntaxMayReject) {
        ReadResult skip;
        try {
            skip = read.apply(OnMalformed.SKIP);
        } catch (Throwable e) {
            if (!syntaxMayReject) throw new AssertionError(reader + ": SKIP policy threw", e);
            FuzzSupport.expectDocumented(e, MalformedRecordException.class);
            skip = null;
        }
        ReadResult reject;
        try {
            reject = read.apply(OnMalformed.REJECT);
        } catch (Throwable e) {
            FuzzSupport.expectDocumented(e, MalformedRecordException.class);
            if (skip != null && skip.skipped().isEmpty())
                throw new AssertionError(reader + ": REJECT failed where SKIP skipped nothing", e);
            return;
        }
        if (skip == null) throw new AssertionError(reader + ": REJECT read what SKIP rejected");
        if (!skip.skipped().isEmpty()) throw new AssertionError(reader + ": REJECT accepted records that SKIP skipped: " + skip.skipped());
        if (!reject.skipped().isEmpty()) throw new AssertionError(reader + ": REJECT reports skipped records");
        if (!reject.examples().equals(skip.examples())) throw new AssertionError(reader + ": policies read different examples");
    }

    @FuzzTest(maxDuration = "15s")
    void dataReaders(byte[] data) {
        fuzzerTestOneInput(data);
    }
}
