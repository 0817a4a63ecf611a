"""Device memory of one training step of one layer (forward + backward), not a test.

For each T, in a fresh process per (library, T, mode): the inputs, outputs and gradients are allocated first, then
one forward and one backward run, with the chunk states kept in `liger_attn_params.saved` (mode "saved") or
recomputed by the backward (mode "recompute"). Reported: the growth of the device memory in use across the two
calls (cudaMemGetInfo), which is the library's workspace high-water mark: its pool keeps what it reserved (release
threshold at the maximum), and torch allocates nothing during the calls. The saved buffer is an input here and is
reported apart. Shapes: B = 1, Hq = 32, Hkv = 8, D = 128, W = 64, mix 0.5, GLA variant, bf16.
Usage: python3 train_memory.py NAME path/to/libliger_dev.so [T ...]     (runs each case in a child process)
       python3 train_memory.py --one path/to/libliger_dev.so T MODE     (one case; prints one JSON line)
"""
import json
import subprocess
import sys

import torch

from liger_abi import GLA, Lib, attn_params, rope_tables

Hq, Hkv, D, W = 32, 8, 128, 64


def used():
    torch.cuda.synchronize()
    free, total = torch.cuda.mem_get_info()
    return total - free


def one(path, T, mode):
    lib = Lib(path)
    dev = "cuda"
    torch.manual_seed(T)
    q = torch.randn(1, T, Hq, D, device=dev, dtype=torch.bfloat16)
    k = torch.randn(1, T, Hkv, D, device=dev, dtype=torch.bfloat16)
    v = torch.randn(1, T, Hkv, D, device=dev, dtype=torch.bfloat16)
    cos, sin = rope_tables(T, D)
    o, do = torch.empty_like(q), torch.randn_like(q)
    dq, dk, dv = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
    pf = attn_params(q, k, v, cos, sin, GLA, 1, 16.0, 0.5, W, o=o)
    saved = None
    if mode == "saved":
        n = lib.saved_numel(pf)
        assert n > 0, "these parameters keep no states"
        saved = torch.empty(n, device=dev, dtype=torch.float32)
        pf = attn_params(q, k, v, cos, sin, GLA, 1, 16.0, 0.5, W, o=o, saved=saved)
    pb = attn_params(q, k, v, cos, sin, GLA, 1, 16.0, 0.5, W, do=do, dq=dq, dk=dk, dv=dv, saved=saved)
    before = used()
    lib.call("liger_attn_forward", pf)
    after_fwd = used()
    lib.call("liger_attn_backward", pb)
    after = used()
    assert torch.isfinite(dq.float()).all() and torch.isfinite(dk.float()).all(), "non-finite gradients"
    print(json.dumps({"T": T, "mode": mode, "fwd_MB": (after_fwd - before) / 2**20,
                      "step_MB": (after - before) / 2**20,
                      "saved_MB": 0.0 if saved is None else saved.numel() * 4 / 2**20}))


def main():
    if sys.argv[1] == "--one":
        one(sys.argv[2], int(sys.argv[3]), sys.argv[4])
        return
    name, path = sys.argv[1], sys.argv[2]
    lengths = [int(t) for t in sys.argv[3:]] or [8192, 32768]
    for T in lengths:
        for mode in ("recompute", "saved"):
            r = subprocess.run([sys.executable, __file__, "--one", path, str(T), mode], capture_output=True, text=True)
            line = r.stdout.strip().splitlines()[-1] if r.returncode == 0 and r.stdout.strip() else None
            if line is None:
                print(f"{name:6s} T={T} {mode}: failed rc={r.returncode} {r.stderr.strip()[-300:]}", flush=True)
                continue
            d = json.loads(line)
            print(f"{name:6s} T={T:6d} {mode:9s} workspace high-water: forward {d['fwd_MB']:7.0f} MB, "
                  f"forward + backward {d['step_MB']:7.0f} MB; saved buffer {d['saved_MB']:5.0f} MB", flush=True)


if __name__ == "__main__":
    main()
