"""GPU correctness check of the CUDA gated delta rule kernels through the C ABI.

Usage: python3 check_gdn.py path/to/libliger_dev.so [--quick]
Reference: the naive per-token recurrence in float64 on the same (rounded) inputs,
  S_t = exp(g_t) (I - beta_t k_t k_t^T) S_{t-1} + beta_t k_t v_t^T,   o_t = scale S_t^T q_t,
and torch autograd through it for the gradients. Fresh random inputs every run; outputs are poisoned
(NaN) before each call, so an unwritten element fails. One line per case; exit status 1 if any fails.
"""
import sys

import torch
import torch.nn.functional as F

from liger_abi import Lib, gdn_params, poison, seq_list

dev = "cuda"
TOL = {torch.float32: 1e-4, torch.bfloat16: 2e-2, torch.float16: 5e-3}
results = []


def rel(a, b, floor=1e-30):
    a, b = a.double(), b.double()
    if not torch.isfinite(a).all():
        return float("inf")
    return ((a - b).norm() / max(b.norm().item(), floor)).item()


def report(name, errs, dtype, tol=None):
    tol = tol or TOL[dtype]
    worst = max(errs.values())
    ok = worst <= tol
    results.append(ok)
    detail = " ".join(f"{k}={v:.2e}" for k, v in errs.items())
    print(f"{'PASS' if ok else 'FAIL'} {name} [{str(dtype).split('.')[-1]}] {detail} (tol {tol:.0e})", flush=True)




def layout(x, mode):
    """The same values in another memory layout: contiguous, head-major (transposed) or stride-2 inner."""
    if mode == "contig":
        return x.contiguous()
    if x.dim() == 4:
        if mode == "headmajor":
            return x.transpose(1, 2).contiguous().transpose(1, 2)
        y = torch.empty(*x.shape[:-1], 2 * x.shape[-1], dtype=x.dtype, device=dev)
        y[..., ::2] = x
        return y[..., ::2]
    if mode == "headmajor":
        return x.transpose(1, 2).contiguous().transpose(1, 2)
    y = torch.empty(*x.shape, 2, dtype=x.dtype, device=dev)
    y[..., 0] = x
    return y[..., 0]




def ref_gdn(q, k, v, g, beta, scale, h0, cu):
    """float64 naive recurrence; differentiable. Returns o [B,T,Hq,Dv] and ht [N,Hkv,Dk,Dv]."""
    B, T, Hq, Dk = q.shape
    Hkv, Dv = k.shape[2], v.shape[3]
    grp = Hq // Hkv
    rows = {}
    hts = []
    for n, (b, s, e) in enumerate(seq_list(B, T, cu)):
        S = h0[n] if h0 is not None else torch.zeros(Hkv, Dk, Dv, dtype=torch.float64, device=dev)
        for t in range(s, e):
            kt, vt, bt, et = k[b, t], v[b, t], beta[b, t], g[b, t].exp()
            kS = torch.einsum("hd,hde->he", kt, S)
            S = et[:, None, None] * (S - bt[:, None, None] * kt[:, :, None] * kS[:, None, :]) \
                + bt[:, None, None] * kt[:, :, None] * vt[:, None, :]
            qt = q[b, t].view(Hkv, grp, Dk)
            rows[(b, t)] = scale * torch.einsum("hgd,hde->hge", qt, S).reshape(Hq, Dv)
        hts.append(S)
    o = torch.stack([torch.stack([rows[(b, t)] for t in range(T)]) for b in range(B)])
    return o, torch.stack(hts)


def inputs(B, T, Hq, Hkv, Dk, Dv, dtype, gdt=None, gate="normal", betamode="rand"):
    gdt = gdt or dtype
    q = torch.randn(B, T, Hq, Dk, device=dev).to(dtype)
    k = F.normalize(torch.randn(B, T, Hkv, Dk, device=dev), dim=-1).to(dtype)
    v = torch.randn(B, T, Hkv, Dv, device=dev).to(dtype)
    if gate == "normal":
        g = F.logsigmoid(torch.randn(B, T, Hkv, device=dev) + 2.0)
    elif gate == "zero":
        g = -1e-4 * torch.rand(B, T, Hkv, device=dev)
    else:  # near -1e4: every step forgets (almost) everything
        g = -1e4 + torch.rand(B, T, Hkv, device=dev)
    if betamode == "rand":
        beta = torch.sigmoid(torch.randn(B, T, Hkv, device=dev))
    elif betamode == "zero":
        beta = torch.zeros(B, T, Hkv, device=dev)
    elif betamode == "one":
        beta = torch.ones(B, T, Hkv, device=dev)
    else:  # mixed 0 and 1
        beta = (torch.rand(B, T, Hkv, device=dev) < 0.5).float()
    return q, k, v, g.to(gdt), beta.to(gdt)


def run_forward(lib, q, k, v, g, beta, scale, cu=None, h0=None, inplace=False, mode="contig"):
    B, T, Hq, _ = q.shape
    N = B if cu is None else cu.numel() - 1
    Hkv, Dk, Dv = k.shape[2], k.shape[3], v.shape[3]
    o = layout(poison(B, T, Hq, Dv, dtype=q.dtype), mode)
    if inplace:
        ht = h0
    else:
        ht = poison(N, Hkv, Dk, Dv, dtype=torch.float32)
    p = gdn_params(*(layout(x, mode) for x in (q, k, v, g, beta)), scale, o=o, cu=cu, h0=h0, ht=ht)
    lib.call("liger_gdn_forward", p)
    torch.cuda.synchronize()
    return o, ht


def case_forward(lib, name, B, T, Hq, Hkv, Dk, Dv, dtype, gdt=None, cu=None, with_h0=False, inplace=False,
                 mode="contig", gate="normal", betamode="rand"):
    q, k, v, g, beta = inputs(B, T, Hq, Hkv, Dk, Dv, dtype, gdt, gate, betamode)
    N = B if cu is None else cu.numel() - 1
    scale = Dk ** -0.5
    h0 = torch.randn(N, Hkv, Dk, Dv, device=dev) * 0.1 if with_h0 else None
    h0_ref = h0.double().clone() if h0 is not None else None
    o, ht = run_forward(lib, q, k, v, g, beta, scale, cu, h0.clone() if inplace else h0, inplace, mode)
    ro, rht = ref_gdn(*(x.double() for x in (q, k, v, g, beta)), scale, h0_ref, cu)
    report(f"fwd {name} B={B} T={T} Hq={Hq} Hkv={Hkv} Dk={Dk} Dv={Dv} {mode} gate={gate} beta={betamode}"
           f"{' h0' if with_h0 else ''}{' inplace' if inplace else ''}{' varlen' if cu is not None else ''}",
           {"o": rel(o, ro), "ht": rel(ht, rht)}, dtype)


def case_backward(lib, name, B, T, Hq, Hkv, Dk, Dv, dtype, gdt=None, cu=None, with_h0=True, with_dht=True,
                  mode="contig", gate="normal", betamode="rand", tol=None):
    q, k, v, g, beta = inputs(B, T, Hq, Hkv, Dk, Dv, dtype, gdt, gate, betamode)
    N = B if cu is None else cu.numel() - 1
    scale = Dk ** -0.5
    h0 = torch.randn(N, Hkv, Dk, Dv, device=dev) * 0.1 if with_h0 else None
    do = torch.randn(B, T, Hq, Dv, device=dev).to(dtype)
    dht = torch.randn(N, Hkv, Dk, Dv, device=dev) * 0.1 if with_dht else None
    L = [layout(x, mode) for x in (q, k, v, g, beta)]
    grads = [layout(poison(*x.shape, dtype=x.dtype), mode) for x in (q, k, v, g, beta)]
    dh0 = poison(N, Hkv, Dk, Dv, dtype=torch.float32) if with_h0 else None
    p = gdn_params(*L, scale, cu=cu, h0=h0, do=layout(do, mode), dht=dht, dq=grads[0], dk=grads[1], dv=grads[2],
                   dg=grads[3], dbeta=grads[4], dh0=dh0)
    lib.call("liger_gdn_backward", p)
    torch.cuda.synchronize()
    leaves = [x.double().requires_grad_(True) for x in (q, k, v, g, beta)]
    h0r = h0.double().requires_grad_(True) if with_h0 else None
    ro, rht = ref_gdn(*leaves, scale, h0r, cu)
    loss = (ro * do.double()).sum() + ((rht * dht.double()).sum() if with_dht else 0.0)
    want = torch.autograd.grad(loss, leaves + ([h0r] if with_h0 else []))
    errs = {n_: rel(a, b) for n_, a, b in zip(("dq", "dk", "dv", "dbeta"), (grads[0], grads[1], grads[2], grads[4]),
                                              (want[0], want[1], want[2], want[4]))}
    # dg_t is a sum of terms such as q_t . dq_t - k_t . dk_t that cancel exactly when exp(g) underflows (g near
    # -1e4: the true dg is 0); measure it against the size of those terms instead of its own.
    terms = (q.double() * want[0]).sum(-1).view(B, T, Hkv, -1).sum(-1)
    errs["dg"] = rel(grads[3], want[3], floor=terms.norm().item())
    if with_h0:
        errs["dh0"] = rel(dh0, want[5])
    report(f"bwd {name} B={B} T={T} Hq={Hq} Hkv={Hkv} Dk={Dk} Dv={Dv} {mode} gate={gate} beta={betamode}"
           f"{' varlen' if cu is not None else ''}", errs, dtype, tol)


def case_decode(lib, B, T, Hq, Hkv, D, dtype):
    """T decode steps (state updated in place) equal one forward over the same T tokens."""
    q, k, v, g, beta = inputs(B, T, Hq, Hkv, D, D, dtype)
    scale = D ** -0.5
    h0 = torch.randn(B, Hkv, D, D, device=dev) * 0.1
    o_f, ht_f = run_forward(lib, q, k, v, g, beta, scale, h0=h0.clone())
    state = h0.clone()
    outs = []
    for t in range(T):
        o = poison(B, 1, Hq, D, dtype=dtype)
        sl = slice(t, t + 1)
        p = gdn_params(q[:, sl], k[:, sl], v[:, sl], g[:, sl], beta[:, sl], scale, o=o, h0=state, ht=state)
        lib.call("liger_gdn_decode", p)
        outs.append(o)
    torch.cuda.synchronize()
    o_d = torch.cat(outs, 1)
    ro, rht = ref_gdn(*(x.double() for x in (q, k, v, g, beta)), scale, h0.double(), None)
    report(f"decode B={B} T={T} Hq={Hq} Hkv={Hkv} D={D} (steps vs forward vs reference)",
           {"o_vs_fwd": rel(o_d, o_f), "ht_vs_fwd": rel(state, ht_f), "o_ref": rel(o_d, ro), "ht_ref": rel(state, rht)},
           dtype)


def case_errors(lib):
    """Bad arguments come back as a status and a message, never a crash."""
    q, k, v, g, beta = inputs(1, 8, 2, 2, 64, 64, torch.bfloat16)
    o = torch.empty_like(q)
    bad_cu = torch.tensor([0, 5, 3, 8], dtype=torch.int64, device=dev)  # decreasing
    st, msg = lib.call("liger_gdn_forward", gdn_params(q, k, v, g, beta, 0.1, o=o, cu=bad_cu), expect_ok=False)
    ok1 = st == 1 and "cu_seqlens" in msg
    short_cu = torch.tensor([0, 5, 7], dtype=torch.int64, device=dev)  # does not end at T
    st2, msg2 = lib.call("liger_gdn_forward", gdn_params(q, k, v, g, beta, 0.1, o=o, cu=short_cu), expect_ok=False)
    ok2 = st2 == 1 and "cu_seqlens" in msg2
    q2, k2, v2, g2, b2 = inputs(1, 8, 2, 2, 256, 64, torch.bfloat16)
    st3, msg3 = lib.call("liger_gdn_forward", gdn_params(q2, k2, v2, g2, b2, 0.1, o=torch.empty(1, 8, 2, 64, dtype=torch.bfloat16, device=dev)),
                         expect_ok=False)
    ok3 = st3 == 2
    ok = ok1 and ok2 and ok3
    results.append(ok)
    print(f"{'PASS' if ok else 'FAIL'} errors: decreasing cu_seqlens -> {st} ({msg}); short cu_seqlens -> {st2} ({msg2}); "
          f"Dk=256 -> {st3} ({msg3})", flush=True)


def main():
    lib = Lib(sys.argv[1])
    quick = "--quick" in sys.argv
    torch.manual_seed(torch.seed() % (2 ** 31))
    bf, fp, f32 = torch.bfloat16, torch.float16, torch.float32
    case_errors(lib)
    # forward: lengths, dtypes, GQA, head sizes, layouts, states, gates, beta
    for T in (1, 63, 64, 65, 200, 1000):
        case_forward(lib, "len", 2, T, 8, 2, 128, 128, bf)
    for dtype in (bf, fp, f32):
        for grp, D in ((1, 64), (4, 128), (8, 64)):
            case_forward(lib, "gqa", 2, 200, 2 * grp, 2, D, D, dtype, with_h0=True)
    case_forward(lib, "dk!=dv", 1, 130, 4, 2, 64, 128, fp)
    case_forward(lib, "dk!=dv", 1, 130, 4, 2, 128, 64, f32)
    case_forward(lib, "g f32", 2, 100, 4, 1, 128, 128, bf, gdt=f32)
    for mode in ("headmajor", "strided"):
        case_forward(lib, "layout", 2, 130, 4, 2, 64, 64, bf, mode=mode, with_h0=True)
        case_forward(lib, "layout", 1, 70, 4, 2, 64, 64, f32, mode=mode)
    case_forward(lib, "h0==ht", 2, 150, 4, 2, 128, 128, bf, with_h0=True, inplace=True)
    case_forward(lib, "h0==ht", 2, 150, 4, 4, 64, 64, f32, with_h0=True, inplace=True)
    for gate in ("zero", "big"):
        case_forward(lib, "gate", 2, 200, 4, 2, 128, 128, bf, gate=gate, with_h0=True)
        case_forward(lib, "gate", 1, 130, 2, 1, 64, 64, f32, gate=gate, with_h0=True)
    for betamode in ("zero", "one", "mixed"):
        case_forward(lib, "beta", 2, 130, 4, 2, 128, 128, bf, betamode=betamode, with_h0=True)
    cu = torch.tensor([0, 37, 37, 200, 264, 300], dtype=torch.int64, device=dev)  # one empty sequence
    for dtype in (bf, f32):
        case_forward(lib, "varlen", 1, 300, 8, 2, 128, 128, dtype, cu=cu, with_h0=True)
    case_forward(lib, "varlen", 1, 300, 8, 2, 64, 64, fp, cu=cu, with_h0=True, inplace=True)
    # backward (autograd on the float64 recurrence)
    for T in ((1, 63, 65, 200) if quick else (1, 63, 64, 65, 200)):
        case_backward(lib, "len", 2, T, 4, 2, 64, 64, bf)
    for dtype in (bf, fp, f32):
        case_backward(lib, "gqa", 1, 150, 8, 2, 128, 128, dtype)
        case_backward(lib, "mha", 2, 100, 2, 2, 64, 64, dtype, with_h0=False, with_dht=False)
    case_backward(lib, "gqa8", 1, 100, 8, 1, 64, 64, f32)
    case_backward(lib, "dk!=dv", 1, 100, 4, 2, 64, 128, f32)
    case_backward(lib, "g f32", 1, 100, 4, 2, 64, 64, bf, gdt=f32)
    case_backward(lib, "layout", 2, 90, 4, 2, 64, 64, f32, mode="headmajor")
    case_backward(lib, "layout", 2, 90, 4, 2, 64, 64, bf, mode="strided")
    case_backward(lib, "gate", 1, 130, 2, 1, 64, 64, f32, gate="zero")
    case_backward(lib, "gate", 1, 130, 2, 1, 64, 64, f32, gate="big")
    case_backward(lib, "beta", 1, 130, 2, 1, 64, 64, f32, betamode="mixed")
    case_backward(lib, "varlen", 1, 300, 4, 2, 64, 64, f32, cu=cu)
    case_backward(lib, "varlen", 1, 300, 4, 2, 128, 128, bf, cu=cu)
    if not quick:
        case_backward(lib, "long", 1, 1000, 2, 1, 128, 128, bf, with_h0=False)
    # decode
    for dtype in (bf, f32):
        case_decode(lib, 3, 70, 8, 2, 128, dtype)
    case_decode(lib, 2, 20, 8, 8, 64, fp)
    n_ok = sum(results)
    print(f"\n{n_ok}/{len(results)} passed", flush=True)
    sys.exit(0 if n_ok == len(results) else 1)


if __name__ == "__main__":
    main()
