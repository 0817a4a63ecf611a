package dev.liger.io;

/**
 * One tensor entry of a safetensors header. Offsets are absolute byte positions in the file
 * (the header's data_offsets plus the data section's start).
 */
public record TensorInfo(String name, DType dtype, long[] shape, long begin, long end) {
    public long numel() {
        long n = 1;
        for (long s : shape) n *= s;
        return n;
    }

    public long byteSize() {
        return end - begin;
    }
}
