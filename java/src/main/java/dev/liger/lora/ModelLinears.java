package dev.liger.lora;

import dev.liger.model.DecoderLayer;
import dev.liger.model.Linear;
import dev.liger.model.LlamaModel;
import dev.liger.model.Mlp;
import dev.liger.model.TokenMixer;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The linear layers of a Llama-family model by Hugging Face module path, with setters. A token mixer
 * exposes its attention projections by the convention {@code qProj()} / {@code setQProj(Linear)} (and
 * k, v, o), which softmax attention and Liger attention both follow; a mixer without them contributes no
 * attention slots.
 */
public final class ModelLinears {
  private ModelLinears() {}

  public static Map<String, LinearSlot> of(LlamaModel model) {
    Map<String, LinearSlot> out = new LinkedHashMap<>();
    for (DecoderLayer layer : model.layers()) {
      String p = "model.layers." + layer.index() + ".";
      for (String x : new String[] {"q", "k", "v", "o"}) {
        LinearSlot s = projection(layer.mixer(), x);
        if (s != null) out.put(p + "self_attn." + x + "_proj", s);
      }
      Mlp mlp = layer.mlp();
      out.put(p + "mlp.gate_proj", new LinearSlot(mlp.gate(), mlp::setGate));
      out.put(p + "mlp.up_proj", new LinearSlot(mlp.up(), mlp::setUp));
      out.put(p + "mlp.down_proj", new LinearSlot(mlp.down(), mlp::setDown));
    }
    out.put("lm_head", new LinearSlot(model.lmHead(), model::setLmHead));
    return out;
  }

  private static LinearSlot projection(TokenMixer mixer, String x) {
    Method get, set;
    try {
      get = mixer.getClass().getMethod(x + "Proj");
      set = mixer.getClass().getMethod("set" + x.toUpperCase(java.util.Locale.ROOT) + "Proj", Linear.class);
    } catch (NoSuchMethodException e) {
      return null;
    }
    if (!Linear.class.isAssignableFrom(get.getReturnType())) return null;
    try {
      Linear current = (Linear) get.invoke(mixer);
      return new LinearSlot(current, l -> invoke(set, mixer, l));
    } catch (IllegalAccessException | InvocationTargetException e) {
      throw new IllegalStateException("cannot read " + x + "_proj of " + mixer.getClass().getSimpleName(), e);
    }
  }

  private static void invoke(Method set, TokenMixer mixer, Linear l) {
    try {
      set.invoke(mixer, l);
    } catch (IllegalAccessException | InvocationTargetException e) {
      throw new IllegalStateException("cannot install " + set.getName() + " on " + mixer.getClass().getSimpleName(), e);
    }
  }
}
