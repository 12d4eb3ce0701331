#!/usr/bin/env bash
# decode_gpu.sh — everything lesson11's CUDA decode needs a GPU for, in one go (one device call):
#   the plain kernels' SASS has no counting atomics (kernel 1 one completion count, for the fused merge),
#   decode_check (o vs fp64, counters vs closed form and simulator, every anchor shape), compute-sanitizer memcheck,
#   racecheck, synccheck on the small shapes, then decode_bench.py against SDPA flash and cuDNN. Logs and tables go
#   to OUTDIR (six files).
#     bash cuda/decode/decode_gpu.sh BUILD_DIR OUTDIR      (BUILD_DIR holds decode_check and libflashlab_decode.so)
#     QUICK=1 bash ...: a short run (about a minute): small shapes, memcheck only, the benchmark's first four shapes
#     SWEEP=1 bash ...: the benchmark sweeps the split rules, variants and merges instead (decode_bench.py --sweep)
#     BENCH=0 bash ...: no benchmark (the checks alone)
# decode_bench.py is taken from beside this script. Exit status: the first failing step's, else 0.
set -uo pipefail
build=${1:?BUILD_DIR}; out=${2:?OUTDIR}; here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
status=0
step() {   # step LOG LIMIT_S command...: run, append to OUTDIR/LOG, keep the first failure's status
    local log=$1 limit=$2; shift 2
    echo "== $*" | tee -a "$out/$log"
    timeout "$limit" "$@" 2>&1 | tee -a "$out/$log"
    local rc=${PIPESTATUS[0]}
    echo "== exit $rc" | tee -a "$out/$log"
    [ "$rc" = 0 ] || [ "$status" != 0 ] || status=$rc
}
{ date -u; nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv; } \
    | tee "$out/env.txt"
ldd "$build/decode_check" | grep -q "not found" && export LD_LIBRARY_PATH=$build${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
# Every kernel's SASS: counting atomics only in the counting twins (COUNT = true: Lb1E in the name, then the depth
# AHEAD, e.g. Lb1ELi0EEv); a plain kernel 1 has exactly one, the fused merge's completion count, a plain merge
# kernel none. No function listed fails.
# The bulk-copy variants' mbarrier operations (SYNCS.*, e.g. SYNCS.ARRIVE.TRANS64.RED) are barriers, not counts of
# data: they are left out of the atomics and listed apart (UBLKCP: the bulk copies).
# (The kernels' object: cuobjdump listed no function of the shared library on 2026-12-06.)
obj=$build/decode/decode_splitkv.o
[ -f "$obj" ] || obj=$build/libflashlab_decode.so
cuobjdump -sass "$obj" 2>&1 | awk '/Function :/{f=$3; nf++; if (f ~ /decode_split/ && f !~ /Lb1E(Li[0-9]+E)?Ev/) p1[f]=1}
    /ATOM|RED\./ && !/SYNCS/{n[f]++}
    /SYNCS|UBLKCP/ && f !~ /Lb1E(Li[0-9]+E)?Ev/{split($0, w, /[ ;]+/); for (i in w) if (w[i] ~ /^(SYNCS|UBLKCP)/) sy[f " " w[i]]++}
    END{bad=(nf == 0); for (k in n) {print "  atomics", n[k], k; if (k !~ /Lb1E(Li[0-9]+E)?Ev/ && (k !~ /decode_split/ || n[k] > 1)) bad=1}
        for (k in sy) print "  barrier/bulk ops", sy[k], k
        for (k in p1) if (n[k] != 1) {print "  no completion count in", k; bad=1}
        print "  functions", nf+0; exit bad}' >> "$out/env.txt"
rc=$?
echo "sass: counting atomics only in the counting twins, one completion count per plain kernel 1: exit $rc" \
    | tee -a "$out/env.txt"
[ "$rc" = 0 ] || status=$rc
quick=${QUICK:-0}
step check.log 120 "$build/decode_check" $([ "$quick" = 1 ] && echo --quick || echo --anchors)
for tool in memcheck $([ "$quick" = 1 ] || echo racecheck synccheck); do
    step sanitizers.log 120 compute-sanitizer --tool "$tool" --error-exitcode 1 "$build/decode_check" --quick
done
export PYTHONUNBUFFERED=1
[ "${BENCH:-1}" = 0 ] && exit $status   # BENCH=0: the checks alone
step bench.log 300 python3 "$here/decode_bench.py" --lib "$build/libflashlab_decode.so" --out "$out" \
    $([ "$quick" = 1 ] && echo --quick --reps 15) $([ "${SWEEP:-0}" = 1 ] && echo --sweep --reps 20)
exit $status
