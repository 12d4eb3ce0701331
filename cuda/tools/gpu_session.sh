#!/usr/bin/env bash
# gpu_session.sh OUTDIR STEP... — the GPU track's runs in one go on a GPU machine, each step's log (and the data it
# writes) copied into OUTDIR; OUTDIR/summary.txt lists each step's exit status and time. Steps, in the order given:
#   env        the machine: nvidia-smi, nvcc, ncu, compute-sanitizer versions
#   build      make -j cuda
#   test       make test-cuda (Check suites, SASS check, compute-sanitizer on lesson08)
#   lessons    ./lesson08 on several configurations
#   lessons09  ./lesson09 on several cases (check_tc's four among them)
#   tccheck    tc_check --quick: every tensor-core version, small shapes, counters
#   sanitize   compute-sanitizer on lesson09 (one small ragged causal case): memcheck on v04, v09, v11, v12, v08;
#              racecheck and synccheck on v08 and v12
#   sass       per tensor-core kernel: HMMA, LDSM, MUFU.EX2, BAR and local-memory instructions (cuobjdump)
#   bench      make cuda-bench (time and device memory over N)
#   ncu        make ncu (DRAM / L2 bytes per kernel over N)
# A failing step is reported and the next one still runs; the exit status is 1 if any failed.
set -uo pipefail
OUT=${1:?usage: gpu_session.sh OUTDIR STEP...}
shift
mkdir -p "$OUT"
: >"$OUT/summary.txt"
fail=0
run_step() {   # name timeout_s command...
    local name=$1 t=$2 start rc
    shift 2
    start=$(date +%s)
    echo "== $name: $* ($(date -u '+%Y-%m-%d %H:%M:%S UTC'))"
    timeout "$t" "$@" >"$OUT/$name.log" 2>&1
    rc=$?
    printf '%-10s rc=%-3d %4d s\n' "$name" "$rc" "$(($(date +%s) - start))" >>"$OUT/summary.txt"
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

lessons09() {
    local c rc=0
    for c in "" "--causal -d 128 --heads 16" "--dtype bf16" "--algo v04_mma -N 1000 --causal" \
             "--algo v12_pingpong -d 128 --heads 16 --causal" "--algo v10_overlap2 -N 2048" \
             "--quiet -N 1000 --batch 2 --heads 3" "--quiet -N 1000 --batch 2 --heads 3 --causal" \
             "--quiet -N 777 -d 128 --heads 2 --causal" "--quiet -N 777 -d 128 --heads 2"; do
        echo "---- ./lesson09 $c"
        # shellcheck disable=SC2086
        ./lesson09 $c || { echo "!! exit status $?"; rc=1; }
    done
    return $rc
}

# small shapes, ragged N, both d, causal: memcheck on four versions, racecheck and synccheck on the two whose warps
# meet in shared memory outside __syncthreads (v08's overlap, v12's named barriers)
sanitize() {
    local tool v c out r rc=0
    for tool in memcheck racecheck synccheck; do
        for v in v04_mma v09_addressing v11_rescale v12_pingpong v08_w4; do
            [ "$tool" = memcheck ] || [ "$v" = v12_pingpong ] || [ "$v" = v08_w4 ] || continue
            for c in "-N 333 -d 128 --heads 2 --causal"; do   # ragged N, the larger d, the mask
                # shellcheck disable=SC2086
                out=$(compute-sanitizer --tool "$tool" --error-exitcode 3 ./lesson09 --quiet --algo "$v" $c 2>&1)
                r=$?
                echo "  $tool lesson09 --algo $v $c: rc=$r $(echo "$out" | grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' | tail -1)"
                [ $r -eq 0 ] || { rc=1; echo "$out" | tail -15; }
            done
        done
    done
    return $rc
}

sass() {
    cuobjdump --dump-sass build/rel/cuda/libflashlab_tc.so | awk '/Function :/ {f=$3} /HMMA/ {h[f]++} /LDSM/ {l[f]++}
        /MUFU.EX2/ {m[f]++} /BAR/ {b[f]++} /LDL|STL/ {s[f]++}
        END {for (k in h) printf "%-110s HMMA %5d LDSM %4d MUFU.EX2 %4d BAR %2d LDL/STL %3d\n", k, h[k], l[k], m[k], b[k], s[k]}' \
        | sort
}

for step in "$@"; do
    case $step in
    env) run_step env 60 bash -c 'nvidia-smi; nvcc --version; ncu --version; compute-sanitizer --version; uname -a' ;;
    build) run_step build 300 make -j"$(nproc)" cuda ;;
    test) run_step test 420 make test-cuda ;;
    lessons) run_step lessons 180 bash -c "$(declare -f lessons); lessons" ;;
    lessons09) run_step lessons09 150 bash -c "$(declare -f lessons09); lessons09" ;;
    tccheck) run_step tccheck 180 build/rel/cuda/tc_check --quick ;;
    sanitize) run_step sanitize 180 bash -c "$(declare -f sanitize); sanitize" ;;
    sass) run_step sass 60 bash -c "$(declare -f sass); sass" ;;
    bench) run_step bench 240 make cuda-bench ;;
    ncu) run_step ncu 420 make ncu ;;
    *) echo "unknown step $step" >&2; fail=1 ;;
    esac
done
cp plots/data/ncu_*.dat plots/data/cuda_time_mem_*.dat "$OUT/" 2>/dev/null
exit $fail
