package dev.liger.data;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PlainTextReaderTest {
    @TempDir Path dir;

    private Path write(String name, byte[] bytes) throws IOException {
        Path p = dir.resolve(name);
        Files.write(p, bytes);
        return p;
    }

    private Path write(String name, String text) throws IOException {
        return write(name, text.getBytes(StandardCharsets.UTF_8));
    }

    private static List<String> texts(ReadResult r) {
        return r.examples().stream().map(Example::text).toList();
    }

    private static List<String> origins(ReadResult r) {
        return r.examples().stream().map(Example::origin).toList();
    }

    @Test
    void lineModeMakesOneDocumentPerNonBlankLine() throws IOException {
        Path f = write("a.txt", "first line\n\n  \t\nsecond, with  spaces \r\ncafé 日本\nlast without newline");
        ReadResult r = PlainTextReader.read(f, PlainTextReader.Boundary.LINE, OnMalformed.REJECT);
        assertEquals(List.of("first line", "second, with  spaces ", "café 日本", "last without newline"), texts(r));
        assertEquals(List.of(f + ":1", f + ":4", f + ":5", f + ":6"), origins(r));
        assertTrue(r.skipped().isEmpty());
        r.examples().forEach(e -> assertEquals(List.of(new Segment(e.text(), true)), e.segments()));
    }

    @Test
    void blankLineModeJoinsBlocks() throws IOException {
        Path f = write("b.txt", "p1 a\np1 b\n\n\np2\n \t \np3 a\r\np3 b\n\n");
        ReadResult r = PlainTextReader.read(f, PlainTextReader.Boundary.BLANK_LINE, OnMalformed.REJECT);
        assertEquals(List.of("p1 a\np1 b", "p2", "p3 a\np3 b"), texts(r));
        assertEquals(List.of(f + ":1", f + ":5", f + ":7"), origins(r));
    }

    @Test
    void byteOrderMarkIsNotText() throws IOException {
        Path f = write("bom.txt", new byte[] {(byte) 0xEF, (byte) 0xBB, (byte) 0xBF, 'h', 'i', '\n'});
        assertEquals(List.of("hi"), texts(PlainTextReader.read(f, PlainTextReader.Boundary.LINE, OnMalformed.REJECT)));
    }

    @Test
    void invalidUtf8LineIsSkippedOrRejected() throws IOException {
        byte[] bytes = "good one\nbad \u0000 x\ngood two\n".getBytes(StandardCharsets.UTF_8);
        bytes[13] = (byte) 0xFF; // replaces the NUL on line 2
        Path f = write("bad.txt", bytes);

        ReadResult r = PlainTextReader.read(f, PlainTextReader.Boundary.LINE, OnMalformed.SKIP);
        assertEquals(List.of("good one", "good two"), texts(r));
        assertEquals(List.of(new Problem(f, 2, "line is not valid UTF-8")), r.skipped());

        MalformedRecordException e = assertThrows(MalformedRecordException.class,
                () -> PlainTextReader.read(f, PlainTextReader.Boundary.LINE, OnMalformed.REJECT));
        assertEquals(f + ":2: line is not valid UTF-8", e.getMessage());
        assertEquals(2, e.problem().line());
    }

    @Test
    void invalidUtf8InsideABlockDropsThatDocument() throws IOException {
        byte[] bytes = "doc one\n\ndoc two a\ndoc two \u0000\n\ndoc three\n".getBytes(StandardCharsets.UTF_8);
        int nul = new String(bytes, StandardCharsets.UTF_8).indexOf('\u0000');
        bytes[nul] = (byte) 0xC3; // a lead byte with no continuation
        Path f = write("block.txt", bytes);
        ReadResult r = PlainTextReader.read(f, PlainTextReader.Boundary.BLANK_LINE, OnMalformed.SKIP);
        assertEquals(List.of("doc one", "doc three"), texts(r));
        assertEquals(List.of(new Problem(f, 3, "line 4 of the document is not valid UTF-8")), r.skipped());
        assertThrows(MalformedRecordException.class,
                () -> PlainTextReader.read(f, PlainTextReader.Boundary.BLANK_LINE, OnMalformed.REJECT));
    }

    @Test
    void missingFileIsNamed() {
        Path f = dir.resolve("nope.txt");
        UncheckedIOException e = assertThrows(UncheckedIOException.class,
                () -> PlainTextReader.read(f, PlainTextReader.Boundary.LINE, OnMalformed.SKIP));
        assertTrue(e.getMessage().contains(f.toString()), e.getMessage());
    }

    @Test
    void readsTheBrownExcerpt() throws URISyntaxException, IOException {
        Path f = Path.of(getClass().getResource("/data/brown-excerpt.txt").toURI());
        List<String> lines = Files.readAllLines(f, StandardCharsets.UTF_8);
        List<String> nonBlank = lines.stream().filter(l -> !l.isBlank()).toList();
        ReadResult byLine = PlainTextReader.read(f, PlainTextReader.Boundary.LINE, OnMalformed.REJECT);
        assertEquals(nonBlank, texts(byLine));
        assertEquals(15, byLine.examples().size());

        ReadResult byBlock = PlainTextReader.read(f, PlainTextReader.Boundary.BLANK_LINE, OnMalformed.REJECT);
        assertEquals(2, byBlock.examples().size());
        assertEquals(String.join("\n", lines.subList(0, 8)), byBlock.examples().get(0).text());
        assertEquals(f + ":10", byBlock.examples().get(1).origin());
    }
}
