"""GPU benchmark (not a test): Liger CUDA kernels beside fla's Triton chunk_gla and PyTorch SDPA
(FlashAttention and cuDNN backends), same process, same inputs' shapes, bf16.

Usage: python3 bench.py path/to/libliger_dev.so [--quick] [--ours] [--ours-bwd] [--ours-fla] [--decode] [--profile]
--ours: only our forward at 2K/8K/32K and the decode (no baselines, no backward): a cheap
intermediate run; numbers to compare with baselines come from a run without it.
--ours-bwd: the same with our forward + backward.
--ours-fla: our forward and fla's chunk_gla forward at every shape (no backward, no SDPA).
--decode: the decode alone.
Times with CUDA events after warm-up; each number is the median of several timed calls.
Prints a table and writes bench_cuda.json next to the given --out path (default: cwd).
"""
import ctypes
import json
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

from liger_abi import Lib, attn_params, GLA, rope_tables, timed

dev = "cuda"
Hq, Hkv, D, W = 32, 8, 128, 64






def fwd_flops(B, T):
    # chunked GRM (per query head: q h, intra scores and their product with v; per KV head: the state
    # increment) + sliding window (scores and product, W keys)
    C = 64
    grm = B * T * Hq * (2 * D * D + 2 * C * D) + B * T * Hkv * 2 * D * D
    swa = B * T * Hq * 4 * W * D
    return grm + swa


def fwd_bytes(B, T):
    return B * T * (2 * Hq * D + 2 * Hkv * D) * 2


def profile(lib, B, T):
    """Per-kernel device time of one forward and one backward (CUPTI through torch.profiler)."""
    q = torch.randn(B, T, Hq, D, device=dev, dtype=torch.bfloat16)
    k = torch.randn(B, T, Hkv, D, device=dev, dtype=torch.bfloat16)
    v = torch.randn(B, T, Hkv, D, device=dev, dtype=torch.bfloat16)
    cos, sin = rope_tables(T, D)
    o, do = torch.empty_like(q), torch.randn_like(q)
    dq, dk, dv = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
    pf = attn_params(q, k, v, cos, sin, GLA, 1, 16.0, 0.5, W, o=o)
    pb = attn_params(q, k, v, cos, sin, GLA, 1, 16.0, 0.5, W, do=do, dq=dq, dk=dk, dv=dv)
    lib.call("liger_attn_forward", pf); lib.call("liger_attn_backward", pb); torch.cuda.synchronize()
    from torch.profiler import profile as tprof, ProfilerActivity
    with tprof(activities=[ProfilerActivity.CUDA]) as prof:
        lib.call("liger_attn_forward", pf)
        lib.call("liger_attn_backward", pb)
        torch.cuda.synchronize()
    print(f"profile B={B} T={T} (one forward + one backward)")
    print(prof.key_averages().table(sort_by="cuda_time_total", row_limit=25, max_name_column_width=60), flush=True)


def decode_bench(lib):
    """Decode: one layer, one token per sequence, cache of W-1 keys + fp32 state, for batch 1, 16, 64.
    Per call: call_us, the python loop of Lib.call (ctypes plus the error-string read; the figure of the
    earlier runs); raw_us, the same loop calling the entry point directly (status still checked);
    host_us, the host time of one direct call (no synchronisation: what the caller's thread spends);
    gpu_us, the decode kernels' device time (CUPTI through torch.profiler); graph_us, one step of a
    CUDA graph that captured 20 calls (the call does not synchronise, so a generation loop can capture it).
    host_per_call_us: each direct call timed alone with the GPU idle, in a burst, behind a spin kernel;
    ctypes_noop_us: a ctypes call that does nothing."""
    from torch.profiler import profile as tprof, ProfilerActivity
    fn = lib.lib.liger_attn_decode
    dec = []
    # Host times of every batch first, the profiler after them: torch.profiler may leave CUPTI attached to
    # the process (pytorch issue 144455), which makes every later CUDA runtime call cost more (run 25d).
    setups = []
    for N in (1, 16, 64):
        q = torch.randn(N, 1, Hq, D, device=dev, dtype=torch.bfloat16)
        k = torch.randn(N, 1, Hkv, D, device=dev, dtype=torch.bfloat16)
        v = torch.randn(N, 1, Hkv, D, device=dev, dtype=torch.bfloat16)
        o = torch.empty_like(q)
        cos, sin = rope_tables(100000, D)
        cache = {"state": torch.randn(N, Hkv, D, D, device=dev) * 0.01,
                 "win_k": torch.randn(N, Hkv, W - 1, D, device=dev), "win_v": torch.randn(N, Hkv, W - 1, D, device=dev),
                 "pos": torch.full((N,), 5000, dtype=torch.int64, device=dev)}
        p = attn_params(q, k, v, cos, sin, GLA, 1, 16.0, 0.5, W, o=o, cache_in=cache)
        ref = ctypes.byref(p)
        row = {"batch": N}
        steps = [0]  # decode steps run, to check the positions at the end

        def loop():
            steps[0] += 50
            return [lib.call("liger_attn_decode", p) for _ in range(50)]
        row["call_us"] = timed(loop, 5) * 1000 / 50

        def raw():
            steps[0] += 50
            bad = [st for st in (fn(ref) for _ in range(50)) if st != 0]
            if bad:
                raise RuntimeError(f"liger_attn_decode: status {bad[0]}: {lib.lib.liger_last_error().decode()}")
        row["raw_us"] = timed(raw, 5) * 1000 / 50
        hs = []
        for _ in range(5):
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            raw()
            hs.append((time.perf_counter() - t0) * 1e6 / 50)
        torch.cuda.synchronize()
        row["host_us"] = statistics.median(hs)
        # The same direct call timed one by one (perf_counter_ns around each call), in three states of
        # the GPU: idle (stream drained before each call), burst (50 calls after one drain: host_us's
        # loop), spin (50 calls queued behind a ~3 ms kernel that only waits); decode_host.cu does
        # the same in C++, part by part.
        def per_call(mode):
            ts = []
            for _ in range(10):
                torch.cuda.synchronize()
                if mode == "spin":
                    torch.cuda._sleep(6_000_000)
                for _ in range(50):
                    if mode == "idle":
                        torch.cuda.synchronize()
                    t0 = time.perf_counter_ns()
                    st = fn(ref)
                    ts.append((time.perf_counter_ns() - t0) / 1e3)
                    if st != 0:
                        raise RuntimeError(f"liger_attn_decode: status {st}: {lib.lib.liger_last_error().decode()}")
                steps[0] += 50
            torch.cuda.synchronize()
            firsts = [t for i, t in enumerate(ts) if i % 50 < 10]
            lasts = [t for i, t in enumerate(ts) if i % 50 >= 40]
            return {"median": statistics.median(ts), "mean": statistics.fmean(ts),
                    "first10": statistics.fmean(firsts), "last10": statistics.fmean(lasts)}
        row["host_per_call_us"] = {m: per_call(m) for m in ("idle", "burst", "spin")}
        has = lib.lib.liger_has_cuda
        t0 = time.perf_counter_ns()
        for _ in range(10000):
            has()
        row["ctypes_noop_us"] = (time.perf_counter_ns() - t0) / 1e3 / 10000  # a ctypes call that does nothing
        setups.append((N, q, k, v, o, cos, sin, cache, p, ref, row, steps))
    for N, q, k, v, o, cos, sin, cache, p, ref, row, steps in setups:
        with tprof(activities=[ProfilerActivity.CUDA]) as prof:
            for _ in range(20):
                fn(ref)
            torch.cuda.synchronize()
        steps[0] += 20
        kern = [e for e in prof.key_averages() if "k_dec" in e.key or "k_advance" in e.key]
        dt = lambda e: getattr(e, "device_time_total", None) or getattr(e, "cuda_time_total", 0.0)
        row["gpu_us"] = sum(dt(e) for e in kern) / 20
        row["kernels"] = {e.key[:80]: e.count / 20 for e in kern}
        # CUDA runtime calls seen by CUPTI (host side): average microseconds and count per decode call
        row["runtime_api"] = {e.key[:40]: [round(e.cpu_time_total / max(e.count, 1), 2), e.count / 20]
                              for e in prof.key_averages() if e.key.startswith("cuda")}
        try:
            g = torch.cuda.CUDAGraph()
            with torch.cuda.graph(g):
                pg = attn_params(q, k, v, cos, sin, GLA, 1, 16.0, 0.5, W, o=o, cache_in=cache)  # capture stream
                for _ in range(20):
                    lib.call("liger_attn_decode", pg)
            def replay():
                steps[0] += 20
                g.replay()
            row["graph_us"] = timed(replay, 10) * 1000 / 20
            del g
        except Exception as e:
            row["graph_error"] = repr(e)[:300]
        torch.cuda.synchronize()
        st, msg = lib.call("liger_attn_decode", p, expect_ok=False)  # no bad position was reported meanwhile
        row["status_after"] = st
        steps[0] += 1
        torch.cuda.synchronize()
        row["pos_ok"] = bool((cache["pos"] == 5000 + steps[0]).all())  # every step advanced every position once
        state_bytes = N * Hkv * D * D * 4 * 2 + N * Hkv * 2 * (W - 1) * D * 4
        best = min(row.get("graph_us", 1e9), row["raw_us"])
        row["cache_MB"] = state_bytes / 1e6
        row["gpu_TBps"] = state_bytes / (row["gpu_us"] * 1e-6) / 1e12 if row["gpu_us"] else 0.0
        row["decode_us"] = row["call_us"]
        row["TBps"] = state_bytes / (best * 1e-6) / 1e12
        dec.append(row)
        print(json.dumps(row), flush=True)
        del q, k, v, o, cache, p
    del setups
    return dec


def main():
    lib = Lib(sys.argv[1])
    quick = "--quick" in sys.argv
    ours_bwd = "--ours-bwd" in sys.argv
    fwd_fla = "--ours-fla" in sys.argv
    # --f16: q, k, v (and fla's and SDPA's inputs) in fp16 instead of bf16 (ours: the fp16 path, or with
    # LIGER_CUDA_F16_FAST=1 in the environment the bf16 fast forward)
    dt = torch.float16 if "--f16" in sys.argv else torch.bfloat16
    ours_only = "--ours" in sys.argv or ours_bwd or fwd_fla
    out_dir = os.environ.get("OUT", ".")
    rows = []

    try:
        sys.path.insert(0, os.environ.get("FLA_SRC", ""))
        from fla.ops.gla import chunk_gla
        fla_err = None
    except Exception as e:  # report, keep benchmarking ours
        chunk_gla, fla_err = None, repr(e)
        print("fla import failed:", fla_err, flush=True)

    from torch.nn.attention import sdpa_kernel, SDPBackend

    shapes = [(1, 2048), (1, 8192), (1, 32768), (1, 65536), (8, 2048), (8, 8192)]
    if quick:
        shapes = [(1, 2048), (1, 32768)]
    if ours_only and not fwd_fla:
        shapes = [(1, 2048), (1, 8192), (1, 32768)]
        chunk_gla = None
    if "--decode" in sys.argv:  # the decode alone
        shapes = []
    for B, T in shapes:
        torch.cuda.empty_cache()
        reps = 20 if B * T <= 65536 else 7
        q = torch.randn(B, T, Hq, D, device=dev, dtype=dt)
        k = torch.randn(B, T, Hkv, D, device=dev, dtype=dt)
        v = torch.randn(B, T, Hkv, D, device=dev, dtype=dt)
        o = torch.empty_like(q)
        cos, sin = rope_tables(T, D)
        pf = attn_params(q, k, v, cos, sin, GLA, 1, 16.0, 0.5, W, o=o)
        ours = timed(lambda: lib.call("liger_attn_forward", pf), reps)
        do = torch.randn_like(q)
        dq, dk, dv = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
        pb = attn_params(q, k, v, cos, sin, GLA, 1, 16.0, 0.5, W, do=do, dq=dq, dk=dk, dv=dv)
        row = {"B": B, "T": T, "dtype": str(dt).split(".")[-1],
               "f16_fast": os.environ.get("LIGER_CUDA_F16_FAST") == "1", "ours_fwd_ms": ours,
               "ours_fwd_TBps": fwd_bytes(B, T) / ours / 1e9, "ours_fwd_TFLOPs": fwd_flops(B, T) / ours / 1e9}
        if not ours_only or ours_bwd:
            row["ours_fwdbwd_ms"] = ours + timed(lambda: lib.call("liger_attn_backward", pb), max(3, reps // 2))
            # the chunk states kept from the forward for the backward (liger_attn_params.saved), which then does not
            # recompute them (fla's chunk_gla, as fetched, recomputes its states in the backward and keeps its
            # intra-chunk scores instead)
            n = lib.saved_numel(pf)
            if n:
                saved = torch.empty(n, device=dev, dtype=torch.float32)
                pfs = attn_params(q, k, v, cos, sin, GLA, 1, 16.0, 0.5, W, o=o, saved=saved)
                pbs = attn_params(q, k, v, cos, sin, GLA, 1, 16.0, 0.5, W, do=do, dq=dq, dk=dk, dv=dv, saved=saved)
                row["ours_fwdbwd_saved_ms"] = (timed(lambda: lib.call("liger_attn_forward", pfs), reps) +
                                               timed(lambda: lib.call("liger_attn_backward", pbs), max(3, reps // 2)))
                row["saved_MB"] = n * 4 / 2**20
                del pfs, pbs, saved
        del pf, pb
        if chunk_gla is not None:
            try:
                fq = torch.randn(B, T, Hq, D, device=dev, dtype=dt)
                fk = torch.randn(B, T, Hq, D, device=dev, dtype=dt)
                fv = torch.randn(B, T, Hq, D, device=dev, dtype=dt)
                fg = F.logsigmoid(torch.randn(B, T, Hq, D, device=dev)).div(16).to(dt)
                row["fla_fwd_ms"] = timed(lambda: chunk_gla(fq, fk, fv, fg), reps)
                row["ours_vs_fla_fwd"] = row["fla_fwd_ms"] / ours
                if not fwd_fla:
                    leaves = [x.clone().requires_grad_(True) for x in (fq, fk, fv, fg)]
                    fdo = torch.randn_like(fq)

                    def fb():
                        for x in leaves:
                            x.grad = None
                        o_, _ = chunk_gla(*leaves)
                        o_.backward(fdo)
                    row["fla_fwdbwd_ms"] = timed(fb, max(3, reps // 2))
                    del leaves
                del fq, fk, fv, fg
            except Exception as e:
                row["fla_error"] = repr(e)[:200]
        if ours_only:
            del q, k, v, o, do, dq, dk, dv
            rows.append(row)
            print(json.dumps(row), flush=True)
            continue
        sq = q.transpose(1, 2).contiguous()
        sk = torch.randn(B, Hq, T, D, device=dev, dtype=dt)
        sv = torch.randn(B, Hq, T, D, device=dev, dtype=dt)
        for name, be in (("sdpa_flash", SDPBackend.FLASH_ATTENTION), ("sdpa_cudnn", SDPBackend.CUDNN_ATTENTION)):
            try:
                with sdpa_kernel([be]):
                    row[name + "_fwd_ms"] = timed(lambda: F.scaled_dot_product_attention(sq, sk, sv, is_causal=True),
                                                  max(3, reps // 4), warm=2)
            except Exception as e:
                row[name + "_error"] = repr(e)[:200]
        del sq, sk, sv, q, k, v, o, do, dq, dk, dv
        rows.append(row)
        print(json.dumps(row), flush=True)

    dec = [] if "--no-decode" in sys.argv else decode_bench(lib)
    # last: torch.profiler may leave CUPTI attached to the process, which adds host time to every later CUDA call
    # (the per-call times above hold the host's time to the first launch)
    if "--profile" in sys.argv:
        profile(lib, 1, 8192)

    with open(os.path.join(out_dir, "bench_cuda.json"), "w") as f:
        json.dump({"device": torch.cuda.get_device_name(), "rows": rows, "decode": dec, "fla_error": fla_err}, f, indent=1)

    print("\n| B | T | ours fwd ms | TB/s | TFLOP/s | ours fwd+bwd ms | ours fwd+bwd, states saved ms (MB) | fla fwd ms | "
          "fla fwd+bwd ms | SDPA flash ms | SDPA cuDNN ms |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        g = lambda key: f"{r[key]:.3f}" if key in r else "-"
        sv = f"{g('ours_fwdbwd_saved_ms')} ({r['saved_MB']:.0f})" if "saved_MB" in r else "-"
        print(f"| {r['B']} | {r['T']} | {g('ours_fwd_ms')} | {r['ours_fwd_TBps']:.2f} | {r['ours_fwd_TFLOPs']:.1f} | "
              f"{g('ours_fwdbwd_ms')} | {sv} | {g('fla_fwd_ms')} | {g('fla_fwdbwd_ms')} | {g('sdpa_flash_fwd_ms')} | "
              f"{g('sdpa_cudnn_fwd_ms')} |")
    print("\n| decode batch | Lib.call loop us | direct loop us | host us/call | GPU kernels us | graph step us | cache MB | GPU TB/s |")
    print("|---|---|---|---|---|---|---|---|")
    for d in dec:
        gr = f"{d['graph_us']:.1f}" if "graph_us" in d else "-"
        print(f"| {d['batch']} | {d['call_us']:.1f} | {d['raw_us']:.1f} | {d['host_us']:.1f} | {d['gpu_us']:.1f} | {gr} | "
              f"{d['cache_MB']:.1f} | {d['gpu_TBps']:.2f} |")
    print("\n| decode batch | ctypes no-op us | direct call us: idle median | burst median (first 10 / last 10 mean) | behind a spin kernel median |")
    print("|---|---|---|---|---|")
    for d in dec:
        h = d["host_per_call_us"]
        print(f"| {d['batch']} | {d['ctypes_noop_us']:.2f} | {h['idle']['median']:.2f} | {h['burst']['median']:.2f} "
              f"({h['burst']['first10']:.2f} / {h['burst']['last10']:.2f}) | {h['spin']['median']:.2f} |")


if __name__ == "__main__":
    main()
