package dev.liger.hardening;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.liger.train.Checkpoint;
import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Crash safety of training: the trainer runs in its own JVM ({@link TrainerProcess}, a checkpoint after
 * every step) and is SIGKILLed at random moments right after a step is announced, that is while that step's
 * checkpoint is being written (temp directory, tensors, state, manifest, rename, pruning). After each kill
 * the newest checkpoint that verifies must be the one the next life resumes from, never a partial one, and
 * must be no newer than the last step announced. Steps re-run after a resume must reproduce their earlier
 * losses exactly, and the finished run must equal an uninterrupted run bit for bit (same final tensors,
 * optimizer and RNG state: the checkpoint files' SHA-256 match).
 */
class CrashResumeTest {
    static final long STEPS = 24;
    static final int KILLS = 5;

    @TempDir Path tmp;

    @Test
    void killedDuringCheckpointWritesResumesExactly() throws Exception {
        Path straight = tmp.resolve("straight");
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        TrainerProcess.run(straight, STEPS, new PrintStream(buf, true, StandardCharsets.UTF_8));
        TreeMap<Long, String> expected = losses(buf.toString(StandardCharsets.UTF_8).lines().toList());
        assertEquals(STEPS, expected.size());

        Path out = tmp.resolve("killed");
        Path root = out.resolve("checkpoints");
        SplittableRandom rnd = new SplittableRandom(20261124);
        TreeMap<Long, String> seen = new TreeMap<>();
        int midWrite = 0, lives = 0;
        long lastAnnounced = 0;
        for (int kill = 0; kill <= KILLS; kill++) {
            Optional<Path> before = Checkpoint.latest(root);
            long resumeFrom = before.map(CrashResumeTest::stepOf).orElse(0L);
            Process p = start(out);
            lives++;
            List<String> lines = new ArrayList<>();
            BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
            // Kill after a random step of this life, a random 0..20 ms into its checkpoint write.
            long killAfter = kill < KILLS ? resumeFrom + 1 + rnd.nextInt(4) : Long.MAX_VALUE;
            boolean killed = false;
            for (String line; (line = r.readLine()) != null; ) {
                lines.add(line);
                if (line.startsWith("STEP ")) {
                    long s = Long.parseLong(line.split(" ")[1]);
                    lastAnnounced = s;
                    if (s == killAfter) {
                        LockSupport.parkNanos(rnd.nextLong(20_000_000L));
                        // SIGKILL on Linux: no shutdown hooks, no finally blocks. Through the handle, which
                        // leaves the pipe open (Process.destroyForcibly closes it) so that its last lines can be read
                        p.toHandle().destroyForcibly();
                        killed = true;
                        break;
                    }
                }
            }
            assertTrue(p.waitFor(120, TimeUnit.SECONDS), "trainer process did not end");
            // A trainer that ran ahead of this reader (a loaded machine) announced more steps before it died:
            // their lines are still in the pipe, and their checkpoints may be complete.
            for (String line; killed && (line = r.readLine()) != null; ) {
                lines.add(line);
                if (line.startsWith("STEP ")) lastAnnounced = Math.max(lastAnnounced, Long.parseLong(line.split(" ")[1]));
            }
            String first = lines.isEmpty() ? "<no output>" : lines.get(0);
            assertEquals(before.isPresent() ? "RESUMED " + resumeFrom : "FRESH", first,
                    "life " + lives + " must resume from the newest complete checkpoint\n" + String.join("\n", lines));
            for (var e : losses(lines).entrySet()) {
                String earlier = seen.putIfAbsent(e.getKey(), e.getValue());
                if (earlier != null) assertEquals(earlier, e.getValue(), "step " + e.getKey() + " re-run after resume changed its loss");
            }
            if (killed) {
                if (hasTempLeftover(root)) midWrite++;
                Optional<Path> after = Checkpoint.latest(root);
                assertTrue(after.isPresent(), "a complete checkpoint must survive the kill");
                long s = stepOf(after.get());
                assertTrue(s >= resumeFrom && s <= lastAnnounced, "newest complete checkpoint " + s + " outside ["
                        + resumeFrom + ", " + lastAnnounced + "]");
                Checkpoint.load(after.get()); // verifies the manifest and reads every tensor
            } else {
                assertEquals(0, p.exitValue(), String.join("\n", lines));
                assertEquals("DONE", lines.get(lines.size() - 1));
            }
        }
        assertEquals(expected, seen, "losses of the killed-and-resumed run differ from the straight run");
        Path a = Checkpoint.latest(straight.resolve("checkpoints")).orElseThrow();
        Path b = Checkpoint.latest(root).orElseThrow();
        assertEquals(a.getFileName(), b.getFileName());
        assertEquals(manifestHash(a), manifestHash(b), "final checkpoint tensors differ from the straight run");
        String summary = "crash-resume: " + KILLS + " SIGKILLs during checkpoint writes (" + midWrite
                + " left a partial temp directory), " + lives + " lives, " + STEPS + " steps, final state identical";
        System.out.println(summary);
        Files.writeString(Path.of("target", "crash-resume.txt"), summary + "\n");
    }

    private Process start(Path out) throws IOException {
        List<String> cmd = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xmx512m",
                "-cp", System.getProperty("java.class.path"), TrainerProcess.class.getName(), out.toString(),
                Long.toString(STEPS));
        return new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.DISCARD).start();
    }

    private static TreeMap<Long, String> losses(List<String> lines) {
        TreeMap<Long, String> m = new TreeMap<>();
        for (String l : lines) {
            if (!l.startsWith("STEP ")) continue;
            String[] f = l.split(" ");
            m.put(Long.parseLong(f[1]), f[2]);
        }
        return m;
    }

    private static long stepOf(Path dir) {
        return Long.parseLong(dir.getFileName().toString().substring("step-".length()));
    }

    private static boolean hasTempLeftover(Path root) throws IOException {
        if (!Files.isDirectory(root)) return false;
        try (Stream<Path> s = Files.list(root)) {
            return s.anyMatch(p -> p.getFileName().toString().startsWith(".tmp-"));
        }
    }

    private static String manifestHash(Path dir) throws IOException {
        String m = Files.readString(dir.resolve(Checkpoint.MANIFEST));
        int i = m.indexOf(Checkpoint.TENSORS);
        return m.substring(i, m.indexOf('}', i));
    }
}
