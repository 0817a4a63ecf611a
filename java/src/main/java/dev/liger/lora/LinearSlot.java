package dev.liger.lora;

import dev.liger.model.Linear;
import java.util.function.Consumer;

/** A linear layer inside a model and the setter that replaces it (how adapters are installed). */
public record LinearSlot(Linear linear, Consumer<Linear> install) {}
