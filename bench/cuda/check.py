"""GPU correctness check of the CUDA kernels through the C ABI against float64 references.

Usage: python3 check.py path/to/libliger_dev.so
Fresh random inputs every run; outputs are poisoned (NaN) before each call, so an unwritten element
fails. Prints one line per case and exits non-zero when any case fails.

With LIGER_CUDA_SMEM_LIMIT set (bytes: 166912 for an A100, 101376 for sm_86 / sm_89), the library plans
its kernels for that much shared memory per block, as on a smaller GPU; a case whose call the library
then refuses as UNSUPPORTED for want of shared memory is listed as SKIP (with the library's message),
not failed, and the summary counts them.
"""
import math
import os
import sys

import torch
import torch.nn.functional as F

import contextlib

import liger_abi
from liger_abi import Lib, gla_params, attn_params, GLA, HGRN2, F16_ACCURATE, F16_FAST, poison, rope_tables, seq_list

torch.backends.cuda.matmul.allow_tf32 = False
dev = "cuda"
TOL = {torch.float32: 2e-4, torch.bfloat16: 1.5e-2, torch.float16: 3e-3}
results = []


def rel(a, b):
    a, b = a.double(), b.double()
    if not torch.isfinite(a).all():
        return float("inf")
    return ((a - b).norm() / b.norm().clamp_min(1e-30)).item()


def report(name, errs, dtype, tol=None):
    tol = tol or TOL[dtype]
    worst = max(errs.values())
    ok = worst <= tol
    results.append(ok)
    detail = " ".join(f"{k}={v:.2e}" for k, v in errs.items())
    print(f"{'PASS' if ok else 'FAIL'} {name} [{str(dtype).split('.')[-1]}] {detail} (tol {tol:.0e})", flush=True)






def strided(shape, dtype, mode):
    """Random tensor [B,T,H,D] in the given layout: contiguous, head-major (transposed) or stride-2 D."""
    B, T, H, D = shape
    if mode == "contig":
        return torch.randn(B, T, H, D, device=dev).to(dtype)
    if mode == "headmajor":
        return torch.randn(B, H, T, D, device=dev).to(dtype).transpose(1, 2)
    return torch.randn(B, T, H, 2 * D, device=dev).to(dtype)[..., ::2]


# ------------------------------------------------------------------ references (float64)
def ref_gla(q, k, v, g, scale, h0, cu):
    B, T, Hq, Dk = q.shape
    Hkv, Dv = k.shape[2], v.shape[3]
    grp = Hq // Hkv
    outs = {}
    hts = []
    for n, (b, s, e) in enumerate(seq_list(B, T, cu)):
        S = h0[n] if h0 is not None else torch.zeros(Hkv, Dk, Dv, dtype=q.dtype, device=dev)
        for t in range(s, e):
            S = S * g[b, t].exp()[..., None] + k[b, t][:, :, None] * v[b, t][:, None, :]
            outs[(b, t)] = scale * torch.einsum("hd,hde->he", q[b, t], S.repeat_interleave(grp, 0))
        hts.append(S)
    o = torch.stack([torch.stack([outs[(b, t)] for t in range(T)]) for b in range(B)])
    return o, torch.stack(hts)


def rope(x, c, s):
    h = x.shape[-1] // 2
    x1, x2 = x[..., :h], x[..., h:]
    return torch.cat([x1 * c - x2 * s, x2 * c + x1 * s], -1)


def ref_attn(q, k, v, cos, sin, variant, use_gate, gn, mix, W, cu, cache=None):
    """Returns o and the cache after the last token (state, window list, pos) per sequence."""
    B, T, Hq, D = q.shape
    Hkv = k.shape[2]
    grp = Hq // Hkv
    scale = D ** -0.5
    cos, sin = cos.double(), sin.double()
    outs = {}
    caches = []
    for n, (b, s, e) in enumerate(seq_list(B, T, cu)):
        if cache is not None:
            S = cache["state"][n].double()
            p0 = int(cache["pos"][n])
            keys = []
            for p in range(max(0, p0 - (W - 1)), p0):
                slot = p % (W - 1)
                keys.append((p, cache["win_k"][n, :, slot].double(), cache["win_v"][n, :, slot].double()))
        else:
            S = torch.zeros(Hkv, D, D, dtype=torch.float64, device=dev)
            p0, keys = 0, []
        for t in range(s, e):
            p = p0 + t - s
            kt, qt, vt = k[b, t], q[b, t], v[b, t]
            if variant == GLA:
                fk = torch.softmax(kt, -1)
                gt = F.logsigmoid(kt) / gn
            else:
                fk = 1 - torch.sigmoid(kt)
                gt = F.logsigmoid(kt)
            if not use_gate:
                gt = torch.zeros_like(gt)
            S = S * gt.exp()[..., None] + fk[:, :, None] * vt[:, None, :]
            og = torch.einsum("hd,hde->he", torch.softmax(qt, -1), S.repeat_interleave(grp, 0))
            if mix < 1:
                qr, kr = rope(qt, cos[p], sin[p]), rope(kt, cos[p], sin[p])
                keys.append((p, kr, vt))
                keys = [x for x in keys if x[0] > p - W]
                K = torch.stack([x[1] for x in keys]).repeat_interleave(grp, 1)
                V = torch.stack([x[2] for x in keys]).repeat_interleave(grp, 1)
                P = torch.softmax(torch.einsum("hd,khd->hk", qr, K) * scale, -1)
                osw = torch.einsum("hk,khd->hd", P, V)
                outs[(b, t)] = mix * og + (1 - mix) * osw
            else:
                outs[(b, t)] = og
        caches.append((S, keys, p0 + e - s))
    o = torch.stack([torch.stack([outs[(b, t)] for t in range(T)]) for b in range(B)])
    return o, caches




def new_cache(N, Hkv, D, W):
    c = {"state": poison(N, Hkv, D, D, dtype=torch.float32), "pos": torch.full((N,), -7, dtype=torch.int64, device=dev)}
    if W > 1:
        c["win_k"] = poison(N, Hkv, W - 1, D, dtype=torch.float32)
        c["win_v"] = poison(N, Hkv, W - 1, D, dtype=torch.float32)
    return c


def check_cache(name, cache, ref_caches, W, dtype):
    errs = {}
    errs["state"] = rel(cache["state"], torch.stack([c[0] for c in ref_caches]))
    pos_ok = all(int(cache["pos"][n]) == c[2] for n, c in enumerate(ref_caches))
    errs["pos"] = 0.0 if pos_ok else float("inf")
    if W > 1:
        kk, vv, rk, rv = [], [], [], []
        for n, (_, keys, _) in enumerate(ref_caches):
            for p, kr, vt in keys[-(W - 1):]:
                if p < ref_caches[n][2] - (W - 1):
                    continue
                slot = p % (W - 1)
                kk.append(cache["win_k"][n, :, slot]); vv.append(cache["win_v"][n, :, slot])
                rk.append(kr); rv.append(vt)
        if kk:
            errs["win_k"] = rel(torch.stack(kk), torch.stack(rk))
            errs["win_v"] = rel(torch.stack(vv), torch.stack(rv))
    report(name + " cache", errs, dtype, tol=max(TOL[dtype], 2e-4))


# ------------------------------------------------------------------ plain GLA
def case_gla(lib, dtype, B, T, Hq, Hkv, Dk, Dv, cu=None, layout="contig", gate=0.3, grads=False, states=True):
    name = f"gla B={B} T={T} Hq={Hq} Hkv={Hkv} Dk={Dk} Dv={Dv} cu={cu is not None} {layout} gate={gate}"
    q = strided((B, T, Hq, Dk), dtype, layout)
    k = strided((B, T, Hkv, Dk), dtype, layout)
    v = strided((B, T, Hkv, Dv), dtype, layout)
    g = (-gate * torch.rand(B, T, Hkv, Dk, device=dev)).float()
    N = B if cu is None else cu.numel() - 1
    h0 = torch.randn(N, Hkv, Dk, Dv, device=dev) if states else None
    scale = Dk ** -0.5
    o = poison(B, T, Hq, Dv, dtype=dtype)
    ht = poison(N, Hkv, Dk, Dv, dtype=torch.float32) if states else None
    lib.call("liger_gla_forward", gla_params(q, k, v, g, scale, o=o, cu=cu, h0=h0, ht=ht))
    torch.cuda.synchronize()
    qd, kd, vd, gd = (x.double().requires_grad_(grads) for x in (q, k, v, g))
    h0d = h0.double().requires_grad_(grads) if states else None
    ro, rht = ref_gla(qd, kd, vd, gd, scale, h0d, cu)
    errs = {"o": rel(o, ro)}
    if states:
        errs["ht"] = rel(ht, rht)
    report(name + " fwd", errs, dtype)
    if not grads:
        return
    do = torch.randn(B, T, Hq, Dv, device=dev).to(dtype)
    dht = torch.randn(N, Hkv, Dk, Dv, device=dev) if states else None
    dq, dk, dv = poison(B, T, Hq, Dk, dtype=dtype), poison(B, T, Hkv, Dk, dtype=dtype), poison(B, T, Hkv, Dv, dtype=dtype)
    dg = poison(B, T, Hkv, Dk, dtype=torch.float32)
    dh0 = poison(N, Hkv, Dk, Dv, dtype=torch.float32) if states else None
    lib.call("liger_gla_backward", gla_params(q, k, v, g, scale, cu=cu, h0=h0, do=do, dht=dht, dq=dq, dk=dk, dv=dv,
                                              dg=dg, dh0=dh0))
    torch.cuda.synchronize()
    loss = (ro * do.double()).sum() + ((rht * dht).sum() if states else 0)
    loss.backward()
    errs = {"dq": rel(dq, qd.grad), "dk": rel(dk, kd.grad), "dv": rel(dv, vd.grad), "dg": rel(dg, gd.grad)}
    if states:
        errs["dh0"] = rel(dh0, h0d.grad)
    report(name + " bwd", errs, dtype, tol=TOL[dtype] * 2)


# ------------------------------------------------------------------ fused attention
def case_attn(lib, dtype, B, T, Hq, Hkv, D, variant=GLA, use_gate=1, mix=0.5, W=64, cu=None, layout="contig",
              grads=False, with_cache=True, gn=16.0, kmul=1.0):
    name = (f"attn B={B} T={T} Hq={Hq} Hkv={Hkv} D={D} {'GLA' if variant == GLA else 'HGRN2'} gate={use_gate} "
            f"mix={mix} W={W} cu={cu is not None} {layout}" + (f" N={gn} k*{kmul}" if kmul != 1.0 else ""))
    q = strided((B, T, Hq, D), dtype, layout)
    k = strided((B, T, Hkv, D), dtype, layout)
    if kmul != 1.0:  # strong gates: logsigmoid(k) / N far below zero
        k = (k.float() * kmul).to(dtype)
    v = strided((B, T, Hkv, D), dtype, layout)
    cos, sin = rope_tables(T + 8, D)
    N = B if cu is None else cu.numel() - 1
    o = poison(B, T, Hq, D, dtype=dtype)
    cache = new_cache(N, Hkv, D, W) if with_cache else None
    lib.call("liger_attn_forward", attn_params(q, k, v, cos, sin, variant, use_gate, gn, mix, W, o=o, cu=cu,
                                               cache_out=cache))
    torch.cuda.synchronize()
    qd, kd, vd = (x.double().requires_grad_(grads) for x in (q, k, v))
    ro, rc = ref_attn(qd, kd, vd, cos, sin, variant, use_gate, gn, mix, W, cu)
    report(name + " fwd", {"o": rel(o, ro)}, dtype)
    if with_cache:
        check_cache(name, cache, [(c[0].detach(), [(p, a.detach(), b.detach()) for p, a, b in c[1]], c[2]) for c in rc],
                    W if mix < 1 else 1, dtype)
    if not grads:
        return
    do = torch.randn(B, T, Hq, D, device=dev).to(dtype)
    dq, dk, dv = poison(B, T, Hq, D, dtype=dtype), poison(B, T, Hkv, D, dtype=dtype), poison(B, T, Hkv, D, dtype=dtype)
    lib.call("liger_attn_backward", attn_params(q, k, v, cos, sin, variant, use_gate, gn, mix, W, cu=cu, do=do,
                                                dq=dq, dk=dk, dv=dv))
    torch.cuda.synchronize()
    (ro * do.double()).sum().backward()
    report(name + " bwd", {"dq": rel(dq, qd.grad), "dk": rel(dk, kd.grad), "dv": rel(dv, vd.grad)}, dtype,
           tol=TOL[dtype] * 2)


def case_continue_and_decode(lib, dtype, N, T0, T1, Hq, Hkv, D, W=64, mix=0.5, variant=GLA):
    """Prefill T0 tokens, continue with T1 tokens from the cache, then decode T1 tokens one by one from the
    same prefill cache: both must equal one forward over all T0 + T1 tokens."""
    name = f"continue/decode N={N} T0={T0} T1={T1} Hq={Hq} Hkv={Hkv} D={D} W={W} mix={mix}"
    T = T0 + T1
    q = torch.randn(N, T, Hq, D, device=dev).to(dtype)
    k = torch.randn(N, T, Hkv, D, device=dev).to(dtype)
    v = torch.randn(N, T, Hkv, D, device=dev).to(dtype)
    cos, sin = rope_tables(T + 4, D)
    full = poison(N, T, Hq, D, dtype=dtype)
    lib.call("liger_attn_forward", attn_params(q, k, v, cos, sin, variant, 1, 16.0, mix, W, o=full))
    ref, _ = ref_attn(q.double(), k.double(), v.double(), cos, sin, variant, 1, 16.0, mix, W, None)
    report(name + " full", {"o": rel(full, ref)}, dtype)
    c0 = new_cache(N, Hkv, D, W if mix < 1 else 1)  # mix == 1: no window ring in the cache
    o0 = poison(N, T0, Hq, D, dtype=dtype)
    lib.call("liger_attn_forward", attn_params(q[:, :T0], k[:, :T0], v[:, :T0], cos, sin, variant, 1, 16.0, mix, W,
                                               o=o0, cache_out=c0))
    c1 = {key: val.clone() for key, val in c0.items()}
    o1 = poison(N, T1, Hq, D, dtype=dtype)
    # continue in place: cache_in and cache_out are the same tensors
    lib.call("liger_attn_forward", attn_params(q[:, T0:], k[:, T0:], v[:, T0:], cos, sin, variant, 1, 16.0, mix, W,
                                               o=o1, cache_in=c1, cache_out=c1))
    torch.cuda.synchronize()
    report(name + " continue", {"o0": rel(o0, ref[:, :T0]), "o1": rel(o1, ref[:, T0:])}, dtype)
    steps = []
    for t in range(T0, T):
        od = poison(N, 1, Hq, D, dtype=dtype)
        lib.call("liger_attn_decode", attn_params(q[:, t:t + 1], k[:, t:t + 1], v[:, t:t + 1], cos, sin, variant, 1,
                                                  16.0, mix, W, o=od, cache_in=c0))
        steps.append(od)
    torch.cuda.synchronize()
    dec = torch.cat(steps, 1)
    report(name + " decode", {"o": rel(dec, ref[:, T0:]), "vs_prefill": rel(dec, full[:, T0:]),
                              "state": rel(c0["state"], c1["state"])}, dtype)
    errs = {"pos": 0.0 if torch.equal(c0["pos"], torch.full((N,), T, device=dev)) else float("inf")}
    report(name + " decode pos", errs, dtype)


def case_errors(lib):
    q = torch.randn(1, 10, 2, 64, device=dev)
    k = torch.randn(1, 10, 2, 64, device=dev)
    g = -torch.rand(1, 10, 2, 64, device=dev)
    o = torch.empty_like(q)
    bad_cu = torch.tensor([0, 6, 3, 10], device=dev)
    st, msg = lib.call("liger_gla_forward", gla_params(q, k, k, g, 0.125, o=o, cu=bad_cu), expect_ok=False)
    ok1 = st == 1 and "cu_seqlens" in msg
    host = torch.randn(1, 10, 2, 64)
    st2, msg2 = lib.call("liger_gla_forward", gla_params(host, k, k, g, 0.125, o=o), expect_ok=False)
    ok2 = st2 == 1 and "q" in msg2
    cos, sin = rope_tables(4, 64)  # too few RoPE rows for 10 tokens
    st3, msg3 = lib.call("liger_attn_forward", attn_params(q, k, k, cos, sin, o=o), expect_ok=False)
    ok3 = st3 == 1 and "rope" in msg3
    # Decode positions are checked on the device (no host copy, no synchronisation): a bad one makes that
    # sequence's outputs NaN and leaves its cache alone; the next decode call reports it.
    N, W = 3, 8
    cos, sin = rope_tables(32, 64)
    qd = torch.randn(N, 1, 4, 64, device=dev).to(torch.bfloat16)
    kd = torch.randn(N, 1, 2, 64, device=dev).to(torch.bfloat16)
    cache = {"state": torch.zeros(N, 2, 64, 64, device=dev), "win_k": torch.zeros(N, 2, W - 1, 64, device=dev),
             "win_v": torch.zeros(N, 2, W - 1, 64, device=dev),
             "pos": torch.tensor([3, -5, 32], dtype=torch.int64, device=dev)}
    od = torch.zeros(N, 1, 4, 64, device=dev).to(torch.bfloat16)
    pd = attn_params(qd, kd, kd, cos, sin, GLA, 1, 16.0, 0.5, W, o=od, cache_in=cache)
    st4, _ = lib.call("liger_attn_decode", pd, expect_ok=False)
    torch.cuda.synchronize()
    ok4 = (st4 == 0 and bool(od[1:].isnan().all()) and bool(torch.isfinite(od[0].float()).all())
           and cache["pos"].tolist() == [4, -5, 32] and float(cache["state"][1:].abs().sum()) == 0.0)
    st5, msg5 = lib.call("liger_attn_decode", pd, expect_ok=False)
    ok5 = st5 == 1 and ("pos[1] = -5" in msg5 or "pos[2] = 32" in msg5)
    cos, sin = rope_tables(16, 64)
    st6, msg6 = lib.call("liger_attn_forward", attn_params(q, k, k, cos, sin, o=o, f16_mode=9), expect_ok=False)
    ok6 = st6 == 1 and "f16_mode = 9" in msg6
    for ok, what, m in ((ok1, "decreasing cu_seqlens", msg), (ok2, "host pointer", msg2), (ok3, "short RoPE", msg3),
                        (ok4, "bad decode position: NaN outputs, cache kept", f"status {st4}"),
                        (ok5, "bad decode position reported by the next call", msg5),
                        (ok6, "unknown f16_mode", msg6)):
        results.append(ok)
        print(f"{'PASS' if ok else 'FAIL'} error: {what} -> {m!r}", flush=True)


def case_saved(lib, dtype, B, T, Hq, Hkv, D, cu=None):
    """Forward and backward through liger_attn_params.saved against the same calls without it (the backward then
    recomputes the chunk states) and the float64 reference; the size query and its refusals."""
    name = f"saved B={B} T={T} Hq={Hq} Hkv={Hkv} D={D} cu={cu is not None}"
    q = torch.randn(B, T, Hq, D, device=dev).to(dtype)
    k = torch.randn(B, T, Hkv, D, device=dev).to(dtype)
    v = torch.randn(B, T, Hkv, D, device=dev).to(dtype)
    cos, sin = rope_tables(T + 8, D)
    o0, o1 = poison(B, T, Hq, D, dtype=dtype), poison(B, T, Hq, D, dtype=dtype)
    pf = attn_params(q, k, v, cos, sin, o=o1, cu=cu)
    n = lib.saved_numel(pf)
    nch = sum(-(-(e - s) // 64) for _, s, e in seq_list(B, T, cu))
    ok_n = n == (nch + 1) * Hkv * (D * D // 2 + D)
    saved = poison(n, dtype=torch.float32)
    lib.call("liger_attn_forward", attn_params(q, k, v, cos, sin, o=o0, cu=cu))
    lib.call("liger_attn_forward", attn_params(q, k, v, cos, sin, o=o1, cu=cu, saved=saved))
    do = torch.randn(B, T, Hq, D, device=dev).to(dtype)
    grads = []
    for sv in (None, saved):
        dq, dk, dv = poison(B, T, Hq, D, dtype=dtype), poison(B, T, Hkv, D, dtype=dtype), poison(B, T, Hkv, D, dtype=dtype)
        lib.call("liger_attn_backward", attn_params(q, k, v, cos, sin, cu=cu, do=do, dq=dq, dk=dk, dv=dv, saved=sv))
        grads.append((dq, dk, dv))
    torch.cuda.synchronize()
    qd, kd, vd = (x.double().requires_grad_(True) for x in (q, k, v))
    ro, _ = ref_attn(qd, kd, vd, cos, sin, GLA, 1, 16.0, 0.5, 64, cu)
    (ro * do.double()).sum().backward()
    same_o = bool(torch.equal(o0, o1))
    print(f"{'PASS' if ok_n else 'FAIL'} {name} numel {n} for {nch} chunks", flush=True)
    print(f"{'PASS' if same_o else 'FAIL'} {name} forward with saved == forward without", flush=True)
    results.extend([ok_n, same_o])
    (dq0, dk0, dv0), (dq1, dk1, dv1) = grads
    # the window gradients are summed by atomics: two backwards agree to rounding, not bit for bit
    report(name + " bwd with saved vs without", {"dq": rel(dq1, dq0), "dk": rel(dk1, dk0), "dv": rel(dv1, dv0)}, dtype,
           tol=1e-3)
    report(name + " bwd with saved", {"dq": rel(dq1, qd.grad), "dk": rel(dk1, kd.grad), "dv": rel(dv1, vd.grad)}, dtype,
           tol=TOL[dtype] * 2)
    # refusals: a buffer one element short, saved beside cache_in, saved in decode; fp32 inputs keep nothing
    st1, m1 = lib.call("liger_attn_backward", attn_params(q, k, v, cos, sin, cu=cu, do=do, dq=dq1, dk=dk1, dv=dv1,
                                                         saved=saved[:-1]), expect_ok=False)
    cache = new_cache(B if cu is None else cu.numel() - 1, Hkv, D, 64)  # refused before it is read
    st2, m2 = lib.call("liger_attn_forward", attn_params(q, k, v, cos, sin, o=o1, cu=cu, cache_in=cache, saved=saved),
                       expect_ok=False)
    n32 = lib.saved_numel(attn_params(q.float(), k.float(), v.float(), cos, sin, o=o1.float(), cu=cu))
    n_mix1 = lib.saved_numel(attn_params(q, k, v, cos, sin, mix=1.0, o=o1, cu=cu))
    for ok, what, m in ((st1 == 1 and "saved has" in m1, "saved one element short", m1),
                        (st2 == 1 and "saved" in m2 and "cache_in" in m2, "saved with cache_in", m2),
                        (n32 == 0 and n_mix1 == 0, "no saved states for fp32 inputs or mix = 1", f"{n32}, {n_mix1}")):
        results.append(ok)
        print(f"{'PASS' if ok else 'FAIL'} error: {what} -> {m!r}", flush=True)


def case_cpu_vs_cuda(lib, dtype, B, T, Hq, Hkv, D, cu=None, variant=GLA):
    """The same call on the CPU backend (host tensors) and on CUDA: forward, cache and gradients agree."""
    from liger_abi import CPU
    name = f"cpu-vs-cuda B={B} T={T} Hq={Hq} Hkv={Hkv} D={D} cu={cu is not None} {'GLA' if variant == GLA else 'HGRN2'}"
    q = torch.randn(B, T, Hq, D, device=dev).to(dtype)
    k = torch.randn(B, T, Hkv, D, device=dev).to(dtype)
    v = torch.randn(B, T, Hkv, D, device=dev).to(dtype)
    do = torch.randn(B, T, Hq, D, device=dev).to(dtype)
    cos, sin = rope_tables(T + 8, D)
    N = B if cu is None else cu.numel() - 1
    outs = {}
    for where in ("cpu", "cuda"):
        cast = (lambda x: x.cpu()) if where == "cpu" else (lambda x: x)
        qq, kk, vv, dd, cc, ss = (cast(x) for x in (q, k, v, do, cos, sin))
        cuu = cast(cu) if cu is not None else None
        o = torch.full_like(qq, float("nan"))
        cache = {key: cast(val) for key, val in new_cache(N, Hkv, D, 64).items()}
        p = attn_params(qq, kk, vv, cc, ss, variant, 1, 16.0, 0.5, 64, o=o, cu=cuu, cache_out=cache)
        if where == "cpu":
            p.device, p.stream = CPU, None
        lib.call("liger_attn_forward", p)
        dq, dk, dv = torch.full_like(qq, float("nan")), torch.full_like(kk, float("nan")), torch.full_like(vv, float("nan"))
        p = attn_params(qq, kk, vv, cc, ss, variant, 1, 16.0, 0.5, 64, cu=cuu, do=dd, dq=dq, dk=dk, dv=dv)
        if where == "cpu":
            p.device, p.stream = CPU, None
        lib.call("liger_attn_backward", p)
        torch.cuda.synchronize()
        outs[where] = {"o": o, "state": cache["state"], "win_k": cache["win_k"], "dq": dq, "dk": dk, "dv": dv}
    errs = {key: rel(outs["cuda"][key].cpu(), outs["cpu"][key]) for key in outs["cpu"] if key != "win_k"}
    report(name, errs, dtype, tol=TOL[dtype] * 2)


SMEM_LIMIT = os.environ.get("LIGER_CUDA_SMEM_LIMIT")
skipped = []


def unsupported_for_smem(f):
    """Under LIGER_CUDA_SMEM_LIMIT: a case the library refuses for want of shared memory is a SKIP."""
    def run(*args, **kw):
        try:
            return f(*args, **kw)
        except RuntimeError as e:
            if not (SMEM_LIMIT and ": UNSUPPORTED: " in str(e) and "shared memory" in str(e)):
                raise
            shape = ", ".join(str(x).replace("torch.", "") for x in args[1:])
            skipped.append(f"{f.__name__}({shape})")
            print(f"SKIP {f.__name__}({shape}) {kw}: {e}", flush=True)
    return run


if SMEM_LIMIT:
    case_gla, case_attn = unsupported_for_smem(case_gla), unsupported_for_smem(case_attn)
    case_continue_and_decode = unsupported_for_smem(case_continue_and_decode)
    case_cpu_vs_cuda = unsupported_for_smem(case_cpu_vs_cuda)


@contextlib.contextmanager
def per_call_f16_mode(mode):
    """Every attn_params made inside carries f16_mode = mode (the cases build their own parameters)."""
    liger_abi.ATTN_F16_MODE = mode
    try:
        yield
    finally:
        liger_abi.ATTN_F16_MODE = liger_abi.F16_DEFAULT


def f16_fast_cases(lib, cu):
    """fp16 attention through the fast forward and backward (bf16 tiles: LIGER_CUDA_F16_FAST=1, or f16_mode FAST per
    call), held to bf16's tolerances; the cases bf16 has (general layouts, element-wise diagonal blocks, no window
    branch, a one-key window, HGRN2, a continued prefill and decode)."""
    f16, keep = torch.float16, TOL[torch.float16]
    TOL[f16] = TOL[torch.bfloat16]
    case_attn(lib, f16, 2, 150, 4, 4, 64, grads=True)
    case_attn(lib, f16, 1, 301, 8, 2, 128, cu=cu, layout="headmajor", grads=True)
    case_attn(lib, f16, 1, 100, 4, 2, 64, mix=1.0, grads=True)
    case_attn(lib, f16, 1, 100, 4, 2, 64, mix=0.0, W=1, grads=True)
    case_attn(lib, f16, 1, 200, 8, 2, 128, gn=1.0, kmul=8.0)
    case_attn(lib, f16, 1, 200, 8, 2, 128, gn=1.0, kmul=8.0, grads=True, with_cache=False)
    case_attn(lib, f16, 2, 130, 8, 2, 128, layout="stride2", grads=True)
    case_attn(lib, f16, 2, 130, 8, 1, 128, variant=HGRN2, grads=True)
    case_continue_and_decode(lib, f16, 2, 5, 70, 4, 4, 64, W=16)
    TOL[f16] = keep


def case_f16_modes(lib, B=1, T=300, Hq=8, Hkv=2, D=128):
    """One fp16 input through f16_mode ACCURATE and FAST in the same process: each within its own accuracy (fp16's,
    bf16's) of float64, and the two forward outputs not equal (two different kernel families ran). The forward is
    deterministic; the backward's window gradients are summed by atomics, so only o shows which kernels ran."""
    f16 = torch.float16
    q, k, v = (torch.randn(B, T, H, D, device=dev).to(f16) for H in (Hq, Hkv, Hkv))
    do = torch.randn(B, T, Hq, D, device=dev).to(f16)
    cos, sin = rope_tables(T, D)
    qd, kd, vd = (x.double().requires_grad_(True) for x in (q, k, v))
    ro, _ = ref_attn(qd, kd, vd, cos, sin, GLA, 1, 16.0, 0.5, 64, None)
    (ro * do.double()).sum().backward()
    outs = {}
    for mode, tol in ((F16_ACCURATE, TOL[f16]), (F16_FAST, TOL[torch.bfloat16])):
        o = poison(B, T, Hq, D, dtype=f16)
        dq, dk, dv = poison(B, T, Hq, D, dtype=f16), poison(B, T, Hkv, D, dtype=f16), poison(B, T, Hkv, D, dtype=f16)
        lib.call("liger_attn_forward", attn_params(q, k, v, cos, sin, o=o, f16_mode=mode))
        lib.call("liger_attn_backward", attn_params(q, k, v, cos, sin, do=do, dq=dq, dk=dk, dv=dv, f16_mode=mode))
        torch.cuda.synchronize()
        name = f"f16_mode {'ACCURATE' if mode == F16_ACCURATE else 'FAST'} B={B} T={T} Hq={Hq} Hkv={Hkv} D={D}"
        report(name, {"o": rel(o, ro), "dq": rel(dq, qd.grad), "dk": rel(dk, kd.grad), "dv": rel(dv, vd.grad)}, f16,
               tol=tol * 2)
        outs[mode] = (o, dq, dk, dv)
    same = torch.equal(outs[F16_ACCURATE][0], outs[F16_FAST][0])
    # below the bf16 forward's shared memory (k_fout: 218624 bytes at D = 128) FAST's forward is the fp32-tile one too
    fast_fits = not SMEM_LIMIT or int(SMEM_LIMIT) >= 218624
    ok = same != fast_fits
    results.append(ok)
    want = "different forward kernels" if fast_fits else "the same fp32-tile forward (the bf16 one does not fit)"
    print(f"{'PASS' if ok else 'FAIL'} f16_mode ACCURATE and FAST ran {want} (o equal: {same})", flush=True)


def main():
    lib = Lib(sys.argv[1])
    if SMEM_LIMIT:
        print(f"LIGER_CUDA_SMEM_LIMIT={SMEM_LIMIT}: kernels planned for that much shared memory per block", flush=True)
    torch.manual_seed(int(torch.randint(0, 1 << 30, (1,))))
    cu = torch.tensor([0, 37, 37, 200, 301], device=dev)
    if os.environ.get("LIGER_CUDA_F16_FAST") == "1":
        print("LIGER_CUDA_F16_FAST=1: the fp16 cases through the fast forward, at bf16's tolerances", flush=True)
        f16_fast_cases(lib, cu)
        # f16_mode ACCURATE per call overrides the environment: fp16's own tolerances
        with per_call_f16_mode(F16_ACCURATE):
            case_attn(lib, torch.float16, 2, 150, 4, 4, 64, grads=True)
            case_attn(lib, torch.float16, 1, 301, 8, 2, 128, cu=cu, layout="headmajor", grads=True)
        case_f16_modes(lib)
        n_ok = sum(results)
        print(f"SUMMARY {n_ok}/{len(results)} passed (LIGER_CUDA_F16_FAST=1)", flush=True)
        sys.exit(0 if n_ok == len(results) else 1)
    case_errors(lib)
    for dt in (torch.float32, torch.bfloat16, torch.float16):
        case_gla(lib, dt, 2, 150, 4, 4, 64, 64, grads=True)
        case_gla(lib, dt, 1, 301, 8, 2, 128, 128, cu=cu, layout="headmajor", grads=True)
    case_gla(lib, torch.float32, 2, 130, 8, 1, 128, 64, layout="stride2", grads=True)
    case_gla(lib, torch.float32, 1, 200, 4, 4, 64, 128, gate=8.0, grads=True, states=False)  # strong decay
    for dt in (torch.float32, torch.bfloat16, torch.float16):
        case_attn(lib, dt, 2, 150, 4, 4, 64, grads=True)
        case_attn(lib, dt, 1, 301, 8, 2, 128, cu=cu, layout="headmajor", grads=True)
    case_attn(lib, torch.float32, 2, 130, 8, 1, 128, variant=HGRN2, layout="stride2", grads=True)
    case_attn(lib, torch.float32, 1, 100, 4, 1, 64, use_gate=0, W=5, grads=True)
    case_attn(lib, torch.bfloat16, 1, 100, 4, 2, 64, mix=1.0, grads=True)
    case_attn(lib, torch.bfloat16, 1, 100, 4, 2, 64, mix=0.0, W=1, grads=True)
    case_attn(lib, torch.float32, 1, 90, 32, 8, 128, W=64, grads=True)
    # gates strong enough that the bf16 forward's tensor-core diagonal blocks would leave the exponent
    # range: its element-wise fallback
    case_attn(lib, torch.bfloat16, 1, 200, 8, 2, 128, gn=1.0, kmul=8.0)
    # the same gates through the bf16 backward: its element-wise diagonal blocks
    case_attn(lib, torch.bfloat16, 1, 200, 8, 2, 128, gn=1.0, kmul=8.0, grads=True, with_cache=False)
    # bf16 rows with a column stride of 2: the general (not layout-specialised) bf16 forward and backward kernels
    case_attn(lib, torch.bfloat16, 2, 130, 8, 2, 128, layout="stride2", grads=True)
    # many chunks per sequence: the chunk-state scans walk 40 chunks of each of two sequences (forward with the
    # final states), and 10 of a packed sequence through the backward's recompute and its state-gradient scan
    case_attn(lib, torch.bfloat16, 2, 2500, 8, 2, 128)
    case_attn(lib, torch.bfloat16, 1, 900, 4, 2, 64, cu=torch.tensor([0, 10, 600, 900], device=dev), grads=True)
    # one query head per KV head at D = 128 on the bf16 kernels, with 32 KV heads
    case_attn(lib, torch.bfloat16, 1, 130, 32, 32, 128, grads=True)
    # the chunk states kept from the forward for the backward (liger_attn_params.saved)
    case_saved(lib, torch.bfloat16, 2, 300, 8, 2, 128)
    case_saved(lib, torch.bfloat16, 1, 700, 4, 2, 64, cu=torch.tensor([0, 100, 100, 700], device=dev))
    case_continue_and_decode(lib, torch.float32, 3, 70, 12, 8, 2, 128)
    case_continue_and_decode(lib, torch.bfloat16, 2, 5, 70, 4, 4, 64, W=16)
    case_continue_and_decode(lib, torch.float32, 2, 40, 8, 4, 1, 64, variant=HGRN2, mix=1.0)
    cu_cpu = torch.tensor([0, 64, 64, 190, 300], device=dev)
    for dt in (torch.float32, torch.bfloat16):
        case_cpu_vs_cuda(lib, dt, 2, 200, 8, 2, 128)
        case_cpu_vs_cuda(lib, dt, 1, 300, 4, 4, 64, cu=cu_cpu, variant=HGRN2)
    # fp16 on the fast kernels per call (f16_mode FAST; no LIGER_CUDA_F16_FAST in the environment)
    with per_call_f16_mode(F16_FAST):
        f16_fast_cases(lib, cu)
    case_f16_modes(lib)
    n_ok = sum(results)
    extra = f", {len(skipped)} cases skipped as unsupported at this shared-memory limit" if SMEM_LIMIT else ""
    print(f"SUMMARY {n_ok}/{len(results)} passed{extra}", flush=True)
    sys.exit(0 if n_ok == len(results) else 1)


if __name__ == "__main__":
    main()
