package dev.liger.data;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class JsonlReaderTest {
    @TempDir Path dir;

    private Path write(String text) throws IOException {
        Path p = dir.resolve("data.jsonl");
        Files.writeString(p, text, StandardCharsets.UTF_8);
        return p;
    }

    @Test
    void readsTheTextFieldOfEachLine() throws IOException {
        Path f = write("{\"text\": \"one\", \"id\": 7}\n\n{\"meta\": {\"a\": 1}, \"text\": \"two\\nlines \\u00e9 😀\"}\r\n  \n{\"text\": \"\"}\n");
        ReadResult r = JsonlReader.read(f, OnMalformed.REJECT);
        assertEquals(List.of("one", "two\nlines é 😀", ""), r.examples().stream().map(Example::text).toList());
        assertEquals(List.of(f + ":1", f + ":3", f + ":5"), r.examples().stream().map(Example::origin).toList());
        assertTrue(r.skipped().isEmpty());
    }

    @Test
    void otherFieldName() throws IOException {
        Path f = write("{\"content\": \"x\", \"text\": 5}\n");
        assertEquals("x", JsonlReader.read(f, "content", OnMalformed.REJECT).examples().get(0).text());
    }

    private static final String MIXED = String.join("\n",
            "{\"text\": \"ok 1\"}",                  // 1
            "{\"text\": \"unterminated}",            // 2 bad JSON
            "{\"text\": \"ok 2\"} trailing",         // 3 bad JSON (content after the object)
            "[\"text\", \"array\"]",                 // 4 not an object
            "{\"body\": \"no text field\"}",         // 5 missing field
            "{\"text\": 42}",                        // 6 wrong type
            "{\"text\": null}",                      // 7 wrong type
            "{\"text\": [\"a\"]}",                   // 8 wrong type
            "{\"text\": {\"a\": 1}}",                // 9 wrong type
            "\"just a string\"",                     // 10 not an object
            "{\"text\": \"ok 3\"}");                 // 11

    @Test
    void malformedRecordsAreSkippedWithFileAndLine() throws IOException {
        Path f = write(MIXED);
        ReadResult r = JsonlReader.read(f, OnMalformed.SKIP);
        assertEquals(List.of("ok 1", "ok 3"), r.examples().stream().map(Example::text).toList());
        List<Problem> p = r.skipped();
        assertEquals(List.of(2L, 3L, 4L, 5L, 6L, 7L, 8L, 9L, 10L), p.stream().map(Problem::line).toList());
        p.forEach(x -> assertEquals(f, x.file()));
        assertTrue(p.get(0).reason().startsWith("invalid JSON"), p.get(0).reason());
        assertTrue(p.get(1).reason().startsWith("invalid JSON"), p.get(1).reason());
        assertEquals("expected a JSON object, found an array", p.get(2).reason());
        assertEquals("missing field 'text'", p.get(3).reason());
        assertEquals("field 'text' is a number, expected a string", p.get(4).reason());
        assertEquals("field 'text' is null, expected a string", p.get(5).reason());
        assertEquals("field 'text' is an array, expected a string", p.get(6).reason());
        assertEquals("field 'text' is an object, expected a string", p.get(7).reason());
        assertEquals("expected a JSON object, found a string", p.get(8).reason());
    }

    @Test
    void malformedRecordIsRejectedWithFileAndLine() throws IOException {
        Path f = write(MIXED);
        MalformedRecordException e = assertThrows(MalformedRecordException.class, () -> JsonlReader.read(f, OnMalformed.REJECT));
        assertTrue(e.getMessage().startsWith(f + ":2: invalid JSON"), e.getMessage());

        Path g = write("{\"text\": \"a\"}\n{\"text\": 1}\n");
        e = assertThrows(MalformedRecordException.class, () -> JsonlReader.read(g, OnMalformed.REJECT));
        assertEquals(g + ":2: field 'text' is a number, expected a string", e.getMessage());
    }

    @Test
    void invalidUtf8Line() throws IOException {
        Path f = dir.resolve("bin.jsonl");
        byte[] head = "{\"text\": \"a\"}\n{\"text\": \"".getBytes(StandardCharsets.UTF_8);
        byte[] tail = "\"}\n".getBytes(StandardCharsets.UTF_8);
        byte[] all = new byte[head.length + 1 + tail.length];
        System.arraycopy(head, 0, all, 0, head.length);
        all[head.length] = (byte) 0xFE;
        System.arraycopy(tail, 0, all, head.length + 1, tail.length);
        Files.write(f, all);
        ReadResult r = JsonlReader.read(f, OnMalformed.SKIP);
        assertEquals(1, r.examples().size());
        assertEquals(List.of(new Problem(f, 2, "line is not valid UTF-8")), r.skipped());
    }
}
