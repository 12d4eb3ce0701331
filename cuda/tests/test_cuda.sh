#!/usr/bin/env bash
# test_cuda.sh CUDA_BUILD BINDIR — `make test-cuda`: everything about the teaching kernels that needs a GPU.
# Exit status: 0 every step passed, 1 a step failed, 2 no GPU.
#   1. the CUDA Check suites (check_cuda): counters == simulator and outputs == reference over a table of shapes,
#      shared memory that does not fit (exit 2), B*N*H*d beyond 2^31
#   2. the SASS of the plain kernels holds no atomic instruction (counting costs nothing there); the twins' does
#   3. compute-sanitizer memcheck, racecheck and synccheck clean on lesson08 (counting twin and plain kernels)
# Exit 0 only when every step passed; a missing tool is a failure, not a skip.
set -uo pipefail
B=${1:?usage: test_cuda.sh CUDA_BUILD BINDIR}
BIN=${2:?usage: test_cuda.sh CUDA_BUILD BINDIR}
if ! nvidia-smi -L 2>/dev/null | grep -q GPU; then
    echo "✗ no CUDA device: make test-cuda needs an NVIDIA GPU" >&2
    exit 2
fi
fail=0
step() { printf '\n== %s\n' "$*"; }
bad() { echo "✗ $*"; fail=1; }

step "device: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | head -1); $(date -u '+%Y-%m-%d %H:%M UTC')"

step "1. CUDA Check suites: $B/check_cuda"
"$B/check_cuda" || bad "check_cuda failed"

step "2. SASS: atomics in the plain kernels (must be 0) and in the counting twins (must be > 0)"
if command -v cuobjdump >/dev/null; then
    for k in attn_v01_naive attn_v02_flash1 attn_v03_flash2; do
        # global atomics are ATOMG (value used) or REDG (value unused) on sm_90; ATOM/RED on older targets
        atomics='[[:space:]](ATOMG?|REDG?)[.[:space:]]'
        plain=$(cuobjdump -sass "$B/teach/$k.o" | grep -cE "$atomics")
        twin=$(cuobjdump -sass "$B/teach/${k}_count.o" | grep -cE "$atomics")
        echo "  $k: $plain atomic instructions in the plain build, $twin in the counting twin, e.g.:"
        cuobjdump -sass "$B/teach/${k}_count.o" | grep -E "$atomics" | head -1
        [ "$plain" -eq 0 ] && [ "$twin" -gt 0 ] || bad "$k: plain $plain, twin $twin"
    done
else
    bad "cuobjdump not found"
fi

step "3. compute-sanitizer on lesson08 (each run: the counting twin, then the plain kernels, timed)"
configs=(
    "--algo standard -N 100 --heads 2 --batch 2"
    "--algo standard -N 300 -d 64 -M 8K --causal"
    "--algo flash1 -N 130 --heads 2 --causal"
    "--algo flash1 -N 100 -d 80 -M 16K"
    "--algo flash2 -N 200 -d 80 --heads 3 --causal"
    "--algo flash2 -N 77 -d 16 -M 4K --batch 2"
    "--algo flash2 -N 129 -d 128"
)
algos=${TEST_CUDA_ALGOS:-standard flash1 flash2}   # e.g. TEST_CUDA_ALGOS=flash2 to sanitize one kernel only
if command -v compute-sanitizer >/dev/null; then
    for tool in memcheck racecheck synccheck; do
        for c in "${configs[@]}"; do
            [[ " $algos " == *" $(echo "$c" | awk '{print $2}') "* ]] || continue
            # shellcheck disable=SC2086
            out=$(compute-sanitizer --tool "$tool" --error-exitcode 3 "$BIN/lesson08" --quiet $c 2>&1)
            rc=$?
            verdict=$(echo "$out" | grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' | tail -1)
            echo "  $tool lesson08 $c: rc=$rc ${verdict:-(no summary line)}"
            [ $rc -eq 0 ] || { bad "$tool: $c"; echo "$out" | tail -20; }
        done
    done
else
    bad "compute-sanitizer not found"
fi

echo
if [ $fail -eq 0 ]; then echo "✓ make test-cuda: every step passed"; else echo "✗ make test-cuda: FAILED (see above)"; fi
exit $fail
