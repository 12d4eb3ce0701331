#!/usr/bin/env python3
"""hopper_ncu.py — one case for Nsight Compute: a Hopper version, SDPA's cuDNN and flash backends, same inputs.

  ncu --clock-control none -k 'regex:hp_ws|cudnn|flash|sm90' -c 6 --section SpeedOfLight --section WarpStateStats \
      python3 cuda/hopper/hopper_ncu.py build/rel/libflashlab_hopper.so v18_persist 128 8192 0

Each kernel runs twice (the first warms up); B = 16384 / N, H = 2048 // d, fp16.
"""
import ctypes
import sys

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel


def main():
    lib_path, version, d, N, causal = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), bool(int(sys.argv[5]))
    lib = ctypes.CDLL(lib_path)
    lib.hp_version_name.restype = ctypes.c_char_p
    lib.hp_forward.argtypes = [ctypes.c_int] + [ctypes.c_void_p] * 5 + [ctypes.c_longlong] * 4 + \
                              [ctypes.c_float, ctypes.c_int, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]
    names = [lib.hp_version_name(i).decode() for i in range(lib.hp_version_count())]
    idx = names.index(version)
    B, H = 16384 // N, 2048 // d
    q, k, v = (torch.randn(B, N, H, d, device="cuda", dtype=torch.float16) for _ in range(3))
    out = torch.empty_like(q)
    lse = torch.empty(B, H, N, device="cuda", dtype=torch.float32)
    for _ in range(2):
        if lib.hp_forward(idx, q.data_ptr(), k.data_ptr(), v.data_ptr(), out.data_ptr(), lse.data_ptr(), B, N, H, d,
                          0.0, int(causal), 1, None, None):
            raise SystemExit(f"{version} failed")
    for be in (SDPBackend.CUDNN_ATTENTION, SDPBackend.FLASH_ATTENTION):
        for _ in range(2):
            with sdpa_kernel(backends=[be]):
                F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2),
                                               is_causal=causal)
    torch.cuda.synchronize()
    print(f"hopper_ncu: {version} d={d} N={N} causal={int(causal)} done")


if __name__ == "__main__":
    main()
