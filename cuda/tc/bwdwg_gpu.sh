#!/usr/bin/env bash
# bwdwg_gpu.sh — the wgmma backward's GPU run (rows bwd_wgmma, bwd_wgmma_dq1, bwd_wgmma_pipe, bwd_wgmma_ks of
# cuda/tc/bwd.def; kernel cuda/tc/attn_bwd_wgmma.cu; the last three differ from the first at d = 64 only), from the repository root on a bare H100/H200 machine:
#   bash cuda/tc/bwdwg_gpu.sh OUTDIR
# builds only what it needs (make -j16: bwd_check and the benchmark's library), then, each step under timeout:
#   quick     bwd_check --quick per wgmma row (two small shapes, fp16, counters too); a hang or a layout error shows
#             here first, and a row that fails or hangs is left out of the benchmark
#   check     bwd_check --config bwd_wgmma: dQ, dK, dV vs fp64 (Tri Dao's criterion) on N = 128, 1, 17, 200, 333,
#             700, 1100, d = 64/128, fp16/bf16, causal or not; counters vs the simulator's ledger (fp16); a failing
#             gradient gets a line with its first bad entry and the rows and columns the bad entries span
#   memcheck, racecheck   compute-sanitizer on bwd_check --quick for bwd_wgmma, bwd_wgmma_pipe and bwd_wgmma_ks
#   bench     tc_bwd_bench.py --quick: d = 64, 128, N = 4096, 8192, 16384, causal and not; the wgmma rows that passed
#             beside bwd_br128, bwd_br64 and SDPA's flash, cuDNN and efficient backwards, one process
# Writes OUTDIR/check.log (build, checks, sanitizers), OUTDIR/bench.log (the benchmark and its table); prints one
# status line per step and the lines that matter. Expected: build ~90 s, checks ~40 s, sanitizers ~30 s, benchmark
# ~45 s: ~200 s in all.
. "$(dirname "$0")/gpu_steps.sh" "$0" "$@"   # OUT, LOG, B, step
step build 150 make -j16 $B/bwd_check $B/libflashlab_tc_bwd.so || { tail -30 "$LOG"; exit 1; }
PASS=bwd_br128,bwd_br64
for cfg in bwd_wgmma bwd_wgmma_dq1 bwd_wgmma_pipe bwd_wgmma_ks; do
    step "quick $cfg" 25 $B/bwd_check --quick --config $cfg && PASS=$PASS,$cfg
done
grep -E "FAIL|past the bound|error|^bwd_check: [0-9]" "$LOG" | head -24 | cut -c1-400
echo "benchmark: $PASS"
case $PASS in *bwd_wgmma*) ;; *) echo "no wgmma row passed its quick check: stopping"; exit 1 ;; esac
step check 90 $B/bwd_check --config bwd_wgmma
grep -E "FAIL|past the bound|^bwd_check:" "$LOG" | sort | uniq | head -40 | cut -c1-400
# a passing line per head dimension, dtype and mask at N = 333, and the counters, to see the error sizes
grep -E "^bwd_wgmma +d=(64|128) +(fp16|bf16) (full|causal) +B=2 N=333 " "$LOG" | cut -c1-330
grep -E "^bwd_wgmma +counters" "$LOG" | head -2 | cut -c1-600
step memcheck 45 compute-sanitizer --tool memcheck --error-exitcode 9 $B/bwd_check --quick --config bwd_wgmma \
    --config bwd_wgmma_pipe --config bwd_wgmma_ks
step racecheck 60 compute-sanitizer --tool racecheck --error-exitcode 9 $B/bwd_check --quick --config bwd_wgmma \
    --config bwd_wgmma_pipe --config bwd_wgmma_ks
grep -E "ERROR SUMMARY|RACECHECK SUMMARY|hazard|Invalid|out of bounds" "$LOG" | sort | uniq -c | head -20 | cut -c1-300
s=$SECONDS
timeout 150 python3 cuda/tools/tc_bwd_bench.py --quick --configs "$PASS" --lib $B/libflashlab_tc_bwd.so \
    --outdir "$OUT/table" --cmd "bash cuda/tc/bwdwg_gpu.sh" > "$OUT/bench.log" 2>&1
echo "== bench: rc=$? ($((SECONDS - s)) s)" | tee -a "$LOG"
cat "$OUT"/table/*.txt >> "$OUT/bench.log" 2>/dev/null && rm -rf "$OUT/table"
grep -E "^d=|^tc_bwd_bench|Error|error" "$OUT/bench.log" | cut -c1-420
echo "total $SECONDS s"
