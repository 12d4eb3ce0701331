#!/usr/bin/env bash
# bench.sh CUDA_BUILD — `make cuda-bench`: time and device memory of v01 (standard), v02 (flash1), v03 (flash2)
# over N = 1024 .. 16384 (fp32, d=64, B=1, H=16), each validated before it is timed. Writes
# plots/data/cuda_time_mem_<device>_<date>.dat and draws plots/out/cuda_time_mem.png when gnuplot is there.
set -euo pipefail
B=${1:?usage: bench.sh CUDA_BUILD}
nvidia-smi -L 2>/dev/null | grep -q GPU || { echo "✗ no CUDA device: make cuda-bench needs an NVIDIA GPU" >&2; exit 2; }
dev=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
tag=$(echo "$dev" | tr ' ' '_' | tr -cd 'A-Za-z0-9_-')
mkdir -p plots/data
out=plots/data/cuda_time_mem_${tag}_$(date -u +%Y-%m-%d).dat
"$B/cuda_bench" sweep "$out" 64 1 16
echo "wrote $out"
bash "$(dirname "$0")/draw.sh" "$out" plots/cuda_time_mem.gp plots/out/cuda_time_mem.png
