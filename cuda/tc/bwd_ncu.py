#!/usr/bin/env python3
"""bwd_ncu.py — one backward case for Nsight Compute: a tensor-core backward configuration and SDPA's flash and cuDNN
backwards, on the same inputs.

  ncu --clock-control none -k 'regex:bwd_main|flash_bwd|cudnn' -c 6 --section SpeedOfLight \
      python3 cuda/tc/bwd_ncu.py build/rel/cuda/libflashlab_tc_bwd.so bwd_br128 128 8192 0

Our forward ("final") makes O and L; then the configuration's backward runs twice (the first warms up), then each SDPA
backward twice (a saved forward, the backward alone). B = 16384 / N, H = 2048 // d, fp16.
"""
import os
import sys

import torch
import torch.nn.functional as F
from torch.nn.attention import sdpa_kernel

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
from gpu_bench import BACKENDS, version_names  # noqa: E402
from tc_bwd_bench import DTYPE_FP16, FORWARD, load_lib  # noqa: E402


def main():
    lib_path, cfg, d, N, causal = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    lib = load_lib(lib_path)
    names = []
    while lib.tc_bwd_config_name(len(names)):
        names.append(lib.tc_bwd_config_name(len(names)).decode())
    if cfg not in names:
        print(f"bwd_ncu: unknown configuration '{cfg}' (have {', '.join(names)})", file=sys.stderr)
        return 2
    c = names.index(cfg)
    H, B = 2048 // d, 16384 // N
    shape = (B, N, H, d)
    torch.manual_seed(0)
    q, k, v, do = (torch.randn(*shape, device="cuda", dtype=torch.float16) for _ in range(4))
    o, dq, dk, dv = (torch.empty(*shape, device="cuda", dtype=torch.float16) for _ in range(4))
    acc = torch.empty(*shape, device="cuda", dtype=torch.float32)
    lse, delta = (torch.empty(B, H, N, device="cuda", dtype=torch.float32) for _ in range(2))
    fwd = version_names(lib, "tc").index(FORWARD)
    if lib.tc_forward(fwd, q.data_ptr(), k.data_ptr(), v.data_ptr(), o.data_ptr(), lse.data_ptr(), B, N, H, d, 0.0,
                      causal, DTYPE_FP16, None):
        raise SystemExit("forward failed")
    for _ in range(2):
        if lib.tc_bwd(c, q.data_ptr(), k.data_ptr(), v.data_ptr(), o.data_ptr(), do.data_ptr(), lse.data_ptr(),
                      dq.data_ptr(), dk.data_ptr(), dv.data_ptr(), acc.data_ptr(), delta.data_ptr(), B, N, H, d, 0.0,
                      causal, DTYPE_FP16, None):
            raise SystemExit(f"{cfg} failed")
    for label in ("flash", "cudnn"):
        qq, kk, vv = (x.detach().transpose(1, 2).requires_grad_() for x in (q, k, v))
        with sdpa_kernel(backends=[BACKENDS[label]]):
            out = F.scaled_dot_product_attention(qq, kk, vv, is_causal=bool(causal))
        for _ in range(2):
            torch.autograd.grad(out, (qq, kk, vv), do.transpose(1, 2), retain_graph=True)
    torch.cuda.synchronize()
    print(f"bwd_ncu: {cfg} d={d} N={N} causal={causal} done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
