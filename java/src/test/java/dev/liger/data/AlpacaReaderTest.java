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

class AlpacaReaderTest {
    @TempDir Path dir;

    private Path write(String name, String text) throws IOException {
        Path p = dir.resolve(name);
        Files.writeString(p, text, StandardCharsets.UTF_8);
        return p;
    }

    private static final String GOOD = """
            [
                {
                    "instruction": "Give three tips for staying healthy.",
                    "input": "",
                    "output": "1. Eat well.\\n2. Sleep.\\n3. Move."
                },
                {
                    "instruction": "Translate to French.",
                    "input": "Good morning",
                    "output": "Bonjour",
                    "source": "ignored"
                },
                {"instruction": "Say hi.", "input": null, "output": "Hi!"},
                {"output": "No input field.", "instruction": "Echo."}
            ]
            """;

    @Test
    void readsTheArrayLayoutWithLines() throws IOException {
        Path f = write("alpaca.json", GOOD);
        ReadResult r = AlpacaReader.read(f, OnMalformed.REJECT);
        assertEquals(List.of(f + ":2", f + ":7", f + ":13", f + ":14"), r.examples().stream().map(Example::origin).toList());
        Example first = r.examples().get(0);
        assertEquals(List.of(new Segment(AlpacaTemplate.prompt("Give three tips for staying healthy.", ""), false),
                new Segment("1. Eat well.\n2. Sleep.\n3. Move.", true)), first.segments());
        assertEquals(AlpacaTemplate.prompt("Translate to French.", "Good morning"), r.examples().get(1).segments().get(0).text());
        assertTrue(r.examples().get(1).segments().get(0).text().contains("### Input:\nGood morning\n"));
        assertEquals(AlpacaTemplate.prompt("Say hi.", ""), r.examples().get(2).segments().get(0).text());
        assertEquals("No input field.", r.examples().get(3).segments().get(1).text());
    }

    @Test
    void readsTheJsonLinesLayout() throws IOException {
        Path f = write("alpaca.jsonl", "{\"instruction\": \"A\", \"input\": \"B\", \"output\": \"C\"}\n\n"
                + "{\"instruction\": \"D\", \"output\": \"E\"}\n");
        ReadResult r = AlpacaReader.read(f, OnMalformed.REJECT);
        assertEquals(List.of(f + ":1", f + ":3"), r.examples().stream().map(Example::origin).toList());
        assertEquals(AlpacaTemplate.prompt("A", "B") + "C", r.examples().get(0).text());
        assertEquals(AlpacaTemplate.prompt("D", "") + "E", r.examples().get(1).text());
    }

    private static final String MIXED = """
            [
              {"instruction": "ok", "output": "1"},
              7,
              {"input": "x", "output": "no instruction"},
              {"instruction": "no output"},
              {"instruction": 3, "output": "number instruction"},
              {"instruction": "list output", "output": ["a"]},
              {"instruction": "object input", "input": {"k": 1}, "output": "z"},
              {"instruction": "ok", "output": "2"}
            ]""";

    @Test
    void malformedRecordsAreSkippedWithFileAndLine() throws IOException {
        Path f = write("mixed.json", MIXED);
        ReadResult r = AlpacaReader.read(f, OnMalformed.SKIP);
        assertEquals(List.of(f + ":2", f + ":9"), r.examples().stream().map(Example::origin).toList());
        assertEquals(List.of(
                new Problem(f, 3, "expected an Alpaca record (JSON object), found a number"),
                new Problem(f, 4, "missing field 'instruction'"),
                new Problem(f, 5, "missing field 'output'"),
                new Problem(f, 6, "field 'instruction' is a number, expected a string"),
                new Problem(f, 7, "field 'output' is an array, expected a string"),
                new Problem(f, 8, "field 'input' is an object, expected a string")), r.skipped());
    }

    @Test
    void malformedRecordIsRejectedWithFileAndLine() throws IOException {
        Path f = write("mixed.json", MIXED);
        MalformedRecordException e = assertThrows(MalformedRecordException.class, () -> AlpacaReader.read(f, OnMalformed.REJECT));
        assertEquals(f + ":3: expected an Alpaca record (JSON object), found a number", e.getMessage());
    }

    @Test
    void syntaxErrorInTheArrayIsAlwaysRejected() throws IOException {
        Path f = write("broken.json", "[\n  {\"instruction\": \"a\", \"output\": \"b\"},\n  {\"instruction\": \"c\" \"output\": \"d\"}\n]\n");
        for (OnMalformed policy : OnMalformed.values()) {
            MalformedRecordException e = assertThrows(MalformedRecordException.class, () -> AlpacaReader.read(f, policy));
            assertTrue(e.getMessage().startsWith(f + ":3: invalid JSON"), e.getMessage());
        }
        Path g = write("unclosed.json", "[\n {\"instruction\": \"a\", \"output\": \"b\"}\n");
        assertThrows(MalformedRecordException.class, () -> AlpacaReader.read(g, OnMalformed.SKIP));
        Path h = write("after.json", "[]\n{}\n");
        MalformedRecordException e = assertThrows(MalformedRecordException.class, () -> AlpacaReader.read(h, OnMalformed.SKIP));
        assertEquals(h + ":2: content after the closing ']'", e.getMessage());
    }

    @Test
    void badLinesOfTheJsonLinesLayoutFollowThePolicy() throws IOException {
        Path f = write("bad.jsonl", "{\"instruction\": \"a\", \"output\": \"b\"}\n{\"instruction\": \n{\"output\": \"x\"}\n");
        ReadResult r = AlpacaReader.read(f, OnMalformed.SKIP);
        assertEquals(1, r.examples().size());
        assertEquals(List.of(2L, 3L), r.skipped().stream().map(Problem::line).toList());
        assertTrue(r.skipped().get(0).reason().startsWith("invalid JSON"));
        assertEquals("missing field 'instruction'", r.skipped().get(1).reason());
    }
}
