#!/usr/bin/env bash
# tc_bench_gpu.sh — the recorded run on a GPU machine: make bench-gpu, then ./lesson09 on five cases; the tables,
# logs and a SASS summary are copied to $OUT (OUT defaults to /tmp/tc_out).
set -uo pipefail
OUT=${OUT:-/tmp/tc_out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
make -j16 build/rel/cuda/tc_check build/rel/cuda/libflashlab_tc.so build/rel/cuda/tc_peak build/rel/cuda/tc_teach lesson09 \
    > /tmp/build.log 2>&1 || { tail -40 /tmp/build.log; exit 1; }
{ date -u; nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,power.limit --format=csv; } > "$OUT/run.log"
timeout 420 make bench-gpu TC_BENCH_ARGS="${TC_BENCH_ARGS:-}" TC_CHECK_ARGS="${TC_CHECK_ARGS:-}" TC_TEACH_MAXN="${TC_TEACH_MAXN:-16384}" >> "$OUT/run.log" 2>&1
rc=$?
echo "make bench-gpu: rc=$rc" | tee -a "$OUT/run.log"
grep -E "^tc_peak|^tc_check:|FAIL|^# |^d=|^tc_bench" "$OUT/run.log" | cut -c1-300
for a in ${TC_LESSON_CASES:-""}; do
    echo "== ./lesson09 $a"; ./lesson09 $a
done >> "$OUT/run.log" 2>&1
grep -E "^== |time on|✗|check_ok" "$OUT/run.log" | sed -E 's/.*(kernel_counts_match=[0-9]).*(check_ok=[0-9]).*(tflops=[0-9.]+)/\1 \2 \3/'
[ -z "${TC_SASS:-}" ] || cuobjdump --dump-sass build/rel/cuda/libflashlab_tc.so 2>&1 | awk '/Function :/ {f=$3} /HMMA/ {h[f]++} /LDSM/ {l[f]++}
    /MUFU.EX2/ {m[f]++} /BAR/ {b[f]++} /LDL|STL/ {s[f]++}
    END {for (k in h) printf "%-110s HMMA %5d LDSM %4d MUFU.EX2 %4d BAR %2d LDL/STL %3d\n", k, h[k], l[k], m[k], b[k], s[k]}' \
    | sort > "$OUT/sass_summary.txt"
cp docs/gpu-runs/tc_*"$(date -u +%Y-%m-%d)"* plots/data/tc_*"$(date -u +%Y-%m-%d)"* "$OUT"/ 2>/dev/null
ls "$OUT"
