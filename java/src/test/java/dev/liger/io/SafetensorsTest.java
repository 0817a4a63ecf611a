package dev.liger.io;

import static org.junit.jupiter.api.Assertions.*;

import dev.liger.model.Tensors;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SafetensorsTest {
    @TempDir Path dir;

    private static Map<String, Tensor> sample() {
        torch.manual_seed(7);
        Map<String, Tensor> m = new LinkedHashMap<>();
        m.put("a.f32", torch.randn(3, 5));
        m.put("b.bf16", torch.randn(4, 2).to(ScalarType.BFloat16));
        m.put("c.f16", torch.randn(7).to(ScalarType.Half));
        m.put("d.i64", Tensors.longs(new long[] {1, -2, 3, Long.MAX_VALUE}, 2, 2));
        m.put("e.empty", torch.zeros(0, 3));
        m.put("f.scalar", torch.ones(new long[0]));
        return m;
    }

    private static byte[] bytes(Tensor t) {
        Tensor c = t.contiguous();
        byte[] b = new byte[(int) (c.numel() * c.element_size())];
        if (b.length == 0) return b;
        new org.bytedeco.javacpp.BytePointer(c.data_ptr()).get(b);
        return b;
    }

    @Test
    void writeReadWriteIsByteIdentical() throws IOException {
        Map<String, Tensor> m = sample();
        Path p = dir.resolve("x.safetensors");
        SafetensorsWriter.write(p, m, Map.of("format", "pt"));
        try (SafetensorsFile f = SafetensorsFile.open(p)) {
            assertEquals(List.of("a.f32", "b.bf16", "c.f16", "d.i64", "e.empty", "f.scalar"), f.names());
            assertEquals("pt", f.metadata().get("format"));
            Map<String, Tensor> back = new LinkedHashMap<>();
            for (String n : f.names()) {
                Tensor t = f.load(n);
                assertEquals(m.get(n).scalar_type().intern(), t.scalar_type().intern(), n);
                assertArrayEquals(Tensors.shape(m.get(n)), Tensors.shape(t), n);
                assertArrayEquals(bytes(m.get(n)), bytes(t), n);
                back.put(n, t);
            }
            Path q = dir.resolve("y.safetensors");
            SafetensorsWriter.write(q, back, Map.of("format", "pt"));
            assertArrayEquals(Files.readAllBytes(p), Files.readAllBytes(q));
        }
        // Header is padded so the data section is 8-aligned.
        ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(p)).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(0, b.getLong() % 8);
        try (var s = Files.list(dir)) {
            assertEquals(2, s.count(), "no temporary files left behind");
        }
    }

    @Test
    void readsNonContiguousAndTransposedTensorsAsValues() {
        Tensor t = torch.randn(4, 6).transpose(0, 1);
        Path p = dir.resolve("t.safetensors");
        SafetensorsWriter.write(p, Map.of("t", t));
        try (SafetensorsFile f = SafetensorsFile.open(p)) {
            assertArrayEquals(Tensors.toFloats(t), Tensors.toFloats(f.load("t")));
        }
    }

    /** Builds a file from a raw header and data section. */
    private Path raw(String name, String header, int dataBytes) throws IOException {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h);
        Path p = dir.resolve(name);
        Files.write(p, b.array());
        return p;
    }

    private static void assertFails(Path p, String... fragments) {
        SafetensorsException e = assertThrows(SafetensorsException.class, () -> SafetensorsFile.open(p).close());
        assertTrue(e.getMessage().contains(p.toString()), e.getMessage());
        for (String f : fragments) assertTrue(e.getMessage().contains(f), "'" + f + "' not in: " + e.getMessage());
    }

    @Test
    void truncatedFileIsRejected() throws IOException {
        Path p = dir.resolve("ok.safetensors");
        SafetensorsWriter.write(p, Map.of("w", torch.randn(16, 16)));
        byte[] all = Files.readAllBytes(p);
        Path cut = dir.resolve("cut.safetensors");
        Files.write(cut, java.util.Arrays.copyOf(all, all.length - 10));
        assertFails(cut, "'w'", "truncated");
        Path tiny = dir.resolve("tiny.safetensors");
        Files.write(tiny, new byte[] {1, 2, 3});
        assertFails(tiny, "shorter than");
        Path headerCut = dir.resolve("hcut.safetensors");
        Files.write(headerCut, java.util.Arrays.copyOf(all, 20));
        assertFails(headerCut, "truncated");
    }

    @Test
    void lyingHeaderIsRejected() throws IOException {
        assertFails(raw("size.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,20]}}", 20), "'w'", "needs 24");
        assertFails(raw("range.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[16,24]}}", 8), "'w'", "past the data section");
        assertFails(raw("neg.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8), "'w'", "bad shape");
        assertFails(raw("inv.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,0]}}", 8), "'w'", "inverted");
        assertFails(raw("json.safetensors", "{\"w\":{\"dtype\":", 8), "not valid JSON");
        assertFails(raw("huge.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4],\"data_offsets\":[0,8]}}", 8), "'w'", "overflows");
        // A header length larger than the file.
        ByteBuffer b = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(1000).putLong(0);
        Path p = dir.resolve("len.safetensors");
        Files.write(p, b.array());
        assertFails(p, "truncated");
    }

    @Test
    void overlappingOffsetsAreRejected() throws IOException {
        assertFails(raw("ov.safetensors",
                "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12),
                "'b'", "overlaps tensor 'a'");
    }

    @Test
    void unknownDtypeIsRejected() throws IOException {
        assertFails(raw("dt.safetensors", "{\"w\":{\"dtype\":\"F8_E4M3\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2), "'w'", "unsupported dtype 'F8_E4M3'");
    }

    @Test
    void missingTensorNamesFileAndTensor() throws IOException {
        Path p = dir.resolve("m.safetensors");
        SafetensorsWriter.write(p, Map.of("present", torch.ones(2)));
        try (SafetensorsFile f = SafetensorsFile.open(p)) {
            SafetensorsException e = assertThrows(SafetensorsException.class, () -> f.load("absent"));
            assertTrue(e.getMessage().contains(p.toString()) && e.getMessage().contains("'absent'"), e.getMessage());
        }
        try (Checkpoint c = Checkpoint.open(p)) {
            SafetensorsException e = assertThrows(SafetensorsException.class, () -> c.load("absent"));
            assertTrue(e.getMessage().contains("missing tensor 'absent'"), e.getMessage());
        }
    }

    @Test
    void shardedCheckpointResolvesThroughIndex() throws IOException {
        Tensor a = torch.randn(3, 3), b = torch.randn(5);
        SafetensorsWriter.write(dir.resolve("model-00001-of-00002.safetensors"), Map.of("a", a));
        SafetensorsWriter.write(dir.resolve("model-00002-of-00002.safetensors"), Map.of("b", b));
        Files.writeString(dir.resolve(Checkpoint.INDEX),
                "{\"metadata\":{},\"weight_map\":{\"a\":\"model-00001-of-00002.safetensors\",\"b\":\"model-00002-of-00002.safetensors\"}}");
        try (Checkpoint c = Checkpoint.open(dir)) {
            assertEquals(List.of("a", "b"), c.names());
            assertArrayEquals(Tensors.toFloats(a), Tensors.toFloats(c.load("a")));
            assertArrayEquals(Tensors.toFloats(b), Tensors.toFloats(c.load("b")));
        }
        Files.writeString(dir.resolve(Checkpoint.INDEX),
                "{\"weight_map\":{\"a\":\"model-00001-of-00002.safetensors\",\"c\":\"model-00002-of-00002.safetensors\"}}");
        SafetensorsException e = assertThrows(SafetensorsException.class, () -> Checkpoint.open(dir));
        assertTrue(e.getMessage().contains("'c'") && e.getMessage().contains("model-00002-of-00002.safetensors"), e.getMessage());
        Files.writeString(dir.resolve(Checkpoint.INDEX), "{\"weight_map\":{\"a\":\"gone.safetensors\"}}");
        e = assertThrows(SafetensorsException.class, () -> Checkpoint.open(dir));
        assertTrue(e.getMessage().contains("'gone.safetensors'") && e.getMessage().contains("does not exist"), e.getMessage());
    }
}
