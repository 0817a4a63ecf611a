"""ctypes view of the Liger C ABI (native/include/liger/liger.h) for the GPU checks and benchmarks."""
import ctypes
import re
import statistics
from ctypes import c_void_p, c_int32, c_int64, c_float

import torch

F32, BF16, F16, I64 = 0, 1, 2, 3
DTYPES = {torch.float32: F32, torch.bfloat16: BF16, torch.float16: F16, torch.int64: I64}
CPU, CUDA = 0, 1
GLA, HGRN2 = 0, 1
F16_DEFAULT, F16_ACCURATE, F16_FAST = 0, 1, 2  # liger_f16_mode
ATTN_F16_MODE = F16_DEFAULT  # the f16_mode attn_params sets when its caller names none
STATUS = {0: "OK", 1: "INVALID_ARGUMENT", 2: "UNSUPPORTED", 3: "RUNTIME"}


class Tensor(ctypes.Structure):
    _fields_ = [("data", c_void_p), ("dtype", c_int32), ("ndim", c_int32),
                ("shape", c_int64 * 4), ("stride", c_int64 * 4)]


class GlaParams(ctypes.Structure):
    _fields_ = [("device", c_int32), ("stream", c_void_p), ("num_threads", c_int32),
                ("B", c_int64), ("T", c_int64), ("Hq", c_int64), ("Hkv", c_int64), ("Dk", c_int64), ("Dv", c_int64),
                ("scale", c_float),
                ("q", Tensor), ("k", Tensor), ("v", Tensor), ("g", Tensor), ("o", Tensor),
                ("cu_seqlens", Tensor), ("h0", Tensor), ("ht", Tensor),
                ("do_", Tensor), ("dht", Tensor),
                ("dq", Tensor), ("dk", Tensor), ("dv", Tensor), ("dg", Tensor), ("dh0", Tensor)]


class Cache(ctypes.Structure):
    _fields_ = [("state", Tensor), ("win_k", Tensor), ("win_v", Tensor), ("pos", Tensor)]


class AttnParams(ctypes.Structure):
    _fields_ = [("device", c_int32), ("stream", c_void_p), ("num_threads", c_int32),
                ("B", c_int64), ("T", c_int64), ("Hq", c_int64), ("Hkv", c_int64), ("D", c_int64),
                ("variant", c_int32), ("use_gate", c_int32), ("gate_norm", c_float), ("mix", c_float),
                ("window", c_int32), ("swa_scale", c_float),
                ("q", Tensor), ("k", Tensor), ("v", Tensor), ("o", Tensor),
                ("rope_cos", Tensor), ("rope_sin", Tensor), ("cu_seqlens", Tensor),
                ("cache_in", Cache), ("cache_out", Cache),
                ("do_", Tensor), ("dq", Tensor), ("dk", Tensor), ("dv", Tensor),
                ("f16_mode", c_int32), ("saved", Tensor)]


class GdnParams(ctypes.Structure):
    _fields_ = [("device", c_int32), ("stream", c_void_p), ("num_threads", c_int32),
                ("B", c_int64), ("T", c_int64), ("Hq", c_int64), ("Hkv", c_int64), ("Dk", c_int64), ("Dv", c_int64),
                ("scale", c_float),
                ("q", Tensor), ("k", Tensor), ("v", Tensor), ("g", Tensor), ("beta", Tensor), ("o", Tensor),
                ("cu_seqlens", Tensor), ("h0", Tensor), ("ht", Tensor),
                ("do_", Tensor), ("dht", Tensor),
                ("dq", Tensor), ("dk", Tensor), ("dv", Tensor), ("dg", Tensor), ("dbeta", Tensor), ("dh0", Tensor)]


def tv(t):
    """A liger_tensor over a torch tensor (None: absent)."""
    x = Tensor()
    if t is None:
        return x
    x.data = t.data_ptr()
    x.dtype = DTYPES[t.dtype]
    x.ndim = t.dim()
    for i in range(4):
        x.shape[i] = t.shape[i] if i < t.dim() else 1
        x.stride[i] = t.stride(i) if i < t.dim() else 1
    return x


def cache_view(c):
    x = Cache()
    if c is None:
        return x
    x.state, x.win_k, x.win_v, x.pos = tv(c["state"]), tv(c.get("win_k")), tv(c.get("win_v")), tv(c["pos"])
    return x


ABI = "0.3"  # the liger_version() whose parameter structs the classes above describe


class Lib:
    def __init__(self, path):
        self.lib = ctypes.CDLL(path)
        self.lib.liger_version.restype = ctypes.c_char_p
        version = self.lib.liger_version().decode()
        if version != ABI:
            raise RuntimeError(f"{path} is liger {version}; liger_abi.py describes the parameter structs of {ABI}")
        for name in ("liger_gla_forward", "liger_gla_backward"):
            getattr(self.lib, name).argtypes = [ctypes.POINTER(GlaParams)]
            getattr(self.lib, name).restype = c_int32
        for name in ("liger_attn_forward", "liger_attn_backward", "liger_attn_decode"):
            getattr(self.lib, name).argtypes = [ctypes.POINTER(AttnParams)]
            getattr(self.lib, name).restype = c_int32
        self.lib.liger_attn_saved_numel.argtypes = [ctypes.POINTER(AttnParams), ctypes.POINTER(c_int64)]
        self.lib.liger_attn_saved_numel.restype = c_int32
        for name in ("liger_gdn_forward", "liger_gdn_backward", "liger_gdn_decode"):
            getattr(self.lib, name).argtypes = [ctypes.POINTER(GdnParams)]
            getattr(self.lib, name).restype = c_int32
        self.lib.liger_last_error.restype = ctypes.c_char_p

    def call(self, name, p, *more, expect_ok=True):
        """Calls name(&p, *more); raises on a non-zero status unless expect_ok is False."""
        st = getattr(self.lib, name)(ctypes.byref(p), *more)
        if expect_ok and st != 0:
            raise RuntimeError(f"{name}: {STATUS.get(st, st)}: {self.lib.liger_last_error().decode()}")
        return st, self.lib.liger_last_error().decode()

    def saved_numel(self, p):
        """liger_attn_saved_numel for these (forward) parameters."""
        n = c_int64(0)
        self.call("liger_attn_saved_numel", p, ctypes.byref(n))
        return n.value


def stream():
    return torch.cuda.current_stream().cuda_stream


def gla_params(q, k, v, g, scale, o=None, cu=None, h0=None, ht=None, do=None, dht=None, dq=None, dk=None,
               dv=None, dg=None, dh0=None):
    p = GlaParams()
    p.device, p.stream = CUDA, stream()
    if cu is None:
        p.B, p.T = q.shape[0], q.shape[1]
    else:
        p.B, p.T = 1, q.shape[1]
    p.Hq, p.Hkv, p.Dk, p.Dv = q.shape[2], k.shape[2], q.shape[3], v.shape[3]
    p.scale = scale
    p.q, p.k, p.v, p.g, p.o = tv(q), tv(k), tv(v), tv(g), tv(o)
    p.cu_seqlens, p.h0, p.ht = tv(cu), tv(h0), tv(ht)
    p.do_, p.dht, p.dq, p.dk, p.dv, p.dg, p.dh0 = tv(do), tv(dht), tv(dq), tv(dk), tv(dv), tv(dg), tv(dh0)
    return p


def attn_params(q, k, v, cos, sin, variant=GLA, use_gate=1, gate_norm=16.0, mix=0.5, window=64, o=None,
                cu=None, cache_in=None, cache_out=None, do=None, dq=None, dk=None, dv=None, f16_mode=None, saved=None):
    p = AttnParams()
    p.f16_mode = ATTN_F16_MODE if f16_mode is None else f16_mode
    p.device, p.stream = CUDA, stream()
    p.B, p.T = q.shape[0], q.shape[1]
    p.Hq, p.Hkv, p.D = q.shape[2], k.shape[2], q.shape[3]
    p.variant, p.use_gate, p.gate_norm, p.mix, p.window = variant, use_gate, gate_norm, mix, window
    p.swa_scale = q.shape[3] ** -0.5
    p.q, p.k, p.v, p.o = tv(q), tv(k), tv(v), tv(o)
    p.rope_cos, p.rope_sin, p.cu_seqlens = tv(cos), tv(sin), tv(cu)
    p.cache_in, p.cache_out = cache_view(cache_in), cache_view(cache_out)
    p.do_, p.dq, p.dk, p.dv = tv(do), tv(dq), tv(dk), tv(dv)
    p.saved = tv(saved)
    return p


def gdn_params(q, k, v, g, beta, scale, o=None, cu=None, h0=None, ht=None, do=None, dht=None, dq=None, dk=None,
               dv=None, dg=None, dbeta=None, dh0=None):
    p = GdnParams()
    p.device, p.stream = CUDA, stream()
    p.B, p.T = q.shape[0], q.shape[1]
    p.Hq, p.Hkv, p.Dk, p.Dv = q.shape[2], k.shape[2], q.shape[3], v.shape[3]
    p.scale = scale
    p.q, p.k, p.v, p.g, p.beta, p.o = tv(q), tv(k), tv(v), tv(g), tv(beta), tv(o)
    p.cu_seqlens, p.h0, p.ht = tv(cu), tv(h0), tv(ht)
    p.do_, p.dht = tv(do), tv(dht)
    p.dq, p.dk, p.dv, p.dg, p.dbeta, p.dh0 = tv(dq), tv(dk), tv(dv), tv(dg), tv(dbeta), tv(dh0)
    return p


# ------------------------------------------------------------------ helpers shared by the scripts
def timed(fn, reps=20, warm=3):
    """Median milliseconds of fn over reps calls (CUDA events), after warm calls."""
    for _ in range(warm):
        fn()
    torch.cuda.synchronize()
    ts = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        ts.append(a.elapsed_time(b))
    return statistics.median(ts)


def kernel_times(fn, n=5):
    """Microseconds per call of each kernel fn launches (CUPTI through torch.profiler), keyed by the kernel's name up
    to its template arguments (k_fout, k_fstate, ...), over n calls."""
    from torch.profiler import profile, ProfilerActivity
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(n):
            fn()
        torch.cuda.synchronize()
    dt = lambda e: getattr(e, "device_time_total", None) or getattr(e, "cuda_time_total", 0.0)
    return {re.search(r"(k_\w+)", e.key).group(1): dt(e) / n for e in prof.key_averages() if re.search(r"k_\w+", e.key)}


def rope_tables(P, D, device="cuda"):
    """cos/sin [P, D/2] fp32 for RoPE base 10000 (the Hugging Face default)."""
    inv = 1.0 / (10000 ** (torch.arange(0, D // 2, device=device, dtype=torch.float64) * 2 / D))
    ang = torch.arange(P, device=device, dtype=torch.float64)[:, None] * inv[None]
    return ang.cos().float().contiguous(), ang.sin().float().contiguous()


def poison(*shape, dtype, device="cuda"):
    """An output buffer full of NaN, so that an element the kernel does not write fails the check."""
    return torch.full(shape, float("nan"), dtype=dtype, device=device)


def seq_list(B, T, cu):
    """(batch row, start, end) of every sequence: B rows of T, or the spans of cu_seqlens."""
    if cu is None:
        return [(b, 0, T) for b in range(B)]
    c = cu.tolist()
    return [(0, c[i], c[i + 1]) for i in range(len(c) - 1)]
