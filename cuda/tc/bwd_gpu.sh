#!/usr/bin/env bash
# bwd_gpu.sh — the tensor-core backward's GPU run, from the repository root on a bare H100/H200 machine:
#   bash cuda/tc/bwd_gpu.sh OUTDIR
# builds what it needs (make -j16), then: bwd_check (dQ, dK, dV vs fp64 by Tri Dao's criterion; counters vs the
# simulator's ledger), ./lesson09 --backward on one shape, compute-sanitizer memcheck and racecheck on small shapes,
# and the benchmark against SDPA's flash, cuDNN and efficient backwards (one Python process). Each step under timeout.
# Writes OUTDIR/check.log (build, checks, lesson, sanitizers), OUTDIR/bench.log (the benchmark and its table).
# Expected: build ~90 s, checks ~30 s, lesson09 ~15 s, sanitizers ~40 s, benchmark ~70 s: ~240 s in all.
. "$(dirname "$0")/gpu_steps.sh" "$0" "$@"   # OUT, LOG, B, step
step build 180 make -j16 $B/bwd_check $B/libflashlab_tc_bwd.so lesson09 || { tail -30 "$LOG"; exit 1; }
step bwd_check 90 $B/bwd_check
grep -E "FAIL|^bwd_check:" "$LOG" | cut -c1-400
step lesson09 60 ./lesson09 --backward -N 1000 --batch 2 --heads 3 --causal
step lesson09_d128 60 ./lesson09 --backward -N 2048 -d 128 --batch 1 --heads 16
grep -E "^summary:" "$LOG" | tr ' ' '\n' | grep -E "kernel_counts_match|check_ok|tflops|time_ms|N=|d=" | paste -sd' '
step memcheck 90 compute-sanitizer --tool memcheck --error-exitcode 9 $B/bwd_check --quick
step racecheck 120 compute-sanitizer --tool racecheck --error-exitcode 9 $B/bwd_check --quick
grep -E "ERROR SUMMARY|RACECHECK SUMMARY|hazard" "$LOG" | sort | uniq -c | head -20
s=$SECONDS
timeout 200 python3 cuda/tools/tc_bwd_bench.py --lib $B/libflashlab_tc_bwd.so --outdir "$OUT/table" \
    --cmd "bash cuda/tc/bwd_gpu.sh" > "$OUT/bench.log" 2>&1
echo "== bench: rc=$? ($((SECONDS - s)) s)" | tee -a "$LOG"
cat "$OUT"/table/*.txt >> "$OUT/bench.log" 2>/dev/null && rm -rf "$OUT/table"
grep -E "^d=|^tc_bwd_bench|Error|error" "$OUT/bench.log" | cut -c1-330
echo "total $SECONDS s"
