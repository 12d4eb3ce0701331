#!/usr/bin/env bash
# perf_gpu.sh — one call on a bare H100/H200 machine, from the repository root: lesson11's decode (checks, then the
# benchmark) and make bench-gpu (tc v04-v12 and the Hopper v13+ beside SDPA's flash, cuDNN and efficient backends,
# one process, checks first). Each step under `timeout`; the whole about 260 s, at most about 330 s.
#   bash cuda/tools/perf_gpu.sh OUTDIR        OUTDIR gets three files: perf_gpu.log (what the steps printed, in
#                                             short), decode.tar.gz and bench.tar.gz (every log, table and figure)
#   PERF_DECODE=sweep (default): decode_bench.py --sweep (split rules x variants x merges, eager) and picks a rule;
#   PERF_DECODE=bench: decode_bench.py with fl_decode_plan's rule (eager and graph), the confirming run.
#   PERF_BENCH=0: no make bench-gpu.  BENCH_NS / BENCH_DIMS: make bench-gpu's N and d (default 512..16384, 64,128,256).
set -uo pipefail
out=${1:?OUTDIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
cd "$(dirname "$0")/../.."
export PATH=$PWD/.dev/bin:$PATH PYTHONUNBUFFERED=1
B=build/rel
tmp=$(mktemp -d)
touch "$tmp/start"   # what this run writes is newer
log=$out/perf_gpu.log
T0=$(date +%s)
el() { echo $(( $(date +%s) - T0 )); }
say() { echo "[$(el) s] $*" | tee -a "$log"; }
status=0
keep() { [ "$1" = 0 ] || [ "$status" != 0 ] || status=$1; }

{ date -u; nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm,power.limit --format=csv
  python3 -c 'import torch; print("torch", torch.__version__, "cudnn", torch.backends.cudnn.version())'
} 2>&1 | tee -a "$log"

# 1. Build: the decode library first (its checks run while the rest compiles), then tc and Hopper in the background.
say "build decode"
timeout 120 make -j16 decode-build > "$tmp/build_decode.log" 2>&1
rc=$?; keep $rc; say "build decode: exit $rc"; [ $rc = 0 ] || tail -20 "$tmp/build_decode.log" | tee -a "$log"
( timeout 240 make -j14 $B/cuda/tc_check $B/cuda/libflashlab_tc.so $B/cuda/tc_peak $B/cuda/tc_teach $B/hopper_check \
      $B/libflashlab_hopper.so > "$tmp/build_bench.log" 2>&1; echo $? > "$tmp/build_bench.rc" ) &
bpid=$!

# 2. Decode checks (not timing: they may share the CPU with the build): SASS atomics, decode_check --anchors,
#    compute-sanitizer memcheck, racecheck, synccheck on the small shapes.
mkdir -p "$tmp/decode"
if [ -x $B/decode_check ]; then
    BENCH=0 timeout 200 bash cuda/decode/decode_gpu.sh $B "$tmp/decode" > "$tmp/decode_checks.log" 2>&1
    rc=$?; keep $rc
    say "decode checks: exit $rc"
    grep -E "^sass|shapes pass|ERROR SUMMARY|RACECHECK SUMMARY|FAIL|DIFFER|== exit" "$tmp/decode_checks.log" \
        | head -30 | tee -a "$log"
fi
say "waiting for the build"
wait $bpid
rc=$(cat "$tmp/build_bench.rc" 2>/dev/null || echo 1); keep $rc
say "build tc + hopper: exit $rc"; [ "$rc" = 0 ] || tail -20 "$tmp/build_bench.log" | tee -a "$log"

# 3. The decode benchmark, alone on the machine.
if [ -f $B/libflashlab_decode.so ]; then
    mode=${PERF_DECODE:-sweep}
    timeout 150 python3 cuda/decode/decode_bench.py --lib $B/libflashlab_decode.so --out "$tmp/decode" --reps 20 \
        $([ "$mode" = sweep ] && echo --sweep) > "$tmp/decode/bench.log" 2>&1
    rc=$?; keep $rc
    say "decode_bench ($mode): exit $rc"
    sed -n '/^decode_bench on/,/^device copy/p; /^  B=/p; /^      S=/p; /^| /p; /^rules/,$p' "$tmp/decode/bench.log" | cut -c1-240 \
        | tee -a "$log"
fi

# 4. make bench-gpu: tc_peak, tc_check --quick, tc_teach (N <= 1024), the Hopper gate (v19 checked on its own),
#    then one process timing everything, reps 10.
#    Late (past 150 s), N = 2048 and 8192 are left out; tc_bench.py rewrites its tables after every N.
ns=${BENCH_NS:-512,1024,2048,4096,8192,16384}
[ -n "${BENCH_NS:-}" ] || [ "$(el)" -le 150 ] || ns=512,1024,4096,16384
if [ "${PERF_BENCH:-1}" = 1 ] && [ "$(el)" -lt 220 ]; then
    say "make bench-gpu, N = $ns"
    timeout $(( 325 - $(el) )) make bench-gpu TC_CHECK_ARGS=--quick TC_TEACH_MAXN=1024 TC_BENCH_ARGS="--reps 10" \
        BENCH_NS="$ns" BENCH_DIMS="${BENCH_DIMS:-64,128,256}" > "$tmp/bench_gpu.log" 2>&1
    rc=$?; keep $rc
    say "make bench-gpu: exit $rc"
    # per case: the shape, SDPA's three, our fastest and its ratios, the checks (every version's number: the tables)
    grep -E "^tc_peak|^tc_check:|^hopper_gate|^# |^tc_bench|FAIL|rror" "$tmp/bench_gpu.log" | cut -c1-300 | head -40 \
        | tee -a "$log"
    awk -F' [|] ' '/^d=/ {print $1 " | " $3 " | " $4 " | " $5}' "$tmp/bench_gpu.log" | cut -c1-250 | tee -a "$log"
else
    say "make bench-gpu: not run (PERF_BENCH=${PERF_BENCH:-1}, $(el) s elapsed)"
fi

# 5. Three files back.
cp "$tmp/decode_checks.log" "$tmp/build_decode.log" "$tmp/decode/" 2>/dev/null
tar -czf "$out/decode.tar.gz" -C "$tmp" decode 2>/dev/null
mkdir -p "$tmp/bench"
cp "$tmp/bench_gpu.log" "$tmp/build_bench.log" "$tmp/bench/" 2>/dev/null
find docs/gpu-runs plots/data plots/out -type f -newer "$tmp/start" -exec cp {} "$tmp/bench/" \; 2>/dev/null
tar -czf "$out/bench.tar.gz" -C "$tmp" bench 2>/dev/null
rm -rf "$tmp"
say "done: exit $status"
exit $status
