#!/usr/bin/env python3
"""hopper_ncu.py — one case for Nsight Compute: a Hopper version, SDPA's cuDNN and flash backends, same inputs.

  ncu --clock-control none --kernel-name-base demangled -k 'regex:hp_ws|cudnn|flash_fwd' -c 6 --section SpeedOfLight --section WarpStateStats \
      python3 cuda/hopper/hopper_ncu.py build/rel/libflashlab_hopper.so v18_persist 128 8192 0

Each kernel runs twice (the first warms up); B = 16384 / N, H = 2048 // d, fp16.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import gpu_bench  # noqa: E402  (cuda/tools: the drivers' shared timer, library signatures, SDPA)


def main():
    lib_path, version, d, N, causal = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), bool(int(sys.argv[5]))
    lib = gpu_bench.load_forward_lib(lib_path, "hp", counters=True)
    gpu_bench.ncu_case(lib, "hp", version, d, N, causal, ["cudnn", "flash"], counters=True)
    print(f"hopper_ncu: {version} d={d} N={N} causal={int(causal)} done")


if __name__ == "__main__":
    main()
