package dev.liger.data;

import org.junit.jupiter.api.Test;

import java.net.URISyntaxException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PackerTest {
    private static final ByteEncoder ENC = new ByteEncoder();

    /** Documents of varied length (1 byte to 3 rows), plain and Alpaca, with unique origins. */
    private static List<TokenizedDocument> documents(int n, long seed) {
        Random r = new Random(seed);
        List<TokenizedDocument> docs = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            int len = switch (i % 5) {
                case 0 -> 1 + r.nextInt(4);
                case 1 -> 20 + r.nextInt(30);
                case 2 -> 62;                  // BOS + 62 + EOS = 64: exactly one row
                case 3 -> 70 + r.nextInt(120); // longer than a row
                default -> 5 + r.nextInt(60);
            };
            StringBuilder sb = new StringBuilder();
            for (int k = 0; k < len; k++) sb.append((char) ('a' + r.nextInt(26)));
            Example e = i % 3 == 0
                    ? AlpacaTemplate.example("doc:" + i, "Repeat.", i % 2 == 0 ? "" : "x", sb.toString())
                    : Example.plain("doc:" + i, sb.toString());
            docs.add(TokenizedDocument.encode(e, ENC));
        }
        return docs;
    }

    /**
     * Checks every invariant of a packed list and returns, per origin, the tokens found (pieces
     * concatenated in row order).
     */
    private static Map<String, List<Integer>> checkRows(List<PackedRow> rows, int seqLen, int padId,
                                                       Map<String, TokenizedDocument> byOrigin) {
        Map<String, List<Integer>> seen = new HashMap<>();
        Map<String, List<Boolean>> maskSeen = new HashMap<>();
        for (PackedRow row : rows) {
            int[] ids = row.ids();
            boolean[] mask = row.lossMask();
            long[] cu = row.cuSeqlens();
            long[] labels = row.labels();
            long[] pos = row.positionIds();
            assertEquals(seqLen, ids.length);
            assertEquals(0, cu[0]);
            assertEquals(seqLen, cu[cu.length - 1]);
            int real = row.realLength();
            int realSegments = real < seqLen ? cu.length - 2 : cu.length - 1;
            assertEquals(realSegments, row.origins().size());
            if (real < seqLen) assertEquals(real, cu[cu.length - 2]);
            int targets = 0;
            for (int s = 0; s + 1 < cu.length; s++) {
                int a = (int) cu[s], b = (int) cu[s + 1];
                assertTrue(b > a, "segments are non-empty");
                assertFalse(mask[a], "a segment's first token is never a target");
                assertEquals(PackedRow.IGNORE_INDEX, labels[b - 1], "no label crosses a segment end");
                for (int i = a; i < b; i++) assertEquals(i - a, pos[i]);
                for (int i = a; i + 1 < b; i++)
                    assertEquals(mask[i + 1] ? ids[i + 1] : PackedRow.IGNORE_INDEX, labels[i]);
                if (s < realSegments) {
                    String origin = row.origins().get(s);
                    List<Integer> toks = seen.computeIfAbsent(origin, k -> new ArrayList<>());
                    List<Boolean> masks = maskSeen.computeIfAbsent(origin, k -> new ArrayList<>());
                    for (int i = a; i < b; i++) {
                        toks.add(ids[i]);
                        masks.add(mask[i]);
                    }
                } else {
                    for (int i = a; i < b; i++) {
                        assertEquals(padId, ids[i]);
                        assertFalse(mask[i]);
                    }
                }
            }
            for (boolean m : mask) if (m) targets++;
            assertEquals(targets, row.targetCount());
            assertEquals(targets, Arrays.stream(labels).filter(l -> l != PackedRow.IGNORE_INDEX).count());
        }
        // Each document's tokens come back whole and in order; its mask is its trained flags, except at
        // the first token of each piece (cut every seqLen tokens).
        for (Map.Entry<String, List<Integer>> e : seen.entrySet()) {
            TokenizedDocument doc = byOrigin.get(e.getKey());
            int[] got = e.getValue().stream().mapToInt(Integer::intValue).toArray();
            assertArrayEquals(doc.ids(), got, e.getKey());
            boolean[] trained = doc.trained();
            List<Boolean> masks = maskSeen.get(e.getKey());
            for (int i = 0; i < trained.length; i++)
                assertEquals(i % seqLen != 0 && trained[i], masks.get(i), e.getKey() + " token " + i);
        }
        return seen;
    }

    private static Map<String, TokenizedDocument> byOrigin(List<TokenizedDocument> docs) {
        Map<String, TokenizedDocument> m = new HashMap<>();
        for (TokenizedDocument d : docs) m.put(d.origin(), d);
        return m;
    }

    @Test
    void packingKeepsDocumentsWholeMasksRightAndSplitsCleanly() {
        List<TokenizedDocument> docs = documents(200, 7);
        PackingConfig cfg = new PackingConfig(64, ByteEncoder.PAD, 0.1, 42);
        PackedDataset ds = Packer.pack(docs, cfg);
        assertEquals(20, ds.validationDocuments());
        assertEquals(180, ds.trainDocuments());
        Map<String, TokenizedDocument> all = byOrigin(docs);
        Set<String> train = checkRows(ds.train(), 64, ByteEncoder.PAD, all).keySet();
        Set<String> val = checkRows(ds.validation(), 64, ByteEncoder.PAD, all).keySet();
        assertEquals(180, train.size());
        assertEquals(20, val.size());
        Set<String> both = new HashSet<>(train);
        both.retainAll(val);
        assertTrue(both.isEmpty(), "no document in both train and validation: " + both);
        Set<String> union = new HashSet<>(train);
        union.addAll(val);
        assertEquals(all.keySet(), union);
    }

    @Test
    void greedyPackingOnlyPadsWhenTheNextPieceDoesNotFit() {
        List<TokenizedDocument> docs = documents(60, 3);
        List<PackedRow> rows = Packer.packRows(docs, new PackingConfig(64, 0, 0, 1));
        // Rebuild the sequence of pieces in order and check each padded row could not take the next piece.
        List<Integer> pieces = new ArrayList<>();
        for (TokenizedDocument d : docs)
            for (int s = 0; s < d.length(); s += 64) pieces.add(Math.min(64, d.length() - s));
        int p = 0;
        for (int r = 0; r < rows.size(); r++) {
            PackedRow row = rows.get(r);
            p += row.origins().size();
            if (row.realLength() < 64 && r + 1 < rows.size())
                assertTrue(pieces.get(p) > 64 - row.realLength(), "row " + r + " padded although the next piece fits");
        }
        assertEquals(pieces.size(), p);
    }

    @Test
    void exactFitAndLongDocuments() {
        PackingConfig cfg = new PackingConfig(8, 0, 0, 0);
        TokenizedDocument six = TokenizedDocument.encode(Example.plain("six", "abcdef"), ENC);   // 8 tokens
        TokenizedDocument long20 = TokenizedDocument.encode(Example.plain("long", "a".repeat(18)), ENC); // 20 tokens
        List<PackedRow> rows = Packer.packRows(List.of(six, long20), cfg);
        assertEquals(4, rows.size());
        assertArrayEquals(new long[] {0, 8}, rows.get(0).cuSeqlens());
        assertEquals(8, rows.get(0).realLength());
        assertArrayEquals(new boolean[] {false, true, true, true, true, true, true, true}, rows.get(0).lossMask());
        assertArrayEquals(new long[] {0, 8}, rows.get(1).cuSeqlens());
        assertArrayEquals(new long[] {0, 8}, rows.get(2).cuSeqlens());
        assertArrayEquals(new long[] {0, 4, 8}, rows.get(3).cuSeqlens());
        assertEquals(4, rows.get(3).realLength());
        assertFalse(rows.get(1).lossMask()[0]);
        assertFalse(rows.get(2).lossMask()[0]);
        assertArrayEquals(new int[] {'a' + 4, 'a' + 4, 'a' + 4, ByteEncoder.EOS, 0, 0, 0, 0}, rows.get(3).ids());
        assertArrayEquals(new boolean[] {false, true, true, true, false, false, false, false}, rows.get(3).lossMask());
        assertEquals(List.of("long"), rows.get(3).origins());
        assertArrayEquals(new long[] {'a' + 4, 'a' + 4, ByteEncoder.EOS, -100, -100, -100, -100, -100}, rows.get(3).labels());
    }

    @Test
    void twoDocumentsInOneRowDoNotSeeEachOther() {
        TokenizedDocument a = TokenizedDocument.encode(Example.plain("a", "hi"), ENC);  // BOS h i EOS
        TokenizedDocument b = TokenizedDocument.encode(Example.plain("b", "yo"), ENC);  // BOS y o EOS
        PackedRow row = Packer.packRows(List.of(a, b), new PackingConfig(10, 0, 0, 0)).get(0);
        int h = 'h' + 4, i = 'i' + 4, y = 'y' + 4, o = 'o' + 4;
        assertArrayEquals(new int[] {1, h, i, 2, 1, y, o, 2, 0, 0}, row.ids());
        assertArrayEquals(new long[] {0, 4, 8, 10}, row.cuSeqlens());
        assertArrayEquals(new long[] {h, i, 2, -100, y, o, 2, -100, -100, -100}, row.labels());
        assertArrayEquals(new long[] {0, 1, 2, 3, 0, 1, 2, 3, 0, 1}, row.positionIds());
        assertEquals(List.of("a", "b"), row.origins());
    }

    @Test
    void alpacaPromptTokensAreNotTargets() {
        Example e = AlpacaTemplate.example("alp", "Name a color.", "", "Red");
        TokenizedDocument d = TokenizedDocument.encode(e, ENC);
        int promptLen = ENC.encode(AlpacaTemplate.prompt("Name a color.", "")).length;
        assertEquals(1 + promptLen + 3 + 1, d.length());
        PackedRow row = Packer.packRows(List.of(d), new PackingConfig(256, 0, 0, 0)).get(0);
        boolean[] mask = row.lossMask();
        for (int k = 0; k <= promptLen; k++) assertFalse(mask[k], "prompt token " + k);
        for (int k = promptLen + 1; k < d.length(); k++) assertTrue(mask[k], "response token " + k);
        assertEquals(4, row.targetCount()); // "Red" + EOS
        long[] labels = row.labels();
        assertEquals('R' + 4, labels[promptLen]);  // the last prompt position predicts the first response token
        assertEquals(PackedRow.IGNORE_INDEX, labels[promptLen - 1]);
    }

    @Test
    void shuffleAndSplitAreDeterministicBySeed() {
        List<TokenizedDocument> docs = documents(80, 11);
        PackingConfig a = new PackingConfig(64, 0, 0.25, 5);
        PackedDataset x = Packer.pack(docs, a);
        PackedDataset y = Packer.pack(docs, a);
        assertEquals(x.train().size(), y.train().size());
        for (int r = 0; r < x.train().size(); r++) {
            assertArrayEquals(x.train().get(r).ids(), y.train().get(r).ids());
            assertArrayEquals(x.train().get(r).lossMask(), y.train().get(r).lossMask());
            assertArrayEquals(x.train().get(r).cuSeqlens(), y.train().get(r).cuSeqlens());
        }
        PackedDataset z = Packer.pack(docs, new PackingConfig(64, 0, 0.25, 6));
        assertNotEquals(origins(x.validation()), origins(z.validation()));
        assertEquals(20, x.validationDocuments());
        assertEquals(20, z.validationDocuments());
    }

    private static List<String> origins(List<PackedRow> rows) {
        List<String> o = new ArrayList<>();
        rows.forEach(r -> o.addAll(r.origins()));
        return o;
    }

    @Test
    void packsTheBrownExcerpt() throws URISyntaxException {
        Path f = Path.of(getClass().getResource("/data/brown-excerpt.txt").toURI());
        List<TokenizedDocument> docs = PlainTextReader.read(f, PlainTextReader.Boundary.LINE, OnMalformed.REJECT)
                .examples().stream().map(e -> TokenizedDocument.encode(e, ENC)).toList();
        PackedDataset ds = Packer.pack(docs, new PackingConfig(128, 0, 0.2, 1));
        assertEquals(3, ds.validationDocuments());
        Map<String, TokenizedDocument> all = byOrigin(docs);
        int found = checkRows(ds.train(), 128, 0, all).size() + checkRows(ds.validation(), 128, 0, all).size();
        assertEquals(15, found);
        long tokens = docs.stream().mapToLong(TokenizedDocument::length).sum();
        long packed = 0;
        for (PackedRow r : ds.train()) packed += r.realLength();
        for (PackedRow r : ds.validation()) packed += r.realLength();
        assertEquals(tokens, packed);
    }

    @Test
    void encoderWithoutSpecialTokens() {
        TokenEncoder bare = text -> ENC.encode(text);
        TokenizedDocument d = TokenizedDocument.encode(Example.plain("x", "ab"), bare);
        assertArrayEquals(new int[] {'a' + 4, 'b' + 4}, d.ids());
        assertArrayEquals(new boolean[] {true, true}, d.trained());
        PackedRow row = Packer.packRows(List.of(d), new PackingConfig(4, 0, 0, 0)).get(0);
        assertArrayEquals(new boolean[] {false, true, false, false}, row.lossMask());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> TokenizedDocument.encode(Example.plain("f.txt:9", ""), bare));
        assertTrue(e.getMessage().startsWith("f.txt:9"), e.getMessage());
    }

    @Test
    void badInputsAreNamed() {
        TokenEncoder negative = TokenEncoder.of(t -> new int[] {5, -3}, 1, 2);
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> TokenizedDocument.encode(Example.plain("f.txt:4", "z"), negative));
        assertTrue(e.getMessage().contains("f.txt:4") && e.getMessage().contains("-3"), e.getMessage());
        assertThrows(IllegalStateException.class,
                () -> TokenizedDocument.encode(Example.plain("f.txt:5", "z"), TokenEncoder.of(t -> null, 1, 2)));
        assertThrows(IllegalArgumentException.class, () -> new PackingConfig(1, 0, 0, 0));
        assertThrows(IllegalArgumentException.class, () -> new PackingConfig(8, -1, 0, 0));
        assertThrows(IllegalArgumentException.class, () -> new PackingConfig(8, 0, 1.0, 0));
        assertThrows(IllegalArgumentException.class, () -> new PackingConfig(8, 0, Double.NaN, 0));
        assertThrows(IllegalArgumentException.class, () -> TokenEncoder.of(t -> new int[0], -2, 2));
        assertThrows(IllegalArgumentException.class,
                () -> new PackedRow(new int[4], new boolean[] {true, false, false, false}, new long[] {0, 4}, 4, List.of("a")));
        assertThrows(IllegalArgumentException.class,
                () -> new PackedRow(new int[4], new boolean[4], new long[] {0, 3}, 3, List.of("a")));
    }
}
