package dev.liger.pipeline;

import dev.liger.data.AlpacaReader;
import dev.liger.data.Example;
import dev.liger.data.JsonlReader;
import dev.liger.data.OnMalformed;
import dev.liger.data.PlainTextReader;
import dev.liger.data.Problem;
import dev.liger.data.ReadResult;
import dev.liger.data.TokenEncoder;
import dev.liger.data.TokenizedDocument;
import dev.liger.tokenizer.Tokenizer;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/** Training and evaluation text: files in any supported format, read and tokenized. */
public final class Corpus {
    private Corpus() {}

    public enum Format {
        /** One document per line. */
        LINES,
        /** One document per blank-line-separated block. */
        BLOCKS,
        /** JSON Lines with a "text" field. */
        JSONL,
        /** Alpaca JSON (instruction / input / output); prompts are masked out of the loss. */
        ALPACA,
        /** By extension: .jsonl -> JSONL, .json -> ALPACA, otherwise LINES. */
        AUTO;

        public static Format parse(String s) {
            try {
                return valueOf(s.trim().toUpperCase(Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("data format '" + s + "' is not one of lines, blocks, jsonl, alpaca, auto");
            }
        }
    }

    /** Reads every file; skipped malformed records are reported to {@code warnings} with file and line. */
    public static List<Example> read(List<Path> files, Format format, OnMalformed policy, PrintStream warnings) {
        List<Example> out = new ArrayList<>();
        for (Path f : files) {
            Format fmt = format == Format.AUTO ? byExtension(f) : format;
            ReadResult r = switch (fmt) {
                case LINES -> PlainTextReader.read(f, PlainTextReader.Boundary.LINE, policy);
                case BLOCKS -> PlainTextReader.read(f, PlainTextReader.Boundary.BLANK_LINE, policy);
                case JSONL -> JsonlReader.read(f, policy);
                case ALPACA -> AlpacaReader.read(f, policy);
                case AUTO -> throw new IllegalStateException();
            };
            for (Problem p : r.skipped()) if (warnings != null) warnings.println("skipped " + p);
            out.addAll(r.examples());
        }
        return out;
    }

    static Format byExtension(Path f) {
        String n = f.getFileName().toString().toLowerCase(Locale.ROOT);
        if (n.endsWith(".jsonl")) return Format.JSONL;
        if (n.endsWith(".json")) return Format.ALPACA;
        return Format.LINES;
    }

    public static List<TokenizedDocument> tokenize(List<Example> examples, TokenEncoder encoder) {
        List<TokenizedDocument> out = new ArrayList<>(examples.size());
        for (Example e : examples) out.add(TokenizedDocument.encode(e, encoder));
        return out;
    }

    /** The tokenizer as the data package sees it: BOS before and EOS after every document. */
    public static TokenEncoder encoder(Tokenizer tok) {
        Integer bos = tok.bosId();
        List<Integer> eos = tok.eosIds();
        return TokenEncoder.of(text -> {
            long[] ids = tok.encode(text, false);
            int[] out = new int[ids.length];
            for (int i = 0; i < ids.length; i++) out[i] = Math.toIntExact(ids[i]);
            return out;
        }, bos == null ? -1 : bos, eos.isEmpty() ? -1 : eos.get(0));
    }

    /** Documents as one token stream (BOS + ids + EOS each), for perplexity. */
    public static long[] stream(List<Example> examples, TokenEncoder encoder) {
        List<long[]> parts = new ArrayList<>();
        long n = 0;
        for (Example e : examples) {
            int[] ids = encoder.encode(e.text());
            long[] doc = new long[ids.length + (encoder.bosId() >= 0 ? 1 : 0) + (encoder.eosId() >= 0 ? 1 : 0)];
            int i = 0;
            if (encoder.bosId() >= 0) doc[i++] = encoder.bosId();
            for (int id : ids) doc[i++] = id;
            if (encoder.eosId() >= 0) doc[i] = encoder.eosId();
            parts.add(doc);
            n += doc.length;
        }
        long[] out = new long[Math.toIntExact(n)];
        int at = 0;
        for (long[] p : parts) {
            System.arraycopy(p, 0, out, at, p.length);
            at += p.length;
        }
        return out;
    }
}
