#!/usr/bin/env python3
"""tc_ncu.py — one forward of a tensor-core version and one of SDPA's flash backend on the same inputs, for Nsight
Compute: ncu --clock-control none -k regex:'attn_v|flash_fwd' python3 cuda/tools/tc_ncu.py LIB VERSION d N causal"""
import sys

import gpu_bench

lib_path, version, d, N, causal = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
gpu_bench.ncu_case(gpu_bench.load_forward_lib(lib_path, "tc"), "tc", version, d, N, causal, ["flash"])
