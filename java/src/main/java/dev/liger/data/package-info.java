/**
 * Training data: reading documents, tokenizing them, packing them into fixed-length rows.
 *
 * <p>Readers ({@link dev.liger.data.PlainTextReader}, {@link dev.liger.data.JsonlReader},
 * {@link dev.liger.data.AlpacaReader}) give {@link dev.liger.data.Example}s tagged with file:line, and
 * apply an {@link dev.liger.data.OnMalformed} policy to bad records. {@link dev.liger.data.TokenizedDocument}
 * encodes an example through any {@link dev.liger.data.TokenEncoder}, keeping per token whether it is a
 * training target (Alpaca prompts are not). {@link dev.liger.data.Packer} shuffles by seed, splits off
 * validation documents and packs rows whose {@code cuSeqlens} mark document boundaries, so no state or
 * label crosses from one document to the next.
 */
package dev.liger.data;
