#!/usr/bin/env bash
# session 11, call 3: the confirming run of the plan as committed (one wave, t64x3 past 256 rows): decode_gpu.sh
# (SASS atomics, decode_check --anchors, memcheck/racecheck/synccheck on --quick, decode_bench.py 5 rounds eager and
# graph); then, with the time left, a contest at B = 16 (7 rounds) of the plan beside the doubled S.
set -uo pipefail
out=$1; mkdir -p "$out/r"; export PYTHONUNBUFFERED=1
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 )) s] $*" | tee -a "$out/r/env.txt"; }
{ date -u; nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,power.limit --format=csv,noheader;
  echo "sources $(bash cuda/tools/prebuilt.sh hash)"; } >> "$out/r/env.txt"
bash cuda/decode/decode_gpu.sh build/rel "$out/r/dec" > "$out/r/dec.log" 2>&1; el "decode_gpu exit $?"
grep -E "sass:|shapes pass|SUMMARY|summary:" "$out/r/dec.log"
C="16,32,8,32768:1/t64x3/0,1/64x3/0,2/64x2/1,2/t64x3/1;16,32,8,131072:1/t64x3/0,2/64x2/1"
lim=$(( ${WALL:-330} - ($(date +%s) - t0) ))
if [ $lim -gt 40 ]; then
    timeout $lim python3 cuda/decode/dec_timeline.py --lib build/rel/libflashlab_decode.so --contest "$C" --rounds 7 \
        --out "$out/r/contest.json" > "$out/r/contest.log" 2>&1; el "contest exit $?"
else el "contest: no time"; fi
tar czf "$out/s11c_$(date -u +%H%M).tgz" -C "$out" r && rm -rf "$out/r"
