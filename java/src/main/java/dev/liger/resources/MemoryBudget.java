package dev.liger.resources;

import dev.liger.config.ModelConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/**
 * Up-front memory checks: what a model, a tensor or a generation batch will need, against what the machine
 * (or its cgroup) can still give, so that an oversized request is refused with both numbers instead of
 * being killed by the OS halfway through. Sizes are computed with overflow checks: a config or header that
 * claims more than a long can count needs {@link Long#MAX_VALUE}.
 */
public final class MemoryBudget {
    private MemoryBudget() {}

    /** Bytes of physical memory this process can still use: MemAvailable, capped by the cgroup limit. */
    public static long available() {
        String override = System.getProperty("liger.memory.available");
        if (override != null) return Long.parseLong(override.trim());
        long avail = meminfo("MemAvailable:");
        long limit = cgroupLong(Path.of("/sys/fs/cgroup/memory.max"));
        long used = cgroupLong(Path.of("/sys/fs/cgroup/memory.current"));
        if (limit > 0 && used >= 0) avail = Math.min(avail, Math.max(0, limit - used));
        return avail;
    }

    /** Throws {@link InsufficientMemoryException} when {@code needed} exceeds {@code available}. */
    public static void require(String what, long needed, long available) {
        if (needed > available) throw new InsufficientMemoryException(what, needed, available);
    }

    public static void require(String what, long needed) {
        require(what, needed, available());
    }

    /** Parameter count of a Llama-family model as {@link ModelConfig} describes it. */
    public static long parameters(ModelConfig c) {
        long h = c.hiddenSize(), q = mul(c.numHeads(), c.headDim()), kv = mul(c.numKvHeads(), c.headDim());
        long attn = add(add(mul(q, h), mul(2, mul(kv, h))), mul(h, q));
        if (c.attentionBias()) attn = add(attn, add(q, mul(2, kv)));
        long mlp = mul(3, mul(c.intermediateSize(), h));
        if (c.mlpBias()) mlp = add(mlp, add(mul(2, c.intermediateSize()), h));
        long layer = add(add(attn, mlp), mul(2, h));
        long embed = mul(c.vocabSize(), h);
        long total = add(add(mul(c.numLayers(), layer), embed), h);
        return c.tieWordEmbeddings() ? total : add(total, embed);
    }

    /** Bytes of a model's weights held in an element type of {@code elementBytes}. */
    public static long modelBytes(ModelConfig c, int elementBytes) {
        return mul(parameters(c), elementBytes);
    }

    /**
     * Bytes the softmax-attention KV caches of {@code softmaxLayers} layers reach for {@code batch} sequences
     * of {@code tokens} tokens: keys and values in the model dtype plus each slot's position and validity.
     * Caches double their capacity when full, so the allocation is rounded up to a power of two.
     */
    public static long kvCacheBytes(ModelConfig c, int softmaxLayers, long batch, long tokens, int elementBytes) {
        long cap = Long.highestOneBit(Math.max(1, tokens));
        if (cap < tokens) cap = cap >= (1L << 62) ? Long.MAX_VALUE : cap << 1;
        long perSlot = add(mul(2, mul(mul(c.numKvHeads(), c.headDim()), elementBytes)), 9);
        return mul(softmaxLayers, mul(batch, mul(cap, perSlot)));
    }

    static long mul(long a, long b) {
        try {
            return Math.multiplyExact(a, b);
        } catch (ArithmeticException e) {
            return Long.MAX_VALUE;
        }
    }

    static long add(long a, long b) {
        try {
            return Math.addExact(a, b);
        } catch (ArithmeticException e) {
            return Long.MAX_VALUE;
        }
    }

    /** e.g. "1.5 GiB". */
    public static String human(long bytes) {
        if (bytes == Long.MAX_VALUE) return "more than 8 EiB";
        String[] units = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
        double v = bytes;
        int u = 0;
        while (v >= 1024 && u < units.length - 1) {
            v /= 1024;
            u++;
        }
        return String.format(Locale.ROOT, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
    }

    private static long meminfo(String key) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/meminfo"))) {
                if (line.startsWith(key)) return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
            }
        } catch (IOException | NumberFormatException | SecurityException e) {
            // not Linux: fall through to the JVM's view of physical memory
        }
        java.lang.management.OperatingSystemMXBean os = java.lang.management.ManagementFactory.getOperatingSystemMXBean();
        if (os instanceof com.sun.management.OperatingSystemMXBean sun) return sun.getFreeMemorySize();
        return Long.MAX_VALUE;
    }

    private static long cgroupLong(Path p) {
        try {
            String s = Files.readString(p).trim();
            return s.equals("max") ? -1 : Long.parseLong(s);
        } catch (IOException | NumberFormatException | SecurityException e) {
            return -1;
        }
    }
}
