#!/usr/bin/env bash
# fwd_host_gpu.sh — one call on a GPU machine for the shared host side of the forward kernels (cuda/common/fwd_host.c
# under tc_check, hopper_check and lesson10; cuda/tools/gpu_bench.py under tc_ncu.py and hopper_ncu.py): build, the
# quick checks, one lesson10 run, each Python driver once. At most ~150 s; three logs in the directory $1.
#   bash cuda/tools/fwd_host_gpu.sh /tmp/out
set -uo pipefail
OUT=${1:-/tmp/fwd_host_out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
B=build/rel
t0=$(date +%s)
el() { echo $(( $(date +%s) - t0 )); }
{
    date -u
    nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
    timeout 100 make -j16 $B/cuda/tc_check $B/cuda/libflashlab_tc.so $B/hopper_check $B/libflashlab_hopper.so lesson10 \
        > /tmp/fwd_build.log 2>&1
    echo "build: rc=$? at $(el) s"
    tail -5 /tmp/fwd_build.log | grep -iE "error|warning" || true
} > "$OUT/build.txt" 2>&1
{
    timeout 30 $B/cuda/tc_check --quick > /tmp/tc_check.log 2>&1
    echo "tc_check --quick: rc=$? at $(el) s"
    grep FAIL /tmp/tc_check.log | head -10
    tail -1 /tmp/tc_check.log
    timeout 40 $B/hopper_check --quick > /tmp/hopper_check.log 2>&1
    echo "hopper_check --quick: rc=$? at $(el) s"
    grep FAIL /tmp/hopper_check.log | head -10
    tail -1 /tmp/hopper_check.log
    for a in "" "--causal -d 128 --heads 16 --dtype bf16"; do
        timeout 20 ./lesson10 $a > /tmp/lesson10.log 2>&1
        echo "lesson10 $a: rc=$? at $(el) s"
        grep -E "✗|error" /tmp/lesson10.log | head -5
        tail -1 /tmp/lesson10.log | cut -c1-600
    done
} > "$OUT/checks.txt" 2>&1
{
    timeout 25 python3 cuda/tools/tc_ncu.py $B/cuda/libflashlab_tc.so final 64 4096 1
    echo "tc_ncu.py: rc=$? at $(el) s"
    timeout 25 python3 cuda/hopper/hopper_ncu.py $B/libflashlab_hopper.so "$(sed -n 's/^HP_VERSION(\([a-z0-9_]*\),.*/\1/p' \
        cuda/hopper/hopper.def | tail -1)" 128 4096 0
    echo "hopper_ncu.py: rc=$? at $(el) s"
} > "$OUT/python.txt" 2>&1
cat "$OUT"/build.txt "$OUT"/checks.txt "$OUT"/python.txt
