#!/usr/bin/env bash
# dec4_gpu.sh — one call on a bare H100, from anywhere: lesson11's CUDA decode with the L2-hint and bulk-copy
# variants, checked, swept, then benchmarked against SDPA's flash and cuDNN. About 200 s, at most about 330 s.
#   bash cuda/decode/dec4_gpu.sh OUTDIR
# Steps (each under timeout; OUTDIR gets summary.txt and one log per step, small):
#   1. make -j16 decode-build                                              build.log
#   2. decode_gpu.sh with BENCH=0: SASS atomics, decode_check --anchors (every variant vs fp64 and the ledger, the
#      plan's counters on all 15 anchors), compute-sanitizer memcheck, racecheck, synccheck on --quick (which has
#      shapes for every variant)                                           checks/ (env.txt check.log sanitizers.log)
#   3. decode_bench.py --sweep --scope plan --finer: on every anchor shape the plan's S and merge with every variant
#      (and 2x, 4x the plan's S with 64x3, 64x2, b64x3: a finer split's tail against its partials), SDPA flash and
#      cuDNN in the same interleaved rounds; the rules scored                                    sweep.log, sweep/
#   4. decode_bench.py (bench mode, eager and graph, interleaved rounds) with the sweep's best rule as ours
#      (--rule; the plan when the sweep left no record)                                          bench.log, bench/
#   5. when time is left: bench mode again with fl_decode_plan as committed (3 rounds)     bench_plan.log, bench_plan/
# Exit status: the first failing step's, else 0.
set -uo pipefail
out=${1:?OUTDIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
cd "$(dirname "$0")/../.." || exit 4
export PATH=$PWD/.dev/bin:$PATH PYTHONUNBUFFERED=1
B=build/rel
T0=$(date +%s)
el() { echo $(( $(date +%s) - T0 )); }
sum=$out/summary.txt
say() { echo "[$(el) s] $*" | tee -a "$sum"; }
status=0
keep() { [ "$1" = 0 ] || [ "$status" != 0 ] || status=$1; }

{ date -u; git log --oneline -1
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm,power.limit --format=csv
  python3 -c 'import torch; print("torch", torch.__version__, "cudnn", torch.backends.cudnn.version())'
} 2>&1 | tee -a "$sum"

say "1. build"
timeout 150 make -j16 decode-build > "$out/build.log" 2>&1
rc=$?; keep $rc; say "build: exit $rc"
[ $rc = 0 ] || { tail -20 "$out/build.log" | tee -a "$sum"; exit $status; }

say "2. checks"
BENCH=0 timeout 200 bash cuda/decode/decode_gpu.sh $B "$out/checks" > "$out/checks.log" 2>&1
rc=$?; keep $rc; say "checks: exit $rc"
grep -E "^sass|bulk ops .*Li128ELi64ELi3ELi2ELb0|shapes pass|ERROR SUMMARY|RACECHECK SUMMARY|FAIL|DIFFER|== exit" \
    "$out/checks.log" | head -40 | tee -a "$sum"

# A variant that failed decode_check is not swept (a CUDA error there, which names no variant: none of the new ones).
bad=$(awk '/ FAIL$/{for (i = 1; i <= NF; i++) if ($i == "BHND" || $i == "BNHD") print $(i + 1)}' \
    "$out/checks/check.log" 2>/dev/null | sort -u | paste -sd, -)
grep -q "CUDA error" "$out/checks/check.log" 2>/dev/null && bad=64x3h,64x2h,b64x3,b64x4,b64x2,64x6,b64x6
[ -z "$bad" ] || say "not swept (failed decode_check): $bad"

bench=cuda/decode/decode_bench.py
lib=$B/libflashlab_decode.so
say "3. sweep (--scope plan: every variant at the plan's S)"
mkdir -p "$out/sweep" "$out/bench" "$out/bench_plan"
timeout 150 python3 $bench --lib $lib --out "$out/sweep" --sweep --scope plan --finer --rounds 5 --reps 20 \
    ${bad:+--exclude "$bad"} > "$out/sweep.log" 2>&1
rc=$?; keep $rc; say "sweep: exit $rc"
sed -n '/^  B=/p; /^      S=/p; /^| /p' "$out/sweep.log" | cut -c1-200 | tee -a "$sum"
sed -n '/^rules/,$p' "$out/sweep.log" | head -6 | cut -c1-260 | tee -a "$sum"
tail -3 "$out/sweep.log" | grep -iE "error|Traceback" | tee -a "$sum"

rule=$(ls "$out"/sweep/decode_sweep_*.json 2>/dev/null | head -1)
say "4. bench ($([ -n "$rule" ] && echo "the sweep's best rule" || echo "fl_decode_plan: no sweep record"))"
timeout 150 python3 $bench --lib $lib --out "$out/bench" --rounds 5 --reps 30 ${rule:+--rule "$rule"} \
    > "$out/bench.log" 2>&1
rc=$?; keep $rc; say "bench: exit $rc"
{ grep -m1 '^device copy' "$out/bench.log"; sed -n '/^| /p; /^summary:/p' "$out/bench.log"; } | cut -c1-260 \
    | tee -a "$sum"
tail -3 "$out/bench.log" | grep -iE "error|Traceback" | tee -a "$sum"

if [ -n "$rule" ] && [ "$(el)" -le 230 ]; then
    say "5. bench (fl_decode_plan as committed, 3 rounds)"
    timeout $(( 320 - $(el) )) python3 $bench --lib $lib --out "$out/bench_plan" --rounds 3 --reps 30 \
        > "$out/bench_plan.log" 2>&1
    rc=$?; keep $rc; say "bench (plan): exit $rc"
    sed -n '/^| /p; /^summary:/p' "$out/bench_plan.log" | cut -c1-260 | tee -a "$sum"
else
    say "5. bench (plan): not run ($(el) s elapsed)"
fi
say "done: exit $status"
exit $status
