"""One fused forward and one backward at B=1, T=8K (Hq=32, Hkv=8, D=128, bf16, W=64) for Nsight Compute."""
import sys

import torch

from liger_abi import Lib, attn_params, GLA
from bench import rope_tables

lib = Lib(sys.argv[1])
T = 8192
q = torch.randn(1, T, 32, 128, device="cuda", dtype=torch.bfloat16)
k = torch.randn(1, T, 8, 128, device="cuda", dtype=torch.bfloat16)
v = torch.randn(1, T, 8, 128, device="cuda", dtype=torch.bfloat16)
o, do = torch.empty_like(q), torch.randn_like(q)
dq, dk, dv = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
cos, sin = rope_tables(T, 128)
lib.call("liger_attn_forward", attn_params(q, k, v, cos, sin, GLA, 1, 16.0, 0.5, 64, o=o))
lib.call("liger_attn_backward", attn_params(q, k, v, cos, sin, GLA, 1, 16.0, 0.5, 64, do=do, dq=dq, dk=dk, dv=dv))
torch.cuda.synchronize()
