package dev.liger.surgery;

import static org.junit.jupiter.api.Assertions.*;

import dev.liger.model.DefaultModel;
import dev.liger.model.LlamaModel;
import dev.liger.model.Tensors;
import dev.liger.report.DecodeProfile;
import java.util.List;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;

/**
 * Decoding the converted model holds constant memory and constant per-token time from 1K to 16K tokens of
 * context on CPU, while the Transformer's KV-cache grows with the context (measured from 512 to 2K tokens).
 */
class ConstantMemoryDecodeTest {

    @Test
    void ligerDecodingIsFlatTransformerGrows() {
        List<DecodeProfile.Point> liger, transformer;
        try (LlamaModel m = LlamaModel.load(DefaultModel.path(), Tensors.CPU, ScalarType.Float)) {
            transformer = DecodeProfile.run(m, new int[] {512, 2048}, 128, 1);
            Linearizer.linearize(m, LigerConfig.defaults(), LigerAttention.Backend.NATIVE);
            liger = DecodeProfile.run(m, new int[] {1024, 4096, 16384}, 256, 1);
        }
        for (DecodeProfile.Point p : transformer) System.out.println("transformer " + p);
        for (DecodeProfile.Point p : liger) System.out.println("liger       " + p);

        DecodeProfile.Point t1 = transformer.get(0), t4 = transformer.get(1);
        assertTrue(t4.cacheBytes() >= 3 * t1.cacheBytes(), "Transformer KV-cache should grow: " + t1 + " -> " + t4);

        DecodeProfile.Point first = liger.get(0), last = liger.get(liger.size() - 1);
        for (DecodeProfile.Point p : liger)
            assertEquals(first.cacheBytes(), p.cacheBytes(), "Liger cache bytes must not depend on length");
        long nativeGrowth = last.nativeBytes() - first.nativeBytes();
        assertTrue(nativeGrowth < 48L << 20, "resident memory outside the Java heap grew by " + (nativeGrowth >> 20)
                + " MiB from 1K to 16K tokens");
        assertTrue(last.msPerToken() < 2.0 * first.msPerToken(),
                "per-token time should stay flat: " + first.msPerToken() + " ms at 1K, " + last.msPerToken() + " ms at 16K");
    }
}
