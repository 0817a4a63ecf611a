package dev.liger.fuzz;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Bounded coverage-guided fuzzing inside {@code ./mvnw verify}. In plain JUnit runs the {@code @FuzzTest}
 * methods only replay their committed corpora (regression mode); this test runs a real fuzzing session per
 * target, each in its own JVM under the Jazzer driver (libFuzzer fuzzes one target per process), for
 * {@code -Dliger.fuzz.seconds} seconds each (default 15; 0 skips). A finding fails the test with the
 * driver's report; the crashing input is kept under target/fuzz/&lt;target&gt;/ to be added to the corpus.
 * Each session's input count and time are appended to target/fuzz/summary.tsv.
 */
class FuzzCampaignTest {
    private static final Pattern DONE = Pattern.compile("Done (\\d+) runs in (\\d+) second");

    static Stream<Arguments> targets() {
        return Stream.of(
                Arguments.of(SafetensorsFuzzTest.class, "safetensors"),
                Arguments.of(ModelConfigFuzzTest.class, "modelConfig"),
                Arguments.of(AdapterConfigFuzzTest.class, "adapterConfig"),
                Arguments.of(DataReadersFuzzTest.class, "dataReaders"),
                Arguments.of(TokenizerFuzzTest.class, "tokenizer"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("targets")
    void boundedSession(Class<?> target, String method) throws IOException, InterruptedException {
        int seconds = Integer.getInteger("liger.fuzz.seconds", 15);
        assumeTrue(seconds > 0, "fuzzing sessions disabled (-Dliger.fuzz.seconds=0)");
        Path work = Path.of("target", "fuzz", target.getSimpleName()).toAbsolutePath();
        Path corpus = work.resolve("corpus");
        Files.createDirectories(corpus);
        Path seeds = seedDir(target, method);

        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.add("-Xmx1g");
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add("com.code_intelligence.jazzer.Jazzer");
        cmd.add("--target_class=" + target.getName());
        cmd.add("--instrumentation_includes=dev.liger.**:com.fasterxml.jackson.**");
        cmd.add("--reproducer_path=" + work);
        cmd.add("-max_total_time=" + seconds);
        // a fixed seed keeps CI's session reproducible; -Dliger.fuzz.seed=0 lets libFuzzer pick one
        int seed = Integer.getInteger("liger.fuzz.seed", 1);
        if (seed != 0) cmd.add("-seed=" + seed);
        cmd.add("-timeout=120"); // the first input also pays class loading and native library start-up
        // libtorch and the JVM alone hold several GiB resident once loaded; a leak still shows long before 12 GiB
        cmd.add("-rss_limit_mb=12288");
        cmd.add("-artifact_prefix=" + work + "/");
        cmd.add(corpus.toString());
        cmd.add(seeds.toString());
        Path log = work.resolve("session.log");
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        boolean ended = p.waitFor(seconds + 300L, TimeUnit.SECONDS);
        if (!ended) p.destroyForcibly().waitFor();
        String out = Files.readString(log, StandardCharsets.UTF_8);
        String tail = out.substring(Math.max(0, out.length() - 6000));
        assertTrue(ended, target.getSimpleName() + ": fuzzing session did not end\n" + tail);
        assertEquals(0, p.exitValue(), target.getSimpleName() + ": finding (inputs kept in " + work + ")\n" + tail);
        Matcher m = DONE.matcher(out);
        assertTrue(m.find(), target.getSimpleName() + ": no run summary in the driver output\n" + tail);
        long runs = Long.parseLong(m.group(1));
        assertTrue(runs > 0, "no inputs were run");
        String line = String.format(Locale.ROOT, "%s\t%d\t%s\t%s%n", target.getSimpleName(), runs, m.group(2),
                java.time.Instant.now());
        Files.writeString(work.getParent().resolve("summary.tsv"), line, StandardCharsets.UTF_8,
                StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        System.out.print("fuzz " + line);
    }

    /** The committed corpus, in the layout Jazzer's JUnit regression mode reads. */
    private static Path seedDir(Class<?> target, String method) {
        String res = "/" + target.getPackageName().replace('.', '/') + "/" + target.getSimpleName() + "Inputs/" + method;
        try {
            return Path.of(target.getResource(res).toURI());
        } catch (Exception e) {
            throw new IllegalStateException("seed corpus " + res + " is missing", e);
        }
    }
}
