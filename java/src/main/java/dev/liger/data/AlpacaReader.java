package dev.liger.data;

import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;

/**
 * Reads Alpaca-format instruction data: records {@code {"instruction": str, "input": str, "output": str}},
 * {@code input} optional (absent, null or empty selects the template without input), other fields ignored.
 *
 * <p>Two layouts: a JSON array of records (the Alpaca release, {@code alpaca_data.json}), or JSON Lines
 * with one record per line; the first non-whitespace character decides ('[' for the array).
 *
 * <p>Malformed records (not an object, a missing {@code instruction} or {@code output}, a field that is not
 * a string, and for JSON Lines a line that is not valid JSON or UTF-8) follow the policy. A syntax error in
 * the array layout is always rejected with its file:line, whatever the policy: past it no record can be
 * located.
 */
public final class AlpacaReader {
    // Reads one array element at a time, so it must not demand the end of input after a value.
    private static final ObjectMapper STREAM = new ObjectMapper();

    private AlpacaReader() {}

    public static ReadResult read(Path file, OnMalformed policy) {
        Records records = new Records(file, policy);
        byte[] bytes = Records.readAll(file);
        if (firstNonSpace(bytes) == '[') readArray(bytes, records);
        else readLines(bytes, records);
        return records.result();
    }

    private static void readArray(byte[] bytes, Records records) {
        try (JsonParser p = STREAM.createParser(bytes)) {
            if (p.nextToken() != JsonToken.START_ARRAY) throw syntax(records, p.currentTokenLocation(), "expected a JSON array");
            while (true) {
                JsonToken t = p.nextToken();
                if (t == null) throw syntax(records, p.currentLocation(), "unexpected end of file inside the array");
                if (t == JsonToken.END_ARRAY) break;
                long line = p.currentTokenLocation().getLineNr();
                JsonNode node = STREAM.readTree(p);
                record(node, line, records);
            }
            if (p.nextToken() != null) throw syntax(records, p.currentTokenLocation(), "content after the closing ']'");
        } catch (JsonProcessingException e) {
            JsonLocation at = e.getLocation();
            throw new MalformedRecordException(new Problem(records.file(), at == null ? 0 : at.getLineNr(),
                    "invalid JSON: " + e.getOriginalMessage()));
        } catch (java.io.CharConversionException e) {
            // the parser guessed a UTF-16/32 encoding from the first bytes and met an impossible character
            throw new MalformedRecordException(new Problem(records.file(), 0, "invalid text encoding: " + e.getMessage()));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot parse " + records.file() + ": " + e.getMessage(), e);
        }
    }

    private static MalformedRecordException syntax(Records records, JsonLocation at, String reason) {
        return new MalformedRecordException(new Problem(records.file(), at.getLineNr(), reason));
    }

    private static void readLines(byte[] bytes, Records records) {
        for (Records.Line line : Records.lines(bytes)) {
            if (line.text() == null) {
                records.malformed(line.number(), "line is not valid UTF-8");
                continue;
            }
            if (line.text().isBlank()) continue;
            JsonNode node;
            try {
                node = JsonlReader.JSON.readTree(line.text());
            } catch (JsonProcessingException e) {
                records.malformed(line.number(), "invalid JSON: " + e.getOriginalMessage());
                continue;
            }
            record(node, line.number(), records);
        }
    }

    private static void record(JsonNode node, long line, Records records) {
        if (!node.isObject()) {
            records.malformed(line, "expected an Alpaca record (JSON object), found " + JsonlReader.kind(node));
            return;
        }
        String instruction = requiredString(node, "instruction", line, records);
        if (instruction == null) return;
        String output = requiredString(node, "output", line, records);
        if (output == null) return;
        JsonNode input = node.get("input");
        if (input != null && !input.isNull() && !input.isTextual()) {
            records.malformed(line, "field 'input' is " + JsonlReader.kind(input) + ", expected a string");
            return;
        }
        String in = input == null || input.isNull() ? "" : input.textValue();
        records.add(AlpacaTemplate.example(records.origin(line), instruction, in, output));
    }

    /** The field's string, or null after reporting it as malformed. */
    private static String requiredString(JsonNode node, String field, long line, Records records) {
        JsonNode v = node.get(field);
        if (v == null) {
            records.malformed(line, "missing field '" + field + "'");
            return null;
        }
        if (!v.isTextual()) {
            records.malformed(line, "field '" + field + "' is " + JsonlReader.kind(v) + ", expected a string");
            return null;
        }
        return v.textValue();
    }

    private static int firstNonSpace(byte[] b) {
        int i = b.length >= 3 && (b[0] & 0xff) == 0xEF && (b[1] & 0xff) == 0xBB && (b[2] & 0xff) == 0xBF ? 3 : 0;
        for (; i < b.length; i++) {
            if (b[i] != ' ' && b[i] != '\t' && b[i] != '\r' && b[i] != '\n') return b[i];
        }
        return -1;
    }
}
