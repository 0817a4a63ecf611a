"""GPU check of the decode step's shapes beyond check.py's decode cases (same method: decode after a
prefill must equal one forward over all tokens and the float64 reference; outputs poisoned).

The cases cover each way the CUDA decode runs: the fast kernel with a cluster per sequence (Hkv 2..8),
one block per sequence (Hkv 1), a second launch advancing the positions (Hkv 16), and the reference
kernels (D 96); windows shorter and longer than the positions reached, W 1 and W 65, 1..8 query heads
per KV head, all three input dtypes, GLA and HGRN2, mix 0, 0.5, 1. Run it a second time with
LIGER_CUDA_DECODE_REFERENCE=1 to put every case through the reference kernels.
Usage: python3 check_decode.py path/to/libliger_dev.so
"""
import os
import sys

import torch

import check
from check import GLA, HGRN2, case_continue_and_decode
from liger_abi import Lib


def main():
    lib = Lib(sys.argv[1])
    torch.manual_seed(int(torch.randint(0, 1 << 30, (1,))))
    f32, bf16, f16 = torch.float32, torch.bfloat16, torch.float16
    case_continue_and_decode(lib, f16, 4, 30, 40, 16, 2, 128)                      # 8 heads per KV head, ring fills
    case_continue_and_decode(lib, bf16, 3, 3, 20, 16, 16, 64, W=8)                  # Hkv 16: advance launch
    case_continue_and_decode(lib, bf16, 2, 10, 10, 8, 8, 128, mix=0.0)              # cluster of 8, window only
    case_continue_and_decode(lib, f32, 2, 5, 6, 4, 2, 64, W=1, mix=0.0)             # W 1: the token alone
    case_continue_and_decode(lib, f32, 2, 20, 8, 6, 2, 96, W=16)                    # D 96: reference kernels
    case_continue_and_decode(lib, bf16, 1, 100, 70, 4, 1, 128, W=65)                # Hkv 1, 65 keys
    case_continue_and_decode(lib, bf16, 5, 12, 9, 12, 2, 64, W=32, variant=HGRN2)   # 6 heads per KV head
    case_continue_and_decode(lib, f32, 64, 70, 3, 32, 8, 128)                       # the benchmark's shape
    path = "reference kernels" if os.environ.get("LIGER_CUDA_DECODE_REFERENCE") == "1" else "default dispatch"
    n_ok = sum(check.results)
    print(f"SUMMARY decode ({path}) {n_ok}/{len(check.results)} passed", flush=True)
    sys.exit(0 if n_ok == len(check.results) else 1)


if __name__ == "__main__":
    main()
