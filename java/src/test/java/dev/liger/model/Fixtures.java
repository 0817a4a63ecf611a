package dev.liger.model;

import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Path;

/** Paths of the Hugging Face reference fixtures under src/test/resources/fixture. */
public final class Fixtures {
    private Fixtures() {}

    public static Path dir(String name) {
        URL u = Fixtures.class.getResource("/fixture/" + name);
        if (u == null) throw new IllegalStateException("test fixture /fixture/" + name + " is missing");
        try {
            return Path.of(u.toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    /** max |a - b| / max |b|. */
    public static double relativeError(float[] a, float[] b) {
        if (a.length != b.length) throw new IllegalArgumentException("lengths " + a.length + " != " + b.length);
        double diff = 0, ref = 0;
        for (int i = 0; i < a.length; i++) {
            diff = Math.max(diff, Math.abs((double) a[i] - b[i]));
            ref = Math.max(ref, Math.abs((double) b[i]));
        }
        return diff / ref;
    }
}
