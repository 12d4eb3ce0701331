#!/usr/bin/env bash
# session 11, call 2: t64x6a (two tiles ahead, five in a split's tail) checked (decode_check, memcheck, racecheck,
# synccheck on --quick), its timeline beside t64x3/t64x6/64x3 at S = 1, then a focused contest of candidate
# configurations against SDPA on the shapes at ~1.0x (7 rounds).
set -uo pipefail
out=$1; mkdir -p "$out/r"; export PYTHONUNBUFFERED=1
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 )) s] $*" | tee -a "$out/r/env.txt"; }
{ date -u; nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,power.limit --format=csv,noheader;
  echo "sources $(bash cuda/tools/prebuilt.sh hash)"; } >> "$out/r/env.txt"
BENCH=0 bash cuda/decode/decode_gpu.sh build/rel "$out/r/dec" > "$out/r/dec.log" 2>&1; el "decode_gpu (checks) exit $?"
grep -E "sass:|shapes pass|SUMMARY" "$out/r/dec.log"
T="16,32,8,32768,1,t64x3,0;16,32,8,32768,1,t64x6,0;16,32,8,32768,1,t64x6a,0;16,32,8,32768,1,64x3,0;64,32,8,32768,1,t64x6a,0"
timeout 90 python3 cuda/decode/dec_timeline.py --lib build/diag/libdec_stamps.so --configs "$T" \
    --out "$out/r/timeline.json" > "$out/r/timeline.log" 2>&1; el "timeline exit $?"
timeout 200 python3 cuda/decode/decode_bench.py --lib build/rel/libflashlab_decode.so --out "$out/r/candA" \
    --rule build/diag/candA.json --variants 64x3,t64x3,64x2 --rounds 5 --reps 15 > "$out/r/candA.log" 2>&1
el "decode_bench --rule candA exit $?"; tail -1 "$out/r/candA.log"
C="16,32,8,32768:1/64x3/0,1/t64x3/0,1/t64x6/0,1/t64x6a/0,2/64x2/1,2/t64x3/1"
C="$C;16,32,8,131072:1/64x3/0,1/t64x3/0,1/t64x6a/0,2/64x2/1"
C="$C;8,64,8,32768:2/64x3/1,2/t64x3/1,2/t64x6a/1,4/64x2/1"
C="$C;8,64,8,131072:2/64x3/1,2/t64x6a/1,4/64x2/1"
C="$C;1,32,32,32768:4/64x3/1,4/t64x6a/1,8/64x2/1"
C="$C;1,32,32,131072:4/64x3/1,4/t64x6a/1,8/64x2/1"
C="$C;1,32,8,131072:16/t64x6a/1,16/64x3/1,32/64x2/1"
C="$C;16,32,8,4096:1/64x3/0,1/t64x3/0,1/t64x6a/0"
C="$C;64,32,8,4096:1/64x3/0,1/t64x3/0,1/t64x6a/0"
C="$C;64,32,8,32768:1/t64x3/0,1/t64x6a/0,1/64x3/0"
C="$C;64,32,8,131072:1/t64x3/0,1/t64x6a/0"
lim=$(( 520 - ($(date +%s) - t0) )); [ $lim -lt 30 ] && lim=30
timeout $lim python3 cuda/decode/dec_timeline.py --lib build/rel/libflashlab_decode.so --contest "$C" --rounds 7 \
    --out "$out/r/contest.json" > "$out/r/contest.log" 2>&1; el "contest exit $?"
tar czf "$out/s11b_$(date -u +%H%M).tgz" -C "$out" r && rm -rf "$out/r"
