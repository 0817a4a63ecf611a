"""Decoding memory and step time against context length (issue 7: flat from 1K to 128K tokens).

For each context length L: one forward (prefill) over L random bf16 tokens writes the layer's cache,
then 256 decode steps continue from it. Reported: the cache's bytes, the device memory in use before
and after the decode steps (cudaMemGetInfo: torch's allocations and the library's own pool alike), and
the median decode step time. Shapes: B = 1, Hq = 32, Hkv = 8, D = 128, W = 64, mix 0.5, GLA variant.
Usage: python3 decode_memory.py path/to/libliger_dev.so [out.json]
"""
import json
import statistics
import sys

import torch

from liger_abi import GLA, Lib, attn_params, rope_tables

dev = "cuda"
Hq, Hkv, D, W, STEPS = 32, 8, 128, 64, 256




def used():
    torch.cuda.synchronize()
    free, total = torch.cuda.mem_get_info()
    return total - free


def main():
    lib = Lib(sys.argv[1])
    lengths = [1024, 4096, 16384, 65536, 131072]
    cos, sin = rope_tables(lengths[-1] + STEPS + 1, D)
    rows = []
    for L in lengths:
        torch.manual_seed(L)
        cache = {"state": torch.zeros(1, Hkv, D, D, device=dev),
                 "win_k": torch.zeros(1, Hkv, W - 1, D, device=dev),
                 "win_v": torch.zeros(1, Hkv, W - 1, D, device=dev),
                 "pos": torch.zeros(1, dtype=torch.int64, device=dev)}
        q = torch.randn(1, L, Hq, D, device=dev, dtype=torch.bfloat16)
        k = torch.randn(1, L, Hkv, D, device=dev, dtype=torch.bfloat16)
        v = torch.randn(1, L, Hkv, D, device=dev, dtype=torch.bfloat16)
        o = torch.empty_like(q)
        lib.call("liger_attn_forward", attn_params(q, k, v, cos, sin, GLA, 1, 16.0, 0.5, W, o=o, cache_out=cache))
        del q, k, v, o
        torch.cuda.synchronize()
        assert int(cache["pos"].item()) == L
        sq = torch.randn(STEPS, 1, 1, Hq, D, device=dev, dtype=torch.bfloat16)
        sk = torch.randn(STEPS, 1, 1, Hkv, D, device=dev, dtype=torch.bfloat16)
        sv = torch.randn(STEPS, 1, 1, Hkv, D, device=dev, dtype=torch.bfloat16)
        so = torch.empty_like(sq)
        params = [attn_params(sq[i], sk[i], sv[i], cos, sin, GLA, 1, 16.0, 0.5, W, o=so[i], cache_in=cache)
                  for i in range(STEPS)]
        before = used()
        times = []
        for p in params:
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record()
            lib.call("liger_attn_decode", p)
            b.record()
            b.synchronize()
            times.append(a.elapsed_time(b) * 1000)
        after = used()
        assert int(cache["pos"].item()) == L + STEPS and torch.isfinite(so).all()
        cache_bytes = sum(t.numel() * t.element_size() for t in cache.values())
        row = {"context": L, "cache_bytes": cache_bytes, "device_used_before_MiB": before / 2**20,
               "device_used_after_MiB": after / 2**20, "decode_growth_bytes": after - before,
               "step_us_median": statistics.median(times[8:])}
        rows.append(row)
        print(json.dumps(row), flush=True)
        del sq, sk, sv, so, params, cache
        torch.cuda.empty_cache()
    if len(sys.argv) > 2:
        with open(sys.argv[2], "w") as f:
            json.dump({"device": torch.cuda.get_device_name(), "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
