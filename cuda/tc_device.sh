#!/usr/bin/env bash
# tc_device.sh — one call on the GPU machine: build, unit ceilings, checks, benchmark, SASS summary; logs in $OUT.
#   bash cuda/tc_device.sh [bench args...]      (OUT defaults to /tmp/tc_out)
set -uo pipefail
OUT=${OUT:-/tmp/tc_out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
{ date -u; nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,power.draw,power.limit,temperature.gpu \
    --format=csv; nvcc --version | tail -2; python3 -c 'import torch; print("torch", torch.__version__)'; } \
    > "$OUT/info.txt" 2>&1
cat "$OUT/info.txt"
t0=$(date +%s)
make -j16 build/rel/tc_check build/rel/libflashlab_tc.so build/rel/tc_peak > "$OUT/build.log" 2>&1 \
    || { tail -40 "$OUT/build.log"; exit 1; }
echo "build: $(( $(date +%s) - t0 )) s"
./build/rel/tc_peak 2>&1 | tee -a "$OUT/info.txt"
t0=$(date +%s)
./build/rel/tc_check ${TC_CHECK_ARGS:-} > "$OUT/check.log" 2>&1
rc=$?
echo "tc_check: rc=$rc, $(( $(date +%s) - t0 )) s; failures:"
grep -E "FAIL" "$OUT/check.log" | head -25
tail -1 "$OUT/check.log"
python3 cuda/tc_bench.py --lib build/rel/libflashlab_tc.so --outdir "$OUT" --cmd "bash cuda/tc_device.sh $*" "$@" \
    2>&1 | tee "$OUT/bench.log"
# SASS: per kernel, how many tensor-core, ldmatrix, exp, barrier and local-memory instructions
cuobjdump --dump-sass build/rel/libflashlab_tc.so > /tmp/sass.txt 2>&1
awk '/Function :/ {f=$3} /HMMA/ {h[f]++} /LDSM/ {l[f]++} /MUFU.EX2/ {m[f]++} /BAR.SYNC/ {b[f]++} /LDL|STL/ {s[f]++}
     END {for (k in h) printf "%-110s HMMA %5d LDSM %4d MUFU.EX2 %4d BAR %2d LDL/STL %3d\n", k, h[k], l[k], m[k], b[k], s[k]}' \
    /tmp/sass.txt | sort > "$OUT/sass_summary.txt"
gzip -c /tmp/sass.txt > "$OUT/sass.txt.gz"
wc -l "$OUT/sass_summary.txt"
