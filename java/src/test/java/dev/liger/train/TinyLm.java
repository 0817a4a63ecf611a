package dev.liger.train;

import dev.liger.lora.LinearSlot;
import dev.liger.model.Linear;
import dev.liger.lora.LoraAdapters;
import dev.liger.lora.LoraConfig;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.bytedeco.pytorch.Generator;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * A tiny causal LM for trainer tests: embedding, one token-mixing step (each position adds the
 * previous position's hidden state through a LoRA-wrapped q_proj), a LoRA-wrapped v_proj, and a
 * frozen head. Everything is seeded, so two instances built with the same seeds are identical.
 */
public final class TinyLm {
  public static final int VOCAB = 13, DIM = 8;
  public final Tensor embed, head;
  public final Map<String, Linear> linears = new LinkedHashMap<>();
  public final LoraAdapters lora;
  public final Generator rng = torch.createCPUGenerator(0);
  /** When set, the tanh of the mixing step runs as a native op recorded on this tape. */
  public dev.liger.autograd.Tape tape;

  /** tanh with a hand-written backward, standing in for a native kernel. */
  static final dev.liger.autograd.NativeOp TANH = new dev.liger.autograd.NativeOp() {
    @Override public String name() { return "tanh"; }
    @Override public Tensor[] forward(Tensor[] in) { return new Tensor[] {in[0].tanh()}; }
    @Override public Tensor[] backward(Tensor[] in, Tensor[] out, Tensor[] g) {
      return new Tensor[] {g[0].mul(torch.ones_like(out[0]).sub(out[0].mul(out[0])))};
    }
  };

  public TinyLm(long seed, LoraConfig config) {
    embed = TT.randn(seed, VOCAB, DIM);
    head = TT.randn(seed + 1, VOCAB, DIM);
    linears.put("model.layers.0.self_attn.q_proj", new Linear(TT.randn(seed + 2, DIM, DIM).mul(new org.bytedeco.pytorch.Scalar(0.3)), null));
    linears.put("model.layers.0.self_attn.v_proj", new Linear(TT.randn(seed + 3, DIM, DIM).mul(new org.bytedeco.pytorch.Scalar(0.3)), TT.randn(seed + 4, DIM)));
    linears.put("model.layers.0.mlp.up_proj", new Linear(TT.randn(seed + 5, DIM, DIM).mul(new org.bytedeco.pytorch.Scalar(0.3)), null));
    Map<String, LinearSlot> slots = new LinkedHashMap<>();
    for (String name : List.copyOf(linears.keySet())) slots.put(name, new LinearSlot(linears.get(name), l -> linears.put(name, l)));
    lora = LoraAdapters.create(slots, config.withTargets(List.of("q_proj", "v_proj")), rng);
  }

  public TinyLm(long seed) {
    this(seed, LoraConfig.defaults().withRank(2).withAlpha(4));
  }

  /** ids [B, T] -> logits [B, T, V]. */
  public Tensor logits(Tensor ids) {
    Tensor h = torch.embedding(embed, ids);
    Tensor q = linears.get("model.layers.0.self_attn.q_proj").forward(h);
    long t = ids.size(1);
    // Causal mixing: position i also sees q of position i-1.
    Tensor prev = torch.constant_pad_nd(q.narrow(1, 0, t - 1), new long[] {0, 0, 1, 0});
    h = h.add(prev);
    // A residual around the op: the segment below it is shared by the loss's backward and the tape's.
    Tensor mixed = tape == null ? h.tanh() : tape.apply(TANH, h)[0];
    h = mixed.add(h.mul(new org.bytedeco.pytorch.Scalar(0.1)));
    h = h.add(linears.get("model.layers.0.self_attn.v_proj").forward(h));
    return torch.linear(h.add(linears.get("model.layers.0.mlp.up_proj").forward(h).tanh()), head);
  }

  /** A batch: ids [B, T] and a loss mask (or null). */
  public record Batch(Tensor ids, Tensor mask) {}

  public Objective<Batch> objective() {
    return new Objective<>() {
      @Override public long targets(Batch b) { return NextTokenLoss.targets(b.ids(), b.mask()); }
      @Override public Tensor lossSum(Batch b) { return NextTokenLoss.sum(logits(b.ids()), b.ids(), b.mask()); }
    };
  }

  /** Deterministic batches: row r of batch k is a fixed pseudo-random sequence of its index. */
  public static final class Source implements BatchSource<Batch> {
    private final int rows, len;
    private long cursor;

    public Source(int rows, int len) { this.rows = rows; this.len = len; }

    public static Batch batch(long index, int rows, int len) {
      long[] ids = new long[rows * len];
      long[] mask = new long[rows * len];
      java.util.SplittableRandom r = new java.util.SplittableRandom(index * 7919 + 17);
      for (int i = 0; i < ids.length; i++) {
        // A learnable pattern (next = 3 * prev + 1 mod V) with noise.
        ids[i] = i % len == 0 || r.nextInt(5) == 0 ? r.nextInt(VOCAB) : (3 * ids[i - 1] + 1) % VOCAB;
        mask[i] = r.nextInt(4) == 0 ? 0 : 1;
      }
      return new Batch(TT.longs(ids, rows, len), TT.longs(mask, rows, len));
    }

    @Override public Batch next() { return batch(cursor++, rows, len); }
    @Override public long cursor() { return cursor; }
    @Override public void seek(long c) { cursor = c; }
  }
}
