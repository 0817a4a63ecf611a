"""Where the time of a short forward goes (not a test): the fused Liger forward at B = 1 (and B = 8 at 2K), Hq = 32,
Hkv = 8, D = 128, bf16, W = 64, for T = 1K to 8K, beside PyTorch SDPA (FlashAttention-2 and cuDNN backends), each
timed four ways:
  call_ms   one call between two CUDA events, synchronised after each (bench.py's number: the host's time to the
            first launch is inside it, because the GPU is idle when the first event is recorded);
  b2b_ms    50 calls between two events with no synchronisation between them, per call (the GPU's time when the
            host keeps ahead of it);
  graph_ms  one replay of a CUDA graph that captured 20 calls, per call (the kernels and the gaps between them);
  host_us   the host's time per call while the GPU is busy with earlier calls (perf_counter around a burst).
and the forward's kernels under CUPTI (torch.profiler), per call, after every shape's timings: the profiler may leave
CUPTI attached to the process, which adds host time to every later CUDA call.

Usage: python3 fwd_small.py path/to/libliger_dev.so [out.json]
"""
import json
import statistics
import sys
import time

import torch
import torch.nn.functional as F

from liger_abi import Lib, attn_params, GLA, kernel_times, rope_tables, timed

Hq, Hkv, D, W = 32, 8, 128, 64


def four_ways(make, reps=30):
    """make() returns the call, bound to the current stream (make is called again under the graph's capture)."""
    fn = make()
    row = {"call_ms": timed(fn, reps, warm=5)}

    def burst():
        for _ in range(50):
            fn()
    row["b2b_ms"] = timed(burst, 7, warm=1) / 50
    torch.cuda.synchronize()
    hs = []
    for _ in range(7):
        t = time.perf_counter()
        burst()
        hs.append((time.perf_counter() - t) * 1e6 / 50)
        torch.cuda.synchronize()
    row["host_us"] = statistics.median(hs)
    try:
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            make()()  # warm on the side stream (allocator, attributes) before capture
        torch.cuda.current_stream().wait_stream(s)
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            gf = make()
            for _ in range(20):
                gf()
        row["graph_ms"] = timed(g.replay, 10, warm=2) / 20
        del g
    except Exception as e:  # noqa: BLE001 - reported, not hidden
        row["graph_error"] = repr(e)[:300]
    return row


def main():
    lib = Lib(sys.argv[1])
    rows = []
    shapes = ((1, 1024), (1, 2048), (1, 4096), (1, 8192), (8, 2048))

    def inputs(B, T):
        q = torch.randn(B, T, Hq, D, device="cuda", dtype=torch.bfloat16)
        k = torch.randn(B, T, Hkv, D, device="cuda", dtype=torch.bfloat16)
        v = torch.randn(B, T, Hkv, D, device="cuda", dtype=torch.bfloat16)
        return q, k, v

    def forward(q, k, v):  # a maker of the call: the parameters once, as bench.py, on the current stream
        cos, sin = rope_tables(q.shape[1], D)
        o = torch.empty_like(q)

        def make():
            p = attn_params(q, k, v, cos, sin, GLA, 1, 16.0, 0.5, W, o=o)
            return lambda: lib.call("liger_attn_forward", p)
        return make
    for B, T in shapes:
        q, k, v = inputs(B, T)
        row = {"B": B, "T": T, "liger": four_ways(forward(q, k, v))}
        sq, sk, sv = (x.transpose(1, 2) for x in (q, k.repeat_interleave(Hq // Hkv, 2), v.repeat_interleave(Hq // Hkv, 2)))
        from torch.nn.attention import sdpa_kernel, SDPBackend
        for name, be in (("sdpa_fa2", SDPBackend.FLASH_ATTENTION), ("sdpa_cudnn", SDPBackend.CUDNN_ATTENTION)):
            try:
                with sdpa_kernel(be):
                    row[name] = four_ways(lambda: lambda: F.scaled_dot_product_attention(sq, sk, sv, is_causal=True))
            except Exception as e:  # noqa: BLE001
                row[name] = {"error": repr(e)[:200]}
        rows.append(row)
        print(json.dumps(row), flush=True)
        del q, k, v, sq, sk, sv
    for row in rows:
        row["liger_kernels_us"] = {k: round(v, 2) for k, v in kernel_times(forward(*inputs(row["B"], row["T"]))(), 10).items()}
        print(json.dumps({"B": row["B"], "T": row["T"], "liger_kernels_us": row["liger_kernels_us"]}), flush=True)
    print("\n| B | T | liger call / b2b / graph ms | host us | kernels us | FA2 call / graph | cuDNN call / graph |")
    print("|---|---|---|---|---|---|---|")
    f = lambda r, k: f"{r[k]:.4f}" if k in r else "-"
    for r in rows:
        L, A, C = r["liger"], r["sdpa_fa2"], r["sdpa_cudnn"]
        ks = ", ".join(f"{k} {v}" for k, v in sorted(r["liger_kernels_us"].items()))
        print(f"| {r['B']} | {r['T']} | {f(L, 'call_ms')} / {f(L, 'b2b_ms')} / {f(L, 'graph_ms')} | {L['host_us']:.1f} | {ks} "
              f"| {f(A, 'call_ms')} / {f(A, 'graph_ms')} | {f(C, 'call_ms')} / {f(C, 'graph_ms')} |")
    if len(sys.argv) > 2:
        json.dump(rows, open(sys.argv[2], "w"), indent=1)


if __name__ == "__main__":
    main()
