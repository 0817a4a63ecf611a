/**
 * LoRA adapters on named linear layers, compatible with PEFT.
 *
 * <p>{@link dev.liger.lora.LoraAdapters#attach} wraps the targeted layers of a model (default q_proj,
 * k_proj, v_proj; rank 8, alpha 8, dropout 0) in {@link dev.liger.lora.LoraLinear}s initialised as PEFT
 * does (A Kaiming-uniform, B zero), freezes every base weight and returns the trainable A/B tensors by
 * their PEFT key. {@link dev.liger.lora.LoraAdapters#save} writes adapter_model.safetensors and
 * adapter_config.json in PEFT's layout; {@link dev.liger.lora.LoraAdapters#load} reads those (ours or
 * PEFT's; unsupported PEFT features are refused by name); {@link dev.liger.lora.LoraAdapters#merge} folds
 * W += (alpha/r) B A into the shared base weights.
 */
package dev.liger.lora;
