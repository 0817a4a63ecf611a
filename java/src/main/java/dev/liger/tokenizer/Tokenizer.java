package dev.liger.tokenizer;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A Hugging Face tokenizer read from a local {@code tokenizer.json} only (DJL's Rust tokenizers; the
 * native library ships inside the DJL jar, and offline mode is forced so nothing is ever fetched).
 * BOS/EOS come from {@code generation_config.json}, else {@code tokenizer_config.json}.
 */
public final class Tokenizer implements AutoCloseable {
    static {
        // Never reach a model hub or download a native library: everything needed is local.
        if (System.getProperty("ai.djl.offline") == null) System.setProperty("ai.djl.offline", "true");
    }

    private final HuggingFaceTokenizer hf;
    private final Map<String, Integer> specialIds;
    private final Integer bosId;
    private final List<Integer> eosIds;
    private final Path source;

    private Tokenizer(Path source, HuggingFaceTokenizer hf, Map<String, Integer> specialIds, Integer bosId, List<Integer> eosIds) {
        this.source = source;
        this.hf = hf;
        this.specialIds = specialIds;
        this.bosId = bosId;
        this.eosIds = eosIds;
    }

    /** Loads {@code dir/tokenizer.json} (plus the optional config files next to it). */
    public static Tokenizer load(Path dir) {
        Path file = Files.isDirectory(dir) ? dir.resolve("tokenizer.json") : dir;
        Path base = file.toAbsolutePath().getParent();
        if (!Files.isRegularFile(file)) throw new TokenizerException(file + ": no tokenizer.json");
        ObjectMapper json = new ObjectMapper();
        Map<String, Integer> special = new HashMap<>();
        try {
            JsonNode root = json.readTree(file.toFile());
            JsonNode added = root == null ? null : root.get("added_tokens");
            if (added != null && added.isArray()) {
                for (JsonNode t : added) {
                    if (t.hasNonNull("content") && t.hasNonNull("id")) special.put(t.get("content").asText(), t.get("id").asInt());
                }
            }
        } catch (IOException e) {
            throw new TokenizerException(file + ": not valid JSON: " + e.getMessage(), e);
        }
        HuggingFaceTokenizer hf;
        try {
            Map<String, String> opts = new HashMap<>();
            opts.put("addSpecialTokens", "true");
            opts.put("padding", "false");
            opts.put("truncation", "false");
            hf = HuggingFaceTokenizer.newInstance(file, opts);
        } catch (IOException | RuntimeException e) {
            throw new TokenizerException(file + ": cannot load tokenizer: " + e.getMessage(), e);
        }
        Integer bos = null;
        Set<Integer> eos = new LinkedHashSet<>();
        JsonNode gen = readOptional(json, base.resolve("generation_config.json"));
        JsonNode tc = readOptional(json, base.resolve("tokenizer_config.json"));
        if (gen != null) {
            if (gen.hasNonNull("bos_token_id")) bos = gen.get("bos_token_id").asInt();
            addIds(gen.get("eos_token_id"), eos);
        }
        if (tc != null) {
            if (bos == null) bos = tokenId(tc.get("bos_token"), special);
            if (eos.isEmpty()) {
                Integer e = tokenId(tc.get("eos_token"), special);
                if (e != null) eos.add(e);
            }
        }
        return new Tokenizer(file, hf, Collections.unmodifiableMap(special), bos, List.copyOf(eos));
    }

    private static JsonNode readOptional(ObjectMapper json, Path p) {
        if (!Files.isRegularFile(p)) return null;
        try {
            return json.readTree(p.toFile());
        } catch (IOException e) {
            throw new TokenizerException(p + ": not valid JSON: " + e.getMessage(), e);
        }
    }

    private static void addIds(JsonNode v, Set<Integer> out) {
        if (v == null || v.isNull()) return;
        if (v.isArray()) v.forEach(x -> out.add(x.asInt()));
        else out.add(v.asInt());
    }

    private static Integer tokenId(JsonNode v, Map<String, Integer> special) {
        if (v == null || v.isNull()) return null;
        String s = v.isObject() ? v.path("content").asText(null) : v.asText();
        return s == null ? null : special.get(s);
    }

    /** Token ids of {@code text}; with {@code addSpecial}, the tokenizer's post-processor adds e.g. BOS. */
    public long[] encode(String text, boolean addSpecial) {
        return hf.encode(text, addSpecial, false).getIds();
    }

    /**
     * Text of {@code ids}. Ids the vocabulary does not hold decode to nothing (the HF tokenizers rule);
     * ids that are not 32-bit unsigned values are refused, since the native tokenizer would silently
     * wrap them onto other tokens.
     */
    public String decode(long[] ids, boolean skipSpecial) {
        for (int i = 0; i < ids.length; i++) {
            if (ids[i] < 0 || ids[i] > MAX_ID)
                throw new IllegalArgumentException("token id " + ids[i] + " at index " + i + " is outside [0, " + MAX_ID + "]");
        }
        return hf.decode(ids, skipSpecial);
    }

    /** The largest id the native tokenizer represents (u32). */
    static final long MAX_ID = 0xFFFF_FFFFL;

    public String decode(List<Long> ids, boolean skipSpecial) {
        long[] a = new long[ids.size()];
        for (int i = 0; i < a.length; i++) a[i] = ids.get(i);
        return decode(a, skipSpecial);
    }

    /** BOS id, or null when the tokenizer defines none. */
    public Integer bosId() {
        return bosId;
    }

    public List<Integer> eosIds() {
        return eosIds;
    }

    /** Ids of added (special) tokens by content. */
    public Map<String, Integer> specialTokens() {
        return specialIds;
    }

    public Path source() {
        return source;
    }

    /** Ids of the special tokens as a list (for checks such as "is this a special token"). */
    public List<Integer> specialIds() {
        return new ArrayList<>(specialIds.values());
    }

    @Override
    public void close() {
        hf.close();
    }
}
