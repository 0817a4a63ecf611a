package dev.liger.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * Minimal safetensors codec for the small files this package writes (adapters, checkpoints):
 * byte-exact, fsync'd on write, every header field validated on read.
 */
public final class TensorFile {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final long MAX_HEADER = 100L << 20;

  private TensorFile() {}

  /** Writes tensors (CPU copies are made as needed) in the given order, then forces the file to disk. */
  public static void write(Path file, Map<String, Tensor> tensors, Map<String, String> metadata) throws IOException {
    try (PointerScope scope = new PointerScope()) {
      ObjectNode header = JSON.createObjectNode();
      if (metadata != null && !metadata.isEmpty()) {
        ObjectNode meta = header.putObject("__metadata__");
        metadata.forEach(meta::put);
      }
      Map<String, Tensor> cpu = new LinkedHashMap<>();
      long offset = 0;
      for (var e : tensors.entrySet()) {
        if (e.getKey().equals("__metadata__")) throw new IllegalArgumentException("tensor name __metadata__ is reserved");
        Tensor t = e.getValue().detach().cpu().contiguous();
        cpu.put(e.getKey(), t);
        ObjectNode info = header.putObject(e.getKey());
        info.put("dtype", dtypeName(Tensors.dtype(t), e.getKey()));
        var shape = info.putArray("shape");
        for (long s : Tensors.shape(t)) shape.add(s);
        long n = t.nbytes();
        info.putArray("data_offsets").add(offset).add(offset + n);
        offset += n;
      }
      byte[] h = JSON.writeValueAsBytes(header);
      int padded = (h.length + 7) / 8 * 8;
      ByteBuffer head = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
      head.putLong(padded).put(h);
      while (head.hasRemaining()) head.put((byte) ' ');
      head.flip();
      try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
          StandardOpenOption.WRITE)) {
        while (head.hasRemaining()) ch.write(head);
        for (Tensor t : cpu.values()) {
          long n = t.nbytes();
          if (n == 0) continue;
          ByteBuffer buf = new BytePointer(t.data_ptr()).capacity(n).asByteBuffer();
          while (buf.hasRemaining()) ch.write(buf);
        }
        ch.force(true);
      }
    }
  }

  /** Reads every tensor of a safetensors file into CPU tensors (outside any open PointerScope). */
  public static Map<String, Tensor> read(Path file) throws IOException {
    Map<String, Tensor> out = new LinkedHashMap<>();
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
      long size = ch.size();
      if (size < 8) throw new IOException(file + ": too short for a safetensors file (" + size + " bytes)");
      ByteBuffer lenBuf = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
      readFully(ch, lenBuf, 0, file);
      long hlen = lenBuf.flip().getLong();
      if (hlen <= 0 || hlen > MAX_HEADER || 8 + hlen > size) {
        throw new IOException(file + ": bad safetensors header length " + hlen + " (file has " + size + " bytes)");
      }
      ByteBuffer hb = ByteBuffer.allocate((int) hlen);
      readFully(ch, hb, 8, file);
      JsonNode header;
      try {
        header = JSON.readTree(new String(hb.array(), StandardCharsets.UTF_8));
      } catch (IOException e) {
        throw new IOException(file + ": safetensors header is not valid JSON: " + e.getMessage(), e);
      }
      if (header == null || !header.isObject()) throw new IOException(file + ": safetensors header is not a JSON object");
      long dataStart = 8 + hlen;
      long dataLen = size - dataStart;
      for (Iterator<Map.Entry<String, JsonNode>> it = header.fields(); it.hasNext(); ) {
        var e = it.next();
        String name = e.getKey();
        if (name.equals("__metadata__")) continue;
        JsonNode info = e.getValue();
        ScalarType type = dtype(info.path("dtype").asText(""), file, name);
        JsonNode shapeNode = info.path("shape");
        JsonNode offs = info.path("data_offsets");
        if (!shapeNode.isArray() || !offs.isArray() || offs.size() != 2) {
          throw new IOException(file + ": tensor " + name + " lacks a valid shape or data_offsets");
        }
        long[] shape = new long[shapeNode.size()];
        long numel = 1;
        for (int i = 0; i < shape.length; i++) {
          shape[i] = shapeNode.get(i).asLong(-1);
          if (shape[i] < 0) throw new IOException(file + ": tensor " + name + " has a negative dimension");
          numel = Math.multiplyExact(numel, shape[i]);
        }
        long begin = offs.get(0).asLong(-1), end = offs.get(1).asLong(-1);
        long expected = numel * elementSize(type);
        if (begin < 0 || end < begin || end > dataLen || end - begin != expected) {
          throw new IOException(file + ": tensor " + name + " has data_offsets [" + begin + ", " + end
              + "] inconsistent with its shape/dtype (" + expected + " bytes) or the file size");
        }
        Tensor t = torch.empty(shape, new TensorOptions(type), new org.bytedeco.pytorch.MemoryFormatOptional());
        if (expected > 0) {
          BytePointer p = new BytePointer(t.data_ptr()).capacity(expected);
          readFully(ch, p.asByteBuffer(), dataStart + begin, file);
        }
        out.put(name, Tensors.keep(t));
      }
    }
    return out;
  }

  /** The __metadata__ map of a safetensors file (empty if none). */
  public static Map<String, String> metadata(Path file) throws IOException {
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
      ByteBuffer lenBuf = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
      readFully(ch, lenBuf, 0, file);
      long hlen = lenBuf.flip().getLong();
      if (hlen <= 0 || hlen > MAX_HEADER || 8 + hlen > ch.size()) throw new IOException(file + ": bad safetensors header length " + hlen);
      ByteBuffer hb = ByteBuffer.allocate((int) hlen);
      readFully(ch, hb, 8, file);
      JsonNode meta = JSON.readTree(new String(hb.array(), StandardCharsets.UTF_8)).path("__metadata__");
      Map<String, String> out = new LinkedHashMap<>();
      meta.fields().forEachRemaining(e -> out.put(e.getKey(), e.getValue().asText()));
      return out;
    }
  }

  private static void readFully(FileChannel ch, ByteBuffer buf, long pos, Path file) throws IOException {
    while (buf.hasRemaining()) {
      int n = ch.read(buf, pos);
      if (n < 0) throw new IOException(file + ": unexpected end of file");
      pos += n;
    }
  }

  static String dtypeName(ScalarType t, String name) {
    return switch (t) {
      case Float -> "F32";
      case Double -> "F64";
      case Half -> "F16";
      case BFloat16 -> "BF16";
      case Long -> "I64";
      case Int -> "I32";
      case Short -> "I16";
      case Char -> "I8";
      case Byte -> "U8";
      case Bool -> "BOOL";
      default -> throw new IllegalArgumentException("tensor " + name + ": dtype " + t + " cannot be stored in safetensors here");
    };
  }

  private static ScalarType dtype(String s, Path file, String name) throws IOException {
    return switch (s) {
      case "F32" -> ScalarType.Float;
      case "F64" -> ScalarType.Double;
      case "F16" -> ScalarType.Half;
      case "BF16" -> ScalarType.BFloat16;
      case "I64" -> ScalarType.Long;
      case "I32" -> ScalarType.Int;
      case "I16" -> ScalarType.Short;
      case "I8" -> ScalarType.Char;
      case "U8" -> ScalarType.Byte;
      case "BOOL" -> ScalarType.Bool;
      default -> throw new IOException(file + ": tensor " + name + " has unsupported dtype '" + s + "'");
    };
  }

  private static long elementSize(ScalarType t) {
    try (PointerScope scope = new PointerScope()) {
      return torch.empty(new long[] {0}, new TensorOptions(t), new org.bytedeco.pytorch.MemoryFormatOptional()).element_size();
    }
  }

}
