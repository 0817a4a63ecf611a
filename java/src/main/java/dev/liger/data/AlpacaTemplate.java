package dev.liger.data;

import java.util.List;

/**
 * The Stanford Alpaca prompt template (the one the Liger paper's fine-tune uses), with and without an
 * input. The prompt is context only; the response ({@code output}) is the training target.
 */
public final class AlpacaTemplate {
    public static final String WITH_INPUT =
            "Below is an instruction that describes a task, paired with an input that provides further context. "
                    + "Write a response that appropriately completes the request.\n\n"
                    + "### Instruction:\n%s\n\n### Input:\n%s\n\n### Response:\n";
    public static final String WITHOUT_INPUT =
            "Below is an instruction that describes a task. "
                    + "Write a response that appropriately completes the request.\n\n"
                    + "### Instruction:\n%s\n\n### Response:\n";

    private AlpacaTemplate() {}

    /** The prompt; an empty or absent {@code input} selects the template without input. */
    public static String prompt(String instruction, String input) {
        if (instruction == null) throw new IllegalArgumentException("Alpaca instruction is required");
        if (input == null || input.isEmpty()) return fill(WITHOUT_INPUT, instruction);
        return fill(WITH_INPUT, instruction, input);
    }

    // Plain substitution, not String.format, so '%' in the data stays literal.
    private static String fill(String template, String... values) {
        StringBuilder sb = new StringBuilder();
        int from = 0;
        for (String v : values) {
            int at = template.indexOf("%s", from);
            sb.append(template, from, at).append(v);
            from = at + 2;
        }
        return sb.append(template.substring(from)).toString();
    }

    /** The example: the prompt (not trained) followed by the output (trained). */
    public static Example example(String origin, String instruction, String input, String output) {
        if (output == null) throw new IllegalArgumentException(origin + ": Alpaca output is required");
        return new Example(origin, List.of(new Segment(prompt(instruction, input), false), new Segment(output, true)));
    }
}
