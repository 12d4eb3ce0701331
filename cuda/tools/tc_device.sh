#!/usr/bin/env bash
# tc_device.sh — one call on the GPU machine: build, unit ceilings, checks, benchmark, SASS summary; logs in $OUT.
#   bash cuda/tools/tc_device.sh [bench args...]      (OUT defaults to /tmp/tc_out)
set -uo pipefail
OUT=${OUT:-/tmp/tc_out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
{ date -u; nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,power.draw,power.limit,temperature.gpu \
    --format=csv; nvcc --version | tail -2; python3 -c 'import torch; print("torch", torch.__version__)'; } \
    > "$OUT/info.txt" 2>&1
cat "$OUT/info.txt"
t0=$(date +%s)
make -j16 build/rel/cuda/tc_check build/rel/cuda/libflashlab_tc.so build/rel/cuda/tc_peak build/rel/cuda/tc_teach lesson09 > /tmp/build.log 2>&1 \
    || { tail -40 /tmp/build.log; exit 1; }
echo "build: $(( $(date +%s) - t0 )) s"
./build/rel/cuda/tc_peak 2>&1 | tee -a "$OUT/info.txt"
t0=$(date +%s)
timeout ${TC_CHECK_TIMEOUT:-240} ./build/rel/cuda/tc_check ${TC_CHECK_ARGS:-} > "$OUT/check.log" 2>&1
rc=$?
echo "tc_check: rc=$rc, $(( $(date +%s) - t0 )) s; failures:"
grep -E "FAIL" "$OUT/check.log" | head -25
tail -1 "$OUT/check.log"
[ $rc -eq 124 ] && { echo "tc_check timed out: a kernel hangs; no benchmark"; tail -3 "$OUT/check.log"; exit 1; }
./build/rel/cuda/tc_peak > /tmp/peak.txt 2>&1
timeout 200 ./build/rel/cuda/tc_teach /tmp/teach.txt ${TC_TEACH_MAXN:-16384} > /tmp/teach.log 2>&1; echo "tc_teach rc=$?"
tail -4 /tmp/teach.log
for a in "" "--causal -d 128 --heads 16" "--dtype bf16"; do ./lesson09 $a | tail -6 | cut -c1-400; done
timeout 420 python3 cuda/tools/tc_bench.py --lib build/rel/cuda/libflashlab_tc.so --outdir "$OUT" --datdir "$OUT" --cmd "bash cuda/tools/tc_device.sh $*" \
    --teach /tmp/teach.txt --peak /tmp/peak.txt "$@" \
    2>&1 | tee "$OUT/bench.log"
# Nsight Compute on one case (TC_NCU="version d N causal"): our kernel and SDPA's flash, same inputs
if [ -n "${TC_NCU:-}" ]; then
    timeout 200 ncu --clock-control none -k 'regex:attn_v|flash_fwd' -c 4 --set full -o /tmp/tc_ncu -f python3 cuda/tools/tc_ncu.py \
        build/rel/cuda/libflashlab_tc.so $TC_NCU > /tmp/ncu.log 2>&1
    ncu --import /tmp/tc_ncu.ncu-rep --page details > /tmp/ncu_details.txt 2>&1
    cat /tmp/ncu.log >> /tmp/ncu_details.txt
    gzip -c /tmp/ncu_details.txt > "$OUT/ncu_details.txt.gz"
    tail -3 /tmp/ncu.log
fi
# SASS: per kernel, how many tensor-core, ldmatrix, exp, barrier and local-memory instructions
cuobjdump --dump-sass build/rel/cuda/libflashlab_tc.so > /tmp/sass.txt 2>&1
awk '/Function :/ {f=$3} /HMMA/ {h[f]++} /LDSM/ {l[f]++} /MUFU.EX2/ {m[f]++} /BAR.SYNC/ {b[f]++} /LDL|STL/ {s[f]++}
     END {for (k in h) printf "%-110s HMMA %5d LDSM %4d MUFU.EX2 %4d BAR %2d LDL/STL %3d\n", k, h[k], l[k], m[k], b[k], s[k]}' \
    /tmp/sass.txt | sort > "$OUT/sass_summary.txt"
gzip -c /tmp/sass.txt > "$OUT/sass.txt.gz"
cat /tmp/build.log >> "$OUT/info.txt"
wc -l "$OUT/sass_summary.txt"
