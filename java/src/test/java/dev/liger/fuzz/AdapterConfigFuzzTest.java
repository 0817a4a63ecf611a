package dev.liger.fuzz;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.liger.lora.LoraAdapters;
import dev.liger.lora.LoraConfig;
import java.io.IOException;

/**
 * LoRA adapter_config.json loading on arbitrary bytes. Documented outcome: a {@link LoraConfig}, or an
 * {@link IOException} naming the file (unsupported PEFT features and bad values included).
 */
public class AdapterConfigFuzzTest {
    public static void fuzzerTestOneInput(byte[] data) {
        FuzzSupport.write(LoraAdapters.CONFIG_FILE, data);
        LoraConfig c;
        try {
            c = LoraAdapters.readConfig(FuzzSupport.scratchDir());
        } catch (Throwable e) {
            FuzzSupport.expectDocumented(e, IOException.class);
            if (!e.getMessage().contains(LoraAdapters.CONFIG_FILE))
                throw new AssertionError("error does not name the file: " + e.getMessage(), e);
            return;
        }
        if (c.rank() <= 0 || !(c.alpha() > 0) || !(c.dropout() >= 0 && c.dropout() < 1) || c.targetModules().isEmpty())
            throw new AssertionError("accepted adapter config breaks LoraConfig invariants: " + c);
    }

    @FuzzTest(maxDuration = "15s")
    void adapterConfig(byte[] data) {
        fuzzerTestOneInput(data);
    }
}
