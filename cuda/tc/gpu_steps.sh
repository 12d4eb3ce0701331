# gpu_steps.sh — sourced by the tensor-core backward's GPU scripts (bwd_gpu.sh, bwdwg_gpu.sh), not run alone:
#   . "$(dirname "$0")/gpu_steps.sh" "$0" "$@"
# OUT (the first argument), LOG (OUT/check.log, begun with the device and the commit), B (the build directory),
# Check's pkg-config shim on PATH, and step NAME SECONDS CMD...: CMD under timeout, its output in check.log, one status
# line on stdout too, its exit status returned.
set -uo pipefail
OUT=${2:?usage: bash $1 OUTDIR}
mkdir -p "$OUT"
export PATH=$PWD/.dev/bin:$PATH PYTHONUNBUFFERED=1
LOG=$OUT/check.log
B=build/rel/cuda
step() {
    local name=$1 t=$2; shift 2
    local s=$SECONDS
    echo "== $name: $*" >> "$LOG"
    timeout "$t" "$@" >> "$LOG" 2>&1
    local rc=$?
    echo "== $name: rc=$rc ($((SECONDS - s)) s)" | tee -a "$LOG"
    return $rc
}
{ date -u; nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv; git log -1 --oneline; } \
    > "$LOG" 2>&1
