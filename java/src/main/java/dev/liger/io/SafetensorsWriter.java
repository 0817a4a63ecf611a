package dev.liger.io;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Map;
import java.util.TreeMap;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;

/**
 * Writes the safetensors format. Tensors are written in name order; the file appears atomically
 * (written to a temporary sibling, then renamed), so a reader never sees a half-written file.
 */
public final class SafetensorsWriter {
    private static final long CHUNK = 1L << 30;

    private SafetensorsWriter() {}

    public static void write(Path path, Map<String, Tensor> tensors) {
        write(path, tensors, Map.of());
    }

    public static void write(Path path, Map<String, Tensor> tensors, Map<String, String> metadata) {
        Map<String, Tensor> sorted = new TreeMap<>(tensors);
        ObjectMapper json = new ObjectMapper();
        ObjectNode header = json.createObjectNode();
        if (!metadata.isEmpty()) {
            ObjectNode m = header.putObject("__metadata__");
            metadata.forEach(m::put);
        }
        long offset = 0;
        for (Map.Entry<String, Tensor> e : sorted.entrySet()) {
            if (e.getKey().equals("__metadata__")) throw new IllegalArgumentException("'__metadata__' is reserved, not a tensor name");
            Tensor t = e.getValue();
            DType dtype = DType.of(t.scalar_type());
            ObjectNode entry = header.putObject(e.getKey());
            entry.put("dtype", dtype.name());
            ArrayNode shape = entry.putArray("shape");
            for (int i = 0; i < t.dim(); i++) shape.add(t.size(i));
            long n = t.numel() * dtype.bytes();
            entry.putArray("data_offsets").add(offset).add(offset + n);
            offset += n;
        }
        byte[] text;
        try {
            text = json.writeValueAsBytes(header);
        } catch (IOException e) {
            throw new SafetensorsException(path + ": cannot encode header: " + e.getMessage(), e);
        }
        // The data section starts 8-aligned so readers can map tensors aligned; pad the header with spaces.
        int padded = (int) ((text.length + 7) / 8 * 8);
        ByteBuffer head = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
        head.putLong(padded).put(text);
        while (head.hasRemaining()) head.put((byte) ' ');
        head.flip();

        Path dir = path.toAbsolutePath().getParent();
        Path tmp;
        try {
            Files.createDirectories(dir);
            tmp = Files.createTempFile(dir, "." + path.getFileName(), ".tmp");
        } catch (IOException e) {
            throw new SafetensorsException(path + ": cannot create: " + e.getMessage(), e);
        }
        try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
            writeFully(ch, head);
            for (Map.Entry<String, Tensor> e : sorted.entrySet()) {
                try (PointerScope scope = new PointerScope()) {
                    Tensor c = e.getValue().detach().cpu().contiguous();
                    long n = c.numel() * c.element_size();
                    BytePointer p = new BytePointer(c.data_ptr());
                    for (long done = 0; done < n; done += CHUNK) {
                        long len = Math.min(CHUNK, n - done);
                        p.position(done).limit(done + len);
                        writeFully(ch, p.asByteBuffer());
                    }
                }
            }
            ch.force(true);
        } catch (IOException | RuntimeException e) {
            try {
                Files.deleteIfExists(tmp);
            } catch (IOException ignored) {
                // the original error matters more
            }
            if (e instanceof SafetensorsException se) throw se;
            throw new SafetensorsException(path + ": write failed: " + e.getMessage(), e);
        }
        try {
            try {
                Files.move(tmp, path, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, path, StandardCopyOption.REPLACE_EXISTING);
            }
        } catch (IOException e) {
            throw new SafetensorsException(path + ": cannot rename temporary file into place: " + e.getMessage(), e);
        }
    }

    private static void writeFully(FileChannel ch, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) ch.write(b);
    }
}
