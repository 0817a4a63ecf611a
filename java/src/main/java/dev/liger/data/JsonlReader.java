package dev.liger.data;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.nio.file.Path;

/**
 * Reads JSON Lines: one JSON object per line, the document in a string field ({@code text} by default).
 * Blank lines are ignored; other fields are ignored.
 */
public final class JsonlReader {
    static final ObjectMapper JSON = new ObjectMapper().enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

    private JsonlReader() {}

    public static ReadResult read(Path file, OnMalformed policy) {
        return read(file, "text", policy);
    }

    /**
     * Malformed: a line that is not valid UTF-8, not valid JSON, not an object, lacks {@code field}, or
     * whose {@code field} is not a string.
     */
    public static ReadResult read(Path file, String field, OnMalformed policy) {
        if (field == null || field.isEmpty()) throw new IllegalArgumentException("JSONL text field name is required");
        Records records = new Records(file, policy);
        for (Records.Line line : Records.lines(Records.readAll(file))) {
            if (line.text() == null) {
                records.malformed(line.number(), "line is not valid UTF-8");
                continue;
            }
            if (line.text().isBlank()) continue;
            JsonNode node;
            try {
                node = JSON.readTree(line.text());
            } catch (JsonProcessingException e) {
                records.malformed(line.number(), "invalid JSON: " + e.getOriginalMessage());
                continue;
            }
            if (!node.isObject()) {
                records.malformed(line.number(), "expected a JSON object, found " + kind(node));
                continue;
            }
            JsonNode value = node.get(field);
            if (value == null) records.malformed(line.number(), "missing field '" + field + "'");
            else if (!value.isTextual())
                records.malformed(line.number(), "field '" + field + "' is " + kind(value) + ", expected a string");
            else records.add(Example.plain(records.origin(line.number()), value.textValue()));
        }
        return records.result();
    }

    static String kind(JsonNode n) {
        return switch (n.getNodeType()) {
            case ARRAY -> "an array";
            case OBJECT, POJO -> "an object";
            case NUMBER -> "a number";
            case BOOLEAN -> "a boolean";
            case NULL -> "null";
            case STRING -> "a string";
            default -> n.getNodeType().toString().toLowerCase(java.util.Locale.ROOT);
        };
    }
}
