package dev.liger.fuzz;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.liger.io.SafetensorsException;
import dev.liger.io.SafetensorsFile;
import dev.liger.io.TensorInfo;
import java.nio.file.Path;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;

/**
 * The safetensors reader on arbitrary bytes: header parse and every tensor load. Documented outcome:
 * a result, or {@link SafetensorsException}. A loaded tensor must have the header's shape and byte size,
 * and its bytes must lie inside the file.
 */
public class SafetensorsFuzzTest {
    public static void fuzzerTestOneInput(byte[] data) {
        Path file = FuzzSupport.write("model.safetensors", data);
        try (SafetensorsFile st = SafetensorsFile.open(file); PointerScope scope = new PointerScope()) {
            for (String name : st.names()) {
                TensorInfo info = st.info(name);
                if (info.begin() < 0 || info.end() > data.length || info.begin() > info.end())
                    throw new AssertionError(name + ": byte range [" + info.begin() + ", " + info.end()
                            + ") outside a " + data.length + "-byte file");
                Tensor t = st.load(name);
                if (t.dim() != info.shape().length) throw new AssertionError(name + ": rank " + t.dim());
                for (int i = 0; i < info.shape().length; i++)
                    if (t.size(i) != info.shape()[i]) throw new AssertionError(name + ": dim " + i + " = " + t.size(i));
                if (t.nbytes() != info.byteSize()) throw new AssertionError(name + ": " + t.nbytes() + " bytes loaded, header says " + info.byteSize());
            }
        } catch (Throwable e) {
            FuzzSupport.expectDocumented(e, SafetensorsException.class);
        }
    }

    @FuzzTest(maxDuration = "15s")
    void safetensors(byte[] data) {
        fuzzerTestOneInput(data);
    }
}
