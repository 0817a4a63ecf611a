package dev.liger.data;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class AlpacaTemplateTest {

    @Test
    void promptWithInputIsTheStanfordTemplate() {
        assertEquals("Below is an instruction that describes a task, paired with an input that provides further context. "
                        + "Write a response that appropriately completes the request.\n"
                        + "\n"
                        + "### Instruction:\n"
                        + "Translate to French.\n"
                        + "\n"
                        + "### Input:\n"
                        + "Good morning\n"
                        + "\n"
                        + "### Response:\n",
                AlpacaTemplate.prompt("Translate to French.", "Good morning"));
    }

    @Test
    void promptWithoutInputIsTheStanfordTemplate() {
        String expected = "Below is an instruction that describes a task. "
                + "Write a response that appropriately completes the request.\n"
                + "\n"
                + "### Instruction:\n"
                + "Name three colors.\n"
                + "\n"
                + "### Response:\n";
        assertEquals(expected, AlpacaTemplate.prompt("Name three colors.", ""));
        assertEquals(expected, AlpacaTemplate.prompt("Name three colors.", null));
    }

    @Test
    void dataIsInsertedLiterally() {
        String p = AlpacaTemplate.prompt("Use %s and %d and $1 \\ here", "50% %s");
        assertEquals(true, p.contains("### Instruction:\nUse %s and %d and $1 \\ here\n\n### Input:\n50% %s\n\n### Response:\n"), p);
    }

    @Test
    void exampleMasksThePromptAndTrainsTheOutput() {
        Example e = AlpacaTemplate.example("f:3", "Say hi.", "", "Hi!");
        assertEquals(List.of(new Segment(AlpacaTemplate.prompt("Say hi.", ""), false), new Segment("Hi!", true)), e.segments());
        assertEquals("f:3", e.origin());
        assertThrows(IllegalArgumentException.class, () -> AlpacaTemplate.example("f:3", "Say hi.", "", null));
        assertThrows(IllegalArgumentException.class, () -> AlpacaTemplate.prompt(null, ""));
    }
}
