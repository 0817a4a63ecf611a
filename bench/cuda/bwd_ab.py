"""A/B of the fused backward between libraries in one process (not a test): per-kernel device times of one
forward + one backward at T = 8K (torch profiler), then forward + backward medians at 2K / 8K / 32K, the
libraries interleaved per shape so that clock drift hits each alike.

Usage: python3 bwd_ab.py name=path/to/libliger_dev.so [name=path ...]
"""
import re
import sys

import torch

from liger_abi import Lib, attn_params, GLA, rope_tables, timed

Hq, Hkv, D, W = 32, 8, 128, 64
libs = [(a.split("=", 1)[0], Lib(a.split("=", 1)[1])) for a in sys.argv[1:]]


def inputs(T):
    q = torch.randn(1, T, Hq, D, device="cuda", dtype=torch.bfloat16)
    k = torch.randn(1, T, Hkv, D, device="cuda", dtype=torch.bfloat16)
    v = torch.randn(1, T, Hkv, D, device="cuda", dtype=torch.bfloat16)
    cos, sin = rope_tables(T, D)
    o, do = torch.empty_like(q), torch.randn_like(q)
    dq, dk, dv = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
    pf = attn_params(q, k, v, cos, sin, GLA, 1, 16.0, 0.5, W, o=o)
    pb = attn_params(q, k, v, cos, sin, GLA, 1, 16.0, 0.5, W, do=do, dq=dq, dk=dk, dv=dv)
    return (q, k, v, cos, sin, o, do, dq, dk, dv), pf, pb


from torch.profiler import profile, ProfilerActivity

keep, pf, pb = inputs(8192)
kern = {}
for name, lib in libs:
    lib.call("liger_attn_forward", pf); lib.call("liger_attn_backward", pb); torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        lib.call("liger_attn_forward", pf)
        lib.call("liger_attn_backward", pb)
        torch.cuda.synchronize()
    for e in prof.key_averages():
        t = getattr(e, "device_time_total", None) or getattr(e, "cuda_time_total", 0)
        if t > 0:
            m = re.search(r"k_\w+(<[^>(]*>)?", e.key)
            short = m.group(0) if m else e.key[:40]
            kern.setdefault(short, {})[name] = kern.get(short, {}).get(name, 0.0) + t / 1000
del keep, pf, pb
print("| kernel at 8K (ms) | " + " | ".join(n for n, _ in libs) + " |")
print("|---|" + "---|" * len(libs))
for k_, row in sorted(kern.items(), key=lambda kv: -max(kv[1].values())):
    print(f"| {k_} | " + " | ".join(f"{row.get(n, 0.0):.4f}" for n, _ in libs) + " |")
print("| total | " + " | ".join(f"{sum(r.get(n, 0.0) for r in kern.values()):.4f}" for n, _ in libs) + " |", flush=True)

print("\n| T | " + " | ".join(f"{n} fwd | {n} fwd+bwd" for n, _ in libs) + " |")
print("|---|" + "---|---|" * len(libs))
for T in (2048, 8192, 32768):
    torch.cuda.empty_cache()
    keep, pf, pb = inputs(T)
    reps = 20 if T <= 8192 else 10
    res = {}
    for rnd in range(2):  # two rounds, interleaved; the median of each library's two medians' mean
        for name, lib in libs:
            f = timed(lambda: lib.call("liger_attn_forward", pf), reps)
            b = timed(lambda: lib.call("liger_attn_backward", pb), reps)
            res.setdefault(name, []).append((f, f + b))
    del keep, pf, pb
    cells = []
    for n, _ in libs:
        f = sum(x[0] for x in res[n]) / len(res[n])
        fb = sum(x[1] for x in res[n]) / len(res[n])
        cells.append(f"{f:.3f} | {fb:.3f}")
    print(f"| {T} | " + " | ".join(cells) + " |", flush=True)
