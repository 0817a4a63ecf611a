package dev.liger.io;

import org.bytedeco.pytorch.global.torch.ScalarType;

/** Element types of the safetensors format that this project reads and writes. */
public enum DType {
    F64(8, ScalarType.Double),
    F32(4, ScalarType.Float),
    F16(2, ScalarType.Half),
    BF16(2, ScalarType.BFloat16),
    I64(8, ScalarType.Long),
    I32(4, ScalarType.Int),
    I16(2, ScalarType.Short),
    I8(1, ScalarType.Char),
    U8(1, ScalarType.Byte),
    BOOL(1, ScalarType.Bool);

    private final int bytes;
    private final ScalarType scalarType;

    DType(int bytes, ScalarType scalarType) {
        this.bytes = bytes;
        this.scalarType = scalarType;
    }

    public int bytes() {
        return bytes;
    }

    public ScalarType scalarType() {
        return scalarType;
    }

    /** The safetensors name of a dtype, or null when the format has no such name. */
    public static DType fromName(String name) {
        for (DType d : values()) {
            if (d.name().equals(name)) return d;
        }
        return null;
    }

    public static DType of(ScalarType t) {
        for (DType d : values()) {
            if (d.scalarType.value == t.value) return d;
        }
        throw new IllegalArgumentException("scalar type (code " + t.value + ") has no safetensors dtype");
    }
}
