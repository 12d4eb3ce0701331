#!/usr/bin/env bash
# hop4_gpu.sh OUTDIR — one device call (~150 s with the build) for the dynamic scheduler's tile-index handoff
# (hopper_ws.cuh: lane 0 of each consumer warp reads the index, the lane that releases Q) and the v20 rows, on a bare
# H100, in this order:
#   1. build (make -j16: hopper_check and the benchmark's library);
#   2. compute-sanitizer racecheck, memcheck, synccheck on hopper_check --tiny for every dynamic-scheduler row
#      (v19_sched, v19_s3, v19_wide, v20_*), --error-exitcode: a hazard fails the step and its first lines are shown;
#   3. hopper_check --quick (O and L against fp64, ragged N, causal and not, fp16 and bf16, counters against the
#      simulator's ledger) on each of those rows, one process each (a fault spoils only its own context);
#   4. hopper_bench.py at d = 128, N = 4096, 8192, 16384, causal and not: final (what a user gets), v17_overlap,
#      v18_wide, v19_wide and the v20 rows that passed 3, beside SDPA's cuDNN and flash (3 interleaved rounds), and
#      v19_wide's O and L against v18_wide's bit for bit (the same tile and arithmetic, the static schedule, whose
#      code the handoff does not touch).
# Every step under timeout; small logs in OUTDIR; a summary line per step on stdout.
#   bash cuda/hopper/hop4_gpu.sh /tmp/hop4_out
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:?usage: cuda/hopper/hop4_gpu.sh OUTDIR}
mkdir -p "$OUT"
export PATH=$PWD/.dev/bin:$PATH PYTHONUNBUFFERED=1
B=build/rel
DYN=v19_sched,v19_s3,v19_wide,v20_lean,v20_kv,v20_poly,v20_kv1,v20_128   # every HP_DYNAMIC row
V20=v20_kv,v20_kv1,v20_128                  # v20_kv: the best measured v20 row (21:47 UTC); kv1, 128 never run yet
OLD=final,v17_overlap,v18_wide,v19_wide
. cuda/hopper/hp_gpu_steps.sh   # the clock (el), OUT/info.txt, hp_sanitize, hp_checks

# 1. build: only what the steps below run
timeout 80 make -j16 "$B/hopper_check" "$B/libflashlab_hopper.so" > /tmp/hop4_build.log 2>&1
rc=$?
echo "build rc=$rc ($(el) s)" | tee "$OUT/build.log"
grep -E "error|warning|spill" /tmp/hop4_build.log | grep -v " 0 bytes spill" | head -20 >> "$OUT/build.log"
if [ $rc -ne 0 ]; then tail -30 /tmp/hop4_build.log | tee -a "$OUT/build.log"; exit 1; fi

# 2. compute-sanitizer on the tiny shapes: racecheck first (the handoff), then memcheck and synccheck
hp_sanitize 40 "$DYN" racecheck memcheck synccheck

# 3. checks of every row whose code the handoff touches
hp_checks "$DYN"
BENCH=$OLD
for v in ${V20//,/ }; do
    case ",$PASS," in *",$v,"*) BENCH="$BENCH,$v" ;; esac
done

# 4. the benchmark: d = 128, N >= 4096, causal and not
timeout 75 python3 cuda/hopper/hopper_bench.py --lib "$B/libflashlab_hopper.so" --outdir "$OUT" \
    --versions "$BENCH" --dims 128 --ns 4096,8192,16384 --reps 20 --twins v18_wide=v19_wide \
    --cmd "bash cuda/hopper/hop4_gpu.sh" > "$OUT/bench.log" 2>&1
echo "bench ($BENCH) rc=$? ($(el) s)"
grep -E "^# (error rule|timing|twins)|^d=|^hopper_bench" "$OUT/bench.log" | cut -c1-700
echo "done ($(el) s)"
