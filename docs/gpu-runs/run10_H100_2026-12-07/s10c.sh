#!/usr/bin/env bash
# session 10, one call: (1) the decode TMA variants' first run: decode_check (refusals, quick both merges, larger
# shapes), decode_bench at every anchor shape with the plan and named variants at the plan's S beside SDPA flash and
# cuDNN in the same rounds; (2) gpu_next.sh final (hopper_check --quick, hopper_bench of final at every d: the
# regenerated rule's first timing); (3) compute-sanitizer on decode_check --quick with the time left; one tarball
set -uo pipefail
out=$1; mkdir -p "$out/r"; export PATH=$PWD/.dev/bin:$PATH PYTHONUNBUFFERED=1
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 )) s] $*" | tee -a "$out/r/env.txt"; }
left() { echo $(( ${WALL:-580} - ($(date +%s) - t0) )); }
{ date -u; nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,power.limit --format=csv,noheader; } >> "$out/r/env.txt"
MAKE_O=$(bash cuda/tools/prebuilt.sh unpack 2>>"$out/r/env.txt")
make -j16 $MAKE_O build/rel/decode_check build/rel/libflashlab_decode.so > "$out/r/build.log" 2>&1; el "build exit $?"
timeout 120 build/rel/decode_check > "$out/r/check.log" 2>&1; el "decode_check exit $?"; tail -1 "$out/r/check.log"
timeout 240 python3 cuda/decode/decode_bench.py --lib build/rel/libflashlab_decode.so \
    --out "$out/r" --rounds 5 --reps ${REPS:-15} --variants ${VARS:-64x2,64x3,128x3,64x6,t64x3,t128x3,t64x6} \
    > "$out/r/bench.log" 2>&1
el "decode_bench exit $?"; tail -2 "$out/r/bench.log"
b=$(( $(left) - 60 )); [ $b -gt 240 ] && b=240
if [ $b -gt 60 ]; then
    GPU_NEXT_BUDGET=$b bash cuda/tools/gpu_next.sh "$out/r/next" final > "$out/r/next.log" 2>&1
    el "gpu_next final exit $?"; tail -3 "$out/r/next.log"
else el "final: no time"; fi
for tool in memcheck racecheck synccheck; do
    l=$(( $(left) - 15 )); [ $l -lt 20 ] && { el "$tool: no time left"; continue; }
    timeout $l compute-sanitizer --tool $tool --error-exitcode 9 build/rel/decode_check --quick > "$out/r/san_$tool.log" 2>&1
    el "$tool exit $?"; tail -1 "$out/r/san_$tool.log"
done
tar czf "$out/s10c_$(date -u +%H%M).tgz" -C "$out" r && rm -rf "$out/r"
