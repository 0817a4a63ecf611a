package dev.liger.io;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;

/**
 * Reader of one safetensors file. The header is parsed and fully validated on open; tensor bytes are
 * read through memory maps of just their own region and copied into a fresh libtorch tensor, so the
 * file never passes through the Java heap and the result does not depend on the mapping's lifetime.
 */
public final class SafetensorsFile implements AutoCloseable {
    /** Larger headers are rejected: real ones are kilobytes, and a lying length must not allocate gigabytes. */
    static final long MAX_HEADER_BYTES = 100L << 20;
    private static final long COPY_CHUNK = 1L << 30;
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Path path;
    private final FileChannel channel;
    private final Map<String, TensorInfo> tensors;
    private final Map<String, String> metadata;

    private SafetensorsFile(Path path, FileChannel channel, Map<String, TensorInfo> tensors, Map<String, String> metadata) {
        this.path = path;
        this.channel = channel;
        this.tensors = tensors;
        this.metadata = metadata;
    }

    public static SafetensorsFile open(Path path) {
        FileChannel ch;
        try {
            ch = FileChannel.open(path, StandardOpenOption.READ);
        } catch (IOException e) {
            throw new SafetensorsException(path + ": cannot open: " + e.getMessage(), e);
        }
        try {
            long fileSize = ch.size();
            if (fileSize < 8) throw fail(path, "file is " + fileSize + " bytes, shorter than the 8-byte header length");
            ByteBuffer lenBuf = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            readFully(ch, lenBuf, 0);
            long headerLen = lenBuf.flip().getLong();
            if (headerLen < 2 || headerLen > MAX_HEADER_BYTES) {
                throw fail(path, "header length " + Long.toUnsignedString(headerLen) + " is not a plausible size");
            }
            if (8 + headerLen > fileSize) {
                throw fail(path, "truncated: header claims " + headerLen + " bytes but the file has " + (fileSize - 8) + " after the length");
            }
            ByteBuffer hb = ByteBuffer.allocate((int) headerLen);
            readFully(ch, hb, 8);
            String headerText = new String(hb.array(), StandardCharsets.UTF_8);
            JsonNode root;
            try {
                root = JSON.readTree(headerText);
            } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
                throw fail(path, "header is not valid JSON: " + e.getOriginalMessage());
            }
            if (root == null || !root.isObject()) throw fail(path, "header is not a JSON object");
            long dataStart = 8 + headerLen;
            long dataSize = fileSize - dataStart;
            Map<String, String> meta = new LinkedHashMap<>();
            Map<String, TensorInfo> infos = new LinkedHashMap<>();
            for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                String name = e.getKey();
                JsonNode v = e.getValue();
                if (name.equals("__metadata__")) {
                    if (!v.isObject()) throw fail(path, "__metadata__ is not an object");
                    v.fields().forEachRemaining(m -> {
                        if (!m.getValue().isTextual()) throw fail(path, "__metadata__." + m.getKey() + " is not a string");
                        meta.put(m.getKey(), m.getValue().asText());
                    });
                    continue;
                }
                infos.put(name, parseEntry(path, name, v, dataStart, dataSize));
            }
            checkOverlaps(path, infos);
            return new SafetensorsFile(path, ch, Collections.unmodifiableMap(infos), Collections.unmodifiableMap(meta));
        } catch (IOException e) {
            closeQuietly(ch);
            throw new SafetensorsException(path + ": read failed: " + e.getMessage(), e);
        } catch (RuntimeException e) {
            closeQuietly(ch);
            throw e;
        }
    }

    private static TensorInfo parseEntry(Path path, String name, JsonNode v, long dataStart, long dataSize) {
        if (!v.isObject()) throw fail(path, name, "entry is not an object");
        JsonNode dt = v.get("dtype");
        if (dt == null || !dt.isTextual()) throw fail(path, name, "missing dtype");
        DType dtype = DType.fromName(dt.asText());
        if (dtype == null) throw fail(path, name, "unsupported dtype '" + dt.asText() + "'");
        JsonNode sh = v.get("shape");
        if (sh == null || !sh.isArray()) throw fail(path, name, "missing shape");
        long[] shape = new long[sh.size()];
        long numel = 1;
        for (int i = 0; i < shape.length; i++) {
            JsonNode d = sh.get(i);
            if (!d.canConvertToLong() || !d.isIntegralNumber() || d.asLong() < 0) throw fail(path, name, "bad shape " + sh);
            shape[i] = d.asLong();
            try {
                numel = Math.multiplyExact(numel, shape[i]);
            } catch (ArithmeticException ex) {
                throw fail(path, name, "shape " + sh + " overflows");
            }
        }
        JsonNode off = v.get("data_offsets");
        if (off == null || !off.isArray() || off.size() != 2 || !off.get(0).isIntegralNumber() || !off.get(1).isIntegralNumber()) {
            throw fail(path, name, "missing or malformed data_offsets");
        }
        long b = off.get(0).asLong(), e = off.get(1).asLong();
        if (b < 0 || e < b) throw fail(path, name, "data_offsets [" + b + ", " + e + "] are inverted or negative");
        if (e > dataSize) {
            throw fail(path, name, "data_offsets end " + e + " lies past the data section (" + dataSize + " bytes): file truncated or header wrong");
        }
        long expected;
        try {
            expected = Math.multiplyExact(numel, (long) dtype.bytes());
        } catch (ArithmeticException ex) {
            throw fail(path, name, "shape " + sh + " overflows");
        }
        if (e - b != expected) {
            throw fail(path, name, "data_offsets span " + (e - b) + " bytes but " + dtype + " " + sh + " needs " + expected);
        }
        return new TensorInfo(name, dtype, shape, dataStart + b, dataStart + e);
    }

    private static void checkOverlaps(Path path, Map<String, TensorInfo> infos) {
        List<TensorInfo> sorted = new ArrayList<>(infos.values());
        sorted.sort(Comparator.comparingLong(TensorInfo::begin).thenComparingLong(TensorInfo::end));
        TensorInfo prev = null;
        for (TensorInfo t : sorted) {
            if (prev != null && t.begin() < prev.end() && t.byteSize() > 0) {
                throw fail(path, t.name(), "data overlaps tensor '" + prev.name() + "'");
            }
            if (t.byteSize() > 0) prev = t;
        }
    }

    public Path path() {
        return path;
    }

    /** Tensor names in header order. */
    public List<String> names() {
        return List.copyOf(tensors.keySet());
    }

    public boolean contains(String name) {
        return tensors.containsKey(name);
    }

    public Map<String, String> metadata() {
        return metadata;
    }

    public TensorInfo info(String name) {
        TensorInfo t = tensors.get(name);
        if (t == null) throw new SafetensorsException(path + ": no tensor named '" + name + "'");
        return t;
    }

    /** Reads one tensor into a new CPU tensor of its stored dtype. */
    public Tensor load(String name) {
        TensorInfo t = info(name);
        dev.liger.resources.MemoryBudget.require(path + ": tensor '" + name + "' (" + t.dtype() + " "
                + java.util.Arrays.toString(t.shape()) + ")", t.byteSize());
        Tensor out = torch.empty(t.shape(), new TensorOptions(t.dtype().scalarType()), null);
        long n = t.byteSize();
        if (n == 0) return out;
        BytePointer dst = new BytePointer(out.data_ptr());
        try {
            for (long done = 0; done < n; ) {
                long len = Math.min(COPY_CHUNK, n - done);
                MappedByteBuffer mb = channel.map(FileChannel.MapMode.READ_ONLY, t.begin() + done, len);
                BytePointer src = new BytePointer(mb);
                Pointer.memcpy(dst.position(done), src, len);
                src.close();
                done += len;
            }
        } catch (IOException e) {
            out.close();
            throw new SafetensorsException(path + ": tensor '" + name + "': read failed: " + e.getMessage(), e);
        } finally {
            dst.close();
        }
        return out;
    }

    @Override
    public void close() {
        closeQuietly(channel);
    }

    private static void readFully(FileChannel ch, ByteBuffer buf, long pos) throws IOException {
        while (buf.hasRemaining()) {
            int r = ch.read(buf, pos);
            if (r < 0) throw new IOException("unexpected end of file");
            pos += r;
        }
    }

    private static void closeQuietly(FileChannel ch) {
        try {
            ch.close();
        } catch (IOException ignored) {
            // nothing useful to do: the file was only read
        }
    }

    static SafetensorsException fail(Path path, String msg) {
        return new SafetensorsException(path + ": " + msg);
    }

    static SafetensorsException fail(Path path, String tensor, String msg) {
        return new SafetensorsException(path + ": tensor '" + tensor + "': " + msg);
    }
}
