"""gpu_bench.py — what the Python drivers of the GPU kernels share (tc_bench, tc_ncu in cuda/tools; hopper_bench,
hopper_ncu in cuda/hopper): a kernel library's ctypes signatures, one CUDA-event timer, the run's ceilings, and
PyTorch's SDPA by backend on (B, N, H, d) tensors.

    import gpu_bench                                  # cuda/tools on sys.path (cuda/hopper's scripts add it)
    lib = gpu_bench.load_forward_lib(path, "tc")      # lib.tc_forward(idx, q, k, v, o, lse, B, N, H, d, ...)
    names = gpu_bench.version_names(lib, "tc")
    ms = gpu_bench.time_ms(lambda i: lib.tc_forward(...), 3, 20)   # median of 20 after 3 warm-ups
"""
import ctypes
import json
import os
import statistics
import time

import torch
import torch.nn.functional as F
from bench_table import clean   # NaN never reaches the JSON: null
from report_out import make_dirs, write_whole   # a file written whole or not at all (exit 3 in the callers)
from torch.nn.attention import SDPBackend, sdpa_kernel

ROT = 3   # input sets a benchmark rotates through, so a call's inputs are not in L2 from the call before
BACKENDS = {"flash": SDPBackend.FLASH_ATTENTION, "cudnn": SDPBackend.CUDNN_ATTENTION,
            "efficient": SDPBackend.EFFICIENT_ATTENTION}


def load_forward_lib(path, prefix, counters=False):
    """The library's <prefix>_version_name and <prefix>_forward(idx, q, k, v, o, lse, B, N, H, d, scale, causal,
    dtype, stream[, count]) (attn_tc.h's tc_forward, hopper.h's hp_forward, which also takes the counters)."""
    lib = ctypes.CDLL(path)
    getattr(lib, prefix + "_version_name").restype = ctypes.c_char_p
    fwd = getattr(lib, prefix + "_forward")
    fwd.argtypes = [ctypes.c_int] + [ctypes.c_void_p] * 5 + [ctypes.c_longlong] * 4 + \
                   [ctypes.c_float, ctypes.c_int, ctypes.c_int, ctypes.c_void_p] + [ctypes.c_void_p] * counters
    fwd.restype = ctypes.c_int
    return lib


def version_names(lib, prefix):
    name = getattr(lib, prefix + "_version_name")
    return [name(i).decode() for i in range(getattr(lib, prefix + "_version_count")())]


# The benchmarks' default settling time (docs/lesson10.md, "How the benchmark times"). Without it, a window of 20
# calls runs at whatever clock the calls before it left: the same kernel timed twice in one make bench-gpu run
# (H100, 2026-12-06) differed by up to 14 %, and the first methods of a case's first round (the GPU cooler after the
# checks: about 0.2 s of load) were up to 13 % faster than in the later rounds (2026-12-07). Half a second of the
# method's own calls first puts every method in its own steady state, whatever ran before it. Measured (H100,
# 2026-12-07 09:22 UTC, docs/gpu-runs/run_H100_2026-12-07_0922.md): settled, the same kernel timed twice in one run
# agreed within -2.3 % to +3.1 % at N >= 1024, and every method ran at the 700 W limit (hopper_clocks.py).
SETTLE_S = 0.5


def settle(fn, seconds):
    """fn called back to back for `seconds` of wall time, untimed, then a synchronize: the GPU's clock and power
    reach the method's own steady state, whatever ran before it (the queue is drained every 32 calls)."""
    t0, i = time.time(), 0
    while time.time() - t0 < seconds:
        fn(i)
        i += 1
        if i % 32 == 0:
            torch.cuda.synchronize()
    torch.cuda.synchronize()


def time_ms(fn, warmup, reps, settle_s=0.0):
    """Median over reps calls, each between two CUDA events; fn(i) uses input set i (modulo the caller's rotation).
    The calls are queued back to back (no sync in between), so the GPU never waits for Python and each interval is
    one call's GPU time. settle_s > 0: settle(fn, settle_s) after the warm-up calls."""
    for i in range(warmup):
        fn(i)
    if settle_s > 0:
        settle(fn, settle_s)
    ev = [torch.cuda.Event(enable_timing=True) for _ in range(reps + 1)]
    ev[0].record()
    for i in range(reps):
        fn(i)
        ev[i + 1].record()
    ev[-1].synchronize()
    return statistics.median(ev[i].elapsed_time(ev[i + 1]) for i in range(reps))


def ceilings():
    """The two numbers first: dense fp16 matmul 8192^3 (cuBLAS) in TFLOP/s and device copy bandwidth (bytes read +
    written) in TB/s."""
    n = 8192
    a = torch.randn(n, n, device="cuda", dtype=torch.float16)
    b = torch.randn(n, n, device="cuda", dtype=torch.float16)
    mm = 2 * n ** 3 / time_ms(lambda i: torch.mm(a, b), 3, 10) / 1e9
    x = torch.empty(2 ** 30, device="cuda", dtype=torch.uint8)   # 1 GiB, > L2
    y = torch.empty_like(x)
    bw = 2 * x.numel() / time_ms(lambda i: y.copy_(x), 3, 10) / 1e9
    del a, b, x, y
    return mm, bw


def sdpa(backend, q, k, v, causal):
    """SDPA with one backend ("flash", "cudnn", "efficient") on (B, N, H, d) tensors; O as (B, N, H, d)."""
    with sdpa_kernel(backends=[BACKENDS[backend]]):
        return F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2),
                                              is_causal=bool(causal)).transpose(1, 2)


def bench_case(d, N, rot=ROT):
    """The benchmark's shape for head dimension d and length N, hidden 2048 and B N = 16384 (B = 16384 / N,
    H = 2048 // d): B, H, rot sets of (q, k, v) ~ N(0, 1) in fp16 (B, N, H, d), and the O and L buffers."""
    B, H = 16384 // N, 2048 // d
    sets = [[torch.randn(B, N, H, d, device="cuda", dtype=torch.float16) for _ in range(3)] for _ in range(rot)]
    out = torch.empty(B, N, H, d, device="cuda", dtype=torch.float16)
    lse = torch.empty(B, H, N, device="cuda", dtype=torch.float32)
    return B, H, sets, out, lse


def fwd_flops(B, H, N, d, causal):
    """The forward's FLOPs as flash-attention counts them: 4 B H N^2 d, halved when causal."""
    return 4.0 * B * H * N * N * d / (2 if causal else 1)


def run_stem(tool, prop, now):
    """The run's file name without extension: <tool>_<device>_<date>, e.g. tc_bench_NVIDIA_H100_80GB_HBM3_2026-12-06."""
    return f"{tool}_{prop.name.replace(' ', '_')}_{now.strftime('%Y-%m-%d')}"


def write_record(outdir, stem, record, prog="gpu_bench"):
    """The run's record, stem.json in outdir (made if missing), written whole (report_out.write_whole): its path, or
    None after one line on stderr (the caller exits 3)."""
    if make_dirs(outdir, prog):
        return None
    path = os.path.join(outdir, stem + ".json")
    text = json.dumps(clean(record), indent=1, allow_nan=False) + "\n"
    return None if write_whole(path, text, prog) else path


def ncu_case(lib, prefix, version, d, N, causal, backends, counters=False):
    """One case for Nsight Compute: B = 16384 / N, H = 2048 // d, fp16; the version's forward twice (the first warms
    up), then each SDPA backend twice, on the same inputs."""
    idx = version_names(lib, prefix).index(version)
    fwd = getattr(lib, prefix + "_forward")
    B, H, sets, out, lse = bench_case(d, N, rot=1)
    q, k, v = sets[0]
    for _ in range(2):
        if fwd(idx, q.data_ptr(), k.data_ptr(), v.data_ptr(), out.data_ptr(), lse.data_ptr(), B, N, H, d, 0.0,
               int(causal), 1, None, *([None] * counters)):
            raise SystemExit(f"{version} failed")
    for be in backends:
        for _ in range(2):
            sdpa(be, q, k, v, causal)
    torch.cuda.synchronize()
