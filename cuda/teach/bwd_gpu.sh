#!/usr/bin/env bash
# bwd_gpu.sh OUTDIR — everything the teaching backward kernels (lesson08 --algo standard-bwd / flash2-bwd) need a GPU
# for, in one go, from the repository root on a bare GPU machine (about 150 s, build included; up to 6 minutes when
# racecheck at d = 128 takes its whole limit):
#   1. build ./lesson08 and check_cuda (make -j16), the device, and the SASS: no atomic instruction in the plain
#      backward kernels (dQ is accumulated without atomics), some in their counting twins
#   2. lesson08 on every backward configuration below, printing counters_match (and one forward of each, to compare)
#   3. compute-sanitizer memcheck, racecheck and synccheck on lesson08's backward, small shapes
#   4. check_cuda's cuda_backward suite (counters == ledger over a table and random ragged shapes, gradients vs fp64
#      and finite differences, bitwise-deterministic reruns)
# Logs go to OUTDIR: bwd.log (build, device, SASS, lesson08), sanitizers.log, check.log. Exit status: the first
# failing step's, else 0.
set -uo pipefail
out=${1:?usage: bwd_gpu.sh OUTDIR}
mkdir -p "$out"
export PATH=$PWD/.dev/bin:$PATH   # Check (check_cuda) where the machine provides it there
B=build/rel/cuda
status=0
step() {   # step LOG LIMIT_S command...: run, append to OUTDIR/LOG, keep the first failure's status
    local log=$1 limit=$2; shift 2
    echo "== $*" >> "$out/$log"
    timeout "$limit" "$@" >> "$out/$log" 2>&1
    local rc=$?
    echo "== exit $rc" >> "$out/$log"
    [ "$rc" = 0 ] || [ "$status" != 0 ] || status=$rc
    return "$rc"
}
{ date -u '+%Y-%m-%d %H:%M UTC'; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader; \
  git log --oneline -1; } > "$out/bwd.log" 2>&1

# 1. build (what lesson08 and check_cuda need, nothing else), then the SASS
step bwd.log 110 make -j16 ./lesson08 "$B/check_cuda" > /dev/null || { echo "build failed" >> "$out/bwd.log"; exit 4; }
atomics='[[:space:]](ATOMG?|REDG?)[.[:space:]]'
for k in attn_v01_naive_bwd attn_v03_flash2_bwd; do
    plain=$(cuobjdump -sass "$B/teach/$k.o" | grep -cE "$atomics")
    twin=$(cuobjdump -sass "$B/teach/${k}_count.o" | grep -cE "$atomics")
    echo "sass $k: $plain atomic instructions in the plain kernels, $twin in the counting twins" >> "$out/bwd.log"
    if [ "$plain" -ne 0 ] || [ "$twin" -eq 0 ]; then [ "$status" != 0 ] || status=1; fi
done

# 2. lesson08: the backward's counters beside the simulator's backward ledger (and the forward, for its time)
configs=(
    "--algo flash2-bwd -N 1000 --heads 4"
    "--algo flash2-bwd -N 1000 -d 128 --heads 4 --causal"
    "--algo flash2-bwd -N 777 -d 80 -M 48K --batch 2 --heads 3 --causal"
    "--algo flash2-bwd -N 2047 --heads 8 --causal"
    "--algo flash2-bwd -N 4096 --heads 16"
    "--algo flash2-bwd -N 4096 -d 128 --heads 16 --causal"
    "--algo flash2 -N 4096 --heads 16"
    "--algo standard-bwd -N 1000 --heads 4"
    "--algo standard-bwd -N 1000 -d 128 --heads 4 --causal"
    "--algo standard-bwd -N 777 -M 16K --batch 2 --causal"
    "--algo standard-bwd -N 2047 --heads 4"
    "--algo standard-bwd -N 4096 --heads 8"
    "--algo standard-bwd -N 4096 -d 128 --heads 8 --causal"
    "--algo standard -N 4096 --heads 8"
)
for c in "${configs[@]}"; do
    # shellcheck disable=SC2086
    step bwd.log 30 ./lesson08 $c
done
grep -h '^summary:' "$out/bwd.log" | sed -E 's/.*(algo=[^ ]+ N=[^ ]+ d=[^ ]+ B=[^ ]+ H=[^ ]+ M_bytes=[^ ]+ Br=[^ ]+ Bc=[^ ]+).*(causal=[01]).*(counters_match=[^ ]+ gpu_ms=[^ ]+).*(max_abs_err=[^ ]+).*/\1 \2 \3 \4/' \
    > "$out/counters.txt"
{ echo "== counters_match of every lesson08 run"; cat "$out/counters.txt"; } >> "$out/bwd.log"
rm -f "$out/counters.txt"

# 3. compute-sanitizer on small backward shapes (each run: forward, the counting twin, the plain kernels, timed)
small=(
    "--algo flash2-bwd -N 77 -d 16 -M 8K --batch 2 --causal"
    "--algo flash2-bwd -N 129 -d 128 --heads 1"
    "--algo standard-bwd -N 100 -d 32 -M 8K --causal"
    "--algo standard-bwd -N 65 -d 128 --heads 1"
)
# racecheck follows every shared-memory access: at d = 128 it ran past 25 s on an H100 (2026-12-06, with 2 and 8
# heads), and past 150 s with one head (the lesson times 12 more passes after its checks). So racecheck checks the
# first RACE_LAUNCHES kernel launches: the forward, the counting twin and the first plain run of the backward (the
# standard backward's 3 + 5 + 5 launches, flash2's 1 + 2 + 2), every kernel the checks read; the timed repetitions of
# the same kernels after them run unchecked.
RACE_LAUNCHES=16
for tool in memcheck racecheck synccheck; do
    for c in "${small[@]}"; do
        lim=25 extra=()
        [ $tool = racecheck ] && lim=150 extra=(--launch-count "$RACE_LAUNCHES")
        # shellcheck disable=SC2086
        step sanitizers.log "$lim" compute-sanitizer --tool "$tool" "${extra[@]}" --error-exitcode 3 ./lesson08 --quiet $c
    done
done
grep -hE '^== |ERROR SUMMARY|RACECHECK SUMMARY' "$out/sanitizers.log" | tail -40 >> "$out/bwd.log"

# 4. the CUDA suite of the backward kernels
CK_RUN_SUITE=cuda_backward step check.log 100 "$B/check_cuda"
tail -3 "$out/check.log" >> "$out/bwd.log"
echo "bwd_gpu.sh: exit $status" >> "$out/bwd.log"
exit $status
