#!/usr/bin/env bash
# gpu_run.sh — one call on a Hopper GPU machine: build (unless the carried binaries run), SASS summary, the probe,
# each version's checks in its own process (a fault or a hang spoils only its own), the benchmark shapes, the
# benchmark, compute-sanitizer on tiny shapes; logs in $OUT (at most 8 files).
#   HP_NS=1024,4096,16384 HP_REPS=10 HP_SAN="memcheck synccheck" bash cuda/hopper/gpu_run.sh
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/hp_out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
B=build/rel
T0=$(date +%s)
el() { echo $(( $(date +%s) - T0 )); }
{ date -u; nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,power.draw,power.limit,temperature.gpu \
    --format=csv; python3 -c 'import torch; print("torch", torch.__version__, "cudnn", torch.backends.cudnn.version())'
} > "$OUT/info.txt" 2>&1
cat "$OUT/info.txt"
"$B/hopper_check" --usage > /dev/null 2>&1
if [ $? -ne 2 ] || ! python3 -c "import ctypes; ctypes.CDLL('$B/libflashlab_hopper.so'); ctypes.CDLL('$B/libtcref.so')" 2>/dev/null; then
    echo "carried binaries do not run here: building ($(el) s)"
    rm -f "$B/hopper_check" "$B/libflashlab_hopper.so"
    make -f Makefile -f cuda/hopper/hopper.mk -j16 "$B/hopper_check" "$B/libflashlab_hopper.so" > /tmp/build.log 2>&1 \
        || { tail -30 /tmp/build.log; exit 1; }
    mkdir -p "$B/tcref"
    for v in v09_addressing v11_rescale; do
        nvcc -O3 -std=c++17 -arch=sm_90 -Iinclude/base -Iinclude/model -Icuda/common -Icuda/tc -Xcompiler -fPIC -c cuda/tc/attn_$v.cu -o "$B/tcref/$v.o" &
    done
    wait
    nvcc -shared -o "$B/libtcref.so" "$B"/tcref/*.o -lcudart_static
    echo "built ($(el) s)"
fi
cuobjdump --dump-sass "$B/libflashlab_hopper.so" > /tmp/sass.txt 2>&1
{ echo "== SASS per kernel: HGMMA, UTMALDG, LDL/STL (local memory), SYNCS (mbarrier), BAR"
  awk '/Function :/ {f=$3} /HGMMA/ {h[f]++} /UTMALDG/ {t[f]++} /LDL|STL/ {s[f]++} /SYNCS/ {y[f]++} /BAR\./ {b[f]++}
       END {for (k in h) printf "%-100s HGMMA %4d UTMALDG %3d LDL/STL %3d SYNCS %3d BAR %3d\n", substr(k,1,100), h[k], t[k], s[k], y[k], b[k]}' \
      /tmp/sass.txt | sort; } >> "$OUT/info.txt"
grep -c HGMMA /tmp/sass.txt | sed 's/^/HGMMA instructions in the library: /'
gzip -c /tmp/sass.txt > "$OUT/sass.txt.gz"

LOG="$OUT/check.log"
timeout 60 "$B/hopper_check" --probe > "$LOG" 2>&1; echo "probe rc=$?" | tee -a "$LOG"
grep -E "^probe" "$LOG" | cut -c1-150
PASS=""
VERSIONS=$(sed -n 's/^HP_VERSION(\([a-z0-9_]*\),.*/\1/p' cuda/hopper/hopper.def)
if [ -n "${HP_ONEPROC:-}" ]; then   # every version in one process (shares the references; a fault spoils the rest)
    timeout 150 "$B/hopper_check" --quick > /tmp/c_all.log 2>&1
    rc=$?
    cat /tmp/c_all.log >> "$LOG"
    echo "all quick rc=$rc ($(grep -c ' OK' /tmp/c_all.log) OK, $(grep -c FAIL /tmp/c_all.log) FAIL) $(tail -1 /tmp/c_all.log)" | tee -a "$LOG"
    grep FAIL /tmp/c_all.log | head -5 | cut -c1-220
    for v in $VERSIONS; do grep -q "^$v .*FAIL" /tmp/c_all.log || PASS="$PASS,$v"; done
    [ $rc -le 1 ] || PASS=""
    VERSIONS=""
fi
for v in $VERSIONS; do
    timeout 120 "$B/hopper_check" --quick --versions "$v" > /tmp/c_$v.log 2>&1
    rc=$?
    cat /tmp/c_$v.log >> "$LOG"
    echo "$v quick rc=$rc ($(grep -c ' OK' /tmp/c_$v.log) OK, $(grep -c FAIL /tmp/c_$v.log) FAIL) $(tail -1 /tmp/c_$v.log | cut -c1-80)" | tee -a "$LOG"
    grep FAIL /tmp/c_$v.log | head -3 | cut -c1-220
    [ $rc -eq 0 ] && PASS="$PASS,$v"
done
PASS=${PASS#,}
echo "passed quick: $PASS ($(el) s)"
if [ -n "$PASS" ]; then
    timeout 150 "$B/hopper_check" --big --versions "${HP_BIG_VERSIONS:-$PASS}" > /tmp/big.log 2>&1
    echo "big rc=$? $(tail -1 /tmp/big.log)" | tee -a "$LOG"
    cat /tmp/big.log >> "$LOG"
    grep FAIL /tmp/big.log | head -5 | cut -c1-200
    timeout ${HP_BENCH_TIMEOUT:-300} python3 cuda/hopper/hopper_bench.py --lib "$B/libflashlab_hopper.so" \
        --tclib "$B/libtcref.so" --outdir "$OUT" --versions "$PASS" --ns "${HP_NS:-512,1024,2048,4096,8192,16384}" \
        --reps "${HP_REPS:-20}" --dims "${HP_DIMS:-64,128,256,96}" --cmd "bash cuda/hopper/gpu_run.sh" ${HP_BENCH_ARGS:-} \
        > "$OUT/bench.log" 2>&1
    echo "bench rc=$? ($(el) s)"
    grep -E "^err|^d=|^#|^hopper_bench" "$OUT/bench.log" | cut -c1-330
fi
# Nsight Compute on one case (HP_NCU="version d N causal"): ours, SDPA cuDNN and flash on the same inputs
if [ -n "${HP_NCU:-}" ] && [ "$(el)" -lt "${HP_NCU_AFTER:-450}" ]; then
    timeout 150 ncu --clock-control none -k 'regex:hp_ws|hp_sync|cudnn|fprop|sdpa|flash' -c 6 --section SpeedOfLight \
        --section ComputeWorkloadAnalysis --section WarpStateStats --section Occupancy -o /tmp/hp_ncu -f \
        python3 cuda/hopper/hopper_ncu.py "$B/libflashlab_hopper.so" $HP_NCU > /tmp/ncu.log 2>&1
    echo "ncu rc=$? $(tail -1 /tmp/ncu.log)"
    ncu --import /tmp/hp_ncu.ncu-rep --page details > "$OUT/ncu.txt" 2>&1
    grep -E "^  [a-z_].*\(|Duration|Compute \(SM\) Throughput|Tensor|Issue Slots|No Eligible|Registers Per" "$OUT/ncu.txt" | head -60 | cut -c1-160
fi
for tool in ${HP_SAN:-memcheck}; do
    [ "$(el)" -gt "${HP_SAN_AFTER:-480}" ] && { echo "no time left for compute-sanitizer $tool"; continue; }
    timeout 100 compute-sanitizer --tool "$tool" "$B/hopper_check" --tiny --versions "${HP_SAN_VERSIONS:-$PASS}" \
        > /tmp/san_$tool.log 2>&1
    echo "compute-sanitizer $tool rc=$? $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' /tmp/san_$tool.log | head -1)" \
        | tee -a "$OUT/sanitizer.log"
    head -c 20000 /tmp/san_$tool.log >> "$OUT/sanitizer.log"
done
echo "done ($(el) s)"
