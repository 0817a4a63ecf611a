/**
 * Evaluation against a {@link dev.liger.eval.LogitsModel} (token ids [B, T] to logits [B, T, V]), so the
 * Transformer and its Liger conversion plug in alike: perplexity over token streams and text files
 * (non-overlapping or sliding windows, see {@link dev.liger.eval.Perplexity}), and zero-shot multiple
 * choice in the lm-evaluation-harness style (acc, acc_norm, standard errors; see
 * {@link dev.liger.eval.MultipleChoice}).
 */
package dev.liger.eval;
