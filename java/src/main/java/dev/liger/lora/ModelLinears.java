package dev.liger.lora;

import dev.liger.model.AttentionProjections;
import dev.liger.model.DecoderLayer;
import dev.liger.model.LlamaModel;
import dev.liger.model.Mlp;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The linear layers of a Llama-family model by Hugging Face module path, with setters. Attention
 * projections come from mixers implementing {@link AttentionProjections} (softmax and Liger attention);
 * other mixers contribute no attention slots.
 */
public final class ModelLinears {
  private ModelLinears() {}

  public static Map<String, LinearSlot> of(LlamaModel model) {
    Map<String, LinearSlot> out = new LinkedHashMap<>();
    for (DecoderLayer layer : model.layers()) {
      String p = "model.layers." + layer.index() + ".";
      if (layer.mixer() instanceof AttentionProjections a) {
        out.put(p + "self_attn.q_proj", new LinearSlot(a.qProj(), a::setQProj));
        out.put(p + "self_attn.k_proj", new LinearSlot(a.kProj(), a::setKProj));
        out.put(p + "self_attn.v_proj", new LinearSlot(a.vProj(), a::setVProj));
        out.put(p + "self_attn.o_proj", new LinearSlot(a.oProj(), a::setOProj));
      }
      Mlp mlp = layer.mlp();
      out.put(p + "mlp.gate_proj", new LinearSlot(mlp.gate(), mlp::setGate));
      out.put(p + "mlp.up_proj", new LinearSlot(mlp.up(), mlp::setUp));
      out.put(p + "mlp.down_proj", new LinearSlot(mlp.down(), mlp::setDown));
    }
    out.put("lm_head", new LinearSlot(model.lmHead(), model::setLmHead));
    return out;
  }
}
