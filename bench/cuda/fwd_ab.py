"""Forward A/B timing (not a test): the fused Liger forward of one library at B = 1, Hq = 32, Hkv = 8,
D = 128, bf16, W = 64 for T = 2K, 8K, 32K (CUDA-event medians, as bench.py), then the forward's kernels
at each T (CUPTI through torch.profiler, after every timing: the profiler may leave CUPTI attached, which
adds host time to later calls). Run once per library, alternating, so that the libraries see the same clocks.

Usage: python3 fwd_ab.py NAME path/to/libliger_dev.so
"""
import sys

import torch

from liger_abi import Lib, attn_params, GLA, kernel_times, rope_tables, timed

Hq, Hkv, D, W = 32, 8, 128, 64


def main():
    name, lib = sys.argv[1], Lib(sys.argv[2])
    row, fwds, keep = [], {}, []  # keep: the tensors each call's parameters point to
    for T in (2048, 8192, 32768):
        q = torch.randn(1, T, Hq, D, device="cuda", dtype=torch.bfloat16)
        k = torch.randn(1, T, Hkv, D, device="cuda", dtype=torch.bfloat16)
        v = torch.randn(1, T, Hkv, D, device="cuda", dtype=torch.bfloat16)
        cos, sin = rope_tables(T, D)
        o = torch.empty_like(q)
        pf = attn_params(q, k, v, cos, sin, GLA, 1, 16.0, 0.5, W, o=o)
        fwds[T] = fwd = lambda p=pf: lib.call("liger_attn_forward", p)
        keep.append((q, k, v, cos, sin, o))
        row.append(timed(fwd, 50 if T < 32768 else 20, warm=5))
    kern = {T: kernel_times(fwd, 5 if T > 2048 else 10) for T, fwd in fwds.items()}
    print(f"{name:8s} fwd ms 2K / 8K / 32K: " + " / ".join(f"{t:.4f}" for t in row), flush=True)
    for T, ks in kern.items():
        print(f"{name:8s} kernels us at T={T}: " + ", ".join(f"{k} {v:.1f}" for k, v in sorted(ks.items())), flush=True)


if __name__ == "__main__":
    main()
