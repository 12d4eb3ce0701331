# hp_gpu_steps.sh — the steps hop4_gpu.sh and hop5_gpu.sh share, sourced by them from the repository root once B,
# the build directory, and OUT are set. Sourcing starts the clock (el: seconds since) and writes OUT/info.txt (date,
# commit, GPU, clocks, torch, cuDNN, compute-sanitizer, nvcc), whose first four lines it shows. Then:
#   hp_sanitize LIMIT_S VERSIONS TOOL...   compute-sanitizer TOOL on hopper_check --tiny --versions VERSIONS, one run
#                                          per tool, --error-exitcode 9: a hazard or error fails it, and its first
#                                          lines are shown; a line per tool on stdout and in OUT/sanitizer.log
#   hp_checks VERSIONS                     hopper_check --quick per version, one process each (a fault spoils only
#                                          its own context); PASS gets ",v" for each that exited 0; OUT/check.log
T0=$(date +%s)
el() { echo $(($(date +%s) - T0)); }
{ date -u; git log --oneline -1
  nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,power.draw,power.limit,temperature.gpu --format=csv
  python3 -c 'import torch; print("torch", torch.__version__, "cudnn", torch.backends.cudnn.version())'
  compute-sanitizer --version | tail -1
  nvcc --version | tail -1
} > "$OUT/info.txt" 2>&1
head -4 "$OUT/info.txt"

hp_sanitize() {
    local limit=$1 versions=$2 tool rc sum
    shift 2
    for tool in "$@"; do
        timeout "$limit" compute-sanitizer --tool "$tool" --error-exitcode 9 "$B/hopper_check" --tiny \
            --versions "$versions" > "$OUT/san_$tool.log" 2>&1
        rc=$?
        sum=$(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$OUT/san_$tool.log" | head -1)
        echo "compute-sanitizer $tool rc=$rc $(tail -1 "$OUT/san_$tool.log" | cut -c1-80) | $sum ($(el) s)" \
            | tee -a "$OUT/sanitizer.log"
        if [ $rc -ne 0 ]; then   # 9: a hazard or error; 124: timeout; else hopper_check's own failure
            echo "FAIL: compute-sanitizer $tool rc=$rc" | tee -a "$OUT/sanitizer.log"
            grep -E "^========= +(Error|Warning|Invalid|Race|and |Barrier|at |by )" "$OUT/san_$tool.log" | head -12 \
                | cut -c1-300 | tee -a "$OUT/sanitizer.log"
        fi
    done
}

hp_checks() {
    local v rc
    PASS=""
    for v in ${1//,/ }; do
        timeout 30 "$B/hopper_check" --quick --versions "$v" > "$OUT/check_$v.log" 2>&1
        rc=$?
        grep -E "FAIL|error" "$OUT/check_$v.log" | head -10 >> "$OUT/check.log"
        grep -E "counters d=128" "$OUT/check_$v.log" >> "$OUT/check.log"
        echo "$v quick rc=$rc: $(tail -1 "$OUT/check_$v.log") ($(el) s)" | tee -a "$OUT/check.log"
        [ $rc -eq 0 ] && PASS="$PASS,$v"
    done
}
