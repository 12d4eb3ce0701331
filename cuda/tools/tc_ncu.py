#!/usr/bin/env python3
"""tc_ncu.py — one forward of a tensor-core version and one of SDPA's flash backend on the same inputs, for Nsight
Compute: ncu --clock-control none -k regex:'attn_v|flash_fwd' python3 cuda/tools/tc_ncu.py LIB VERSION d N causal"""
import ctypes
import sys

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

lib_path, version, d, N, causal = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
lib = ctypes.CDLL(lib_path)
lib.tc_version_name.restype = ctypes.c_char_p
lib.tc_forward.argtypes = [ctypes.c_int] + [ctypes.c_void_p] * 5 + [ctypes.c_longlong] * 4 + \
                          [ctypes.c_float, ctypes.c_int, ctypes.c_int, ctypes.c_void_p]
idx = [lib.tc_version_name(i).decode() for i in range(lib.tc_version_count())].index(version)
B, H = 16384 // N, 2048 // d
q, k, v = (torch.randn(B, N, H, d, device="cuda", dtype=torch.float16) for _ in range(3))
o = torch.empty_like(q)
lse = torch.empty(B, H, N, device="cuda", dtype=torch.float32)
for _ in range(2):
    assert lib.tc_forward(idx, q.data_ptr(), k.data_ptr(), v.data_ptr(), o.data_ptr(), lse.data_ptr(), B, N, H, d,
                          0.0, causal, 1, None) == 0
    with sdpa_kernel(backends=[SDPBackend.FLASH_ATTENTION]):
        F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), is_causal=bool(causal))
torch.cuda.synchronize()
