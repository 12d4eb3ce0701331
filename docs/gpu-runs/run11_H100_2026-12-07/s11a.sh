#!/usr/bin/env bash
# session 11, call 1: (1) the decode timeline (stamps build) and ncu of cuDNN/flash/ours at B=16 L=32768;
# (2) decode_gpu.sh, the confirming run of the plan as committed (t64x3 for splits past 4096 rows): SASS atomics,
# decode_check --anchors, sanitizers, decode_bench 5 rounds eager + graph. Binaries built on the CPU machine (carried).
set -uo pipefail
out=$1; mkdir -p "$out/r"; export PYTHONUNBUFFERED=1
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 )) s] $*" | tee -a "$out/r/env.txt"; }
{ date -u; nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,power.limit --format=csv,noheader;
  echo "sources $(bash cuda/tools/prebuilt.sh hash)"; } >> "$out/r/env.txt"
bash cuda/decode/dec_timeline.sh run "$out/r/tl" > "$out/r/tl.log" 2>&1; el "timeline exit $?"
bash cuda/decode/decode_gpu.sh build/rel "$out/r/dec" > "$out/r/dec.log" 2>&1; el "decode_gpu exit $?"
tail -3 "$out/r/dec.log"
tar czf "$out/s11a_$(date -u +%H%M).tgz" -C "$out" r && rm -rf "$out/r"
