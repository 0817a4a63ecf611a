/**
 * Training: an AdamW written as tensor ops, learning-rate schedules, next-token loss with a mask, and
 * the {@link dev.liger.train.Trainer} loop over any {@link dev.liger.train.Objective} (a model plus a
 * batch type reduced to a summed loss) fed by a resumable {@link dev.liger.train.BatchSource}.
 *
 * <p>Per step: {@code gradAccum} micro-batches, each loss divided by the step's total target count (so
 * accumulation equals one big batch), an after-backward hook (the native-op tape), global-norm clipping,
 * an AdamW update at the scheduled rate. NaN/Inf losses stop or skip the step. Every
 * {@code checkpointEvery} steps a {@link dev.liger.train.Checkpoint} (trainable tensors, optimizer state,
 * RNG states, step, data cursor) is written atomically; {@link dev.liger.train.Trainer#resume} continues
 * bit-for-bit on CPU. Progress goes to stderr as one live line, and every step to train.jsonl.
 */
package dev.liger.train;
