#!/usr/bin/env bash
# gpu_session.sh OUTDIR STEP... — the GPU track's measurements in one go on a GPU machine, each step's log (and the
# data it writes) copied into OUTDIR. Steps, in the order given:
#   env      the machine: nvidia-smi, nvcc, ncu, compute-sanitizer versions
#   build    make -j cuda
#   test     make test-cuda (Check suites, SASS check, compute-sanitizer)
#   lessons  ./lesson08 on several configurations
#   bench    make cuda-bench (time and device memory over N)
#   ncu      make ncu (DRAM / L2 bytes per kernel over N)
# A failing step is reported and the next one still runs; the exit status is 1 if any failed.
set -uo pipefail
OUT=${1:?usage: gpu_session.sh OUTDIR STEP...}
shift
mkdir -p "$OUT"
fail=0
run_step() {   # name timeout_s command...
    local name=$1 t=$2 start rc
    shift 2
    start=$(date +%s)
    echo "== $name: $* ($(date -u '+%Y-%m-%d %H:%M:%S UTC'))"
    timeout "$t" "$@" >"$OUT/$name.log" 2>&1
    rc=$?
    echo "   rc=$rc in $(($(date +%s) - start)) s; last lines:"
    tail -n 25 "$OUT/$name.log" | sed 's/^/   | /'
    [ $rc -eq 0 ] || fail=1
}

lessons() {
    local c
    for c in "" "--algo standard -N 4096 --heads 4 --causal" "--algo standard -N 16384 --heads 2" \
             "--algo flash1 -N 4096 --heads 4 -M 48K" "--algo flash1 -N 1000 -d 80 --batch 2 --heads 3 --causal" \
             "--algo flash2 -N 4096 --heads 16" "--algo flash2 -N 16384 -d 128 --heads 4 --causal" \
             "--algo flash2 -N 3001 -d 16 --batch 3 --heads 5"; do
        echo "---- ./lesson08 $c"
        # shellcheck disable=SC2086
        ./lesson08 $c || echo "!! exit status $?"
    done
}

for step in "$@"; do
    case $step in
    env) run_step env 60 bash -c 'nvidia-smi; nvcc --version; ncu --version; compute-sanitizer --version; uname -a' ;;
    build) run_step build 300 make -j"$(nproc)" cuda ;;
    test) run_step test 420 make test-cuda ;;
    lessons) run_step lessons 180 bash -c "$(declare -f lessons); lessons" ;;
    bench) run_step bench 240 make cuda-bench ;;
    ncu) run_step ncu 420 make ncu ;;
    *) echo "unknown step $step" >&2; fail=1 ;;
    esac
done
cp plots/data/ncu_*.dat plots/data/cuda_time_mem_*.dat "$OUT/" 2>/dev/null
exit $fail
