#!/usr/bin/env bash
# ring_gpu.sh — the ring's checks on one GPU, in one call (run from the repository root):
#   1. build ring_emu (every transfer a cudaMemcpyAsync: P devices as slices of one GPU) and ring_nccl (NCCL);
#   2. ring_emu for P = 1 .. 8: causal and not, contiguous and zigzag, windows and whole-chunk plans, ragged N
#      (down to N < 2P, where zigzag's second pieces are empty), fp16 and bf16, d = 64 and 128: O and L against
#      fp64 on sampled rows and against the single-GPU kernel, the link bytes per link and step against the
#      simulator's ledger and the closed form;
#   3. ring_nccl with P = 1 (one process, a ring of one) and P = 2, 4 played by one process through NCCL to itself;
#   4. compute-sanitizer memcheck and racecheck on a small ring (the tensor-core chunk kernel, the merges);
#   5. timing: the local kernel (P = 1: one chunk pair, the whole sequence) in TFLOP/s, the tensor-core chunk kernel
#      against the old simple kernel and the single-GPU "final" kernel; one P = 4 ring, overlapped vs serialized.
# Several GPUs are another script's run.
#
#   bash cuda/ring/ring_gpu.sh OUTDIR     writes OUTDIR/{build,ring,sanitizer}.log; exit status: failed steps
set -u
out=${1:?usage: ring_gpu.sh OUTDIR}
mkdir -p "$out"
log=$out/ring.log san=$out/sanitizer.log
: >"$log"
: >"$san"
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
B=build/rel/cuda/ring
fail=0
t0=$SECONDS
timeout 120 make -j16 ring-emu ring-nccl >"$out/build.log" 2>&1 || { fail=$((fail + 1)); echo "build FAILED" >>"$log"; }
echo "build: $((SECONDS - t0)) s" >>"$log"
{ nvidia-smi -L; [ -x $B/ring_nccl ] && ldd $B/ring_nccl | grep nccl; } >>"$log" 2>&1
# libnccl.so.2: the system's or the toolkit's, else the one PyTorch's nvidia-nccl wheel brings.
if [ -x $B/ring_nccl ] && ! ldd $B/ring_nccl | grep -q 'libnccl.so.2 => /'; then
    dir=$(python3 -c 'import nvidia.nccl, os; print(os.path.join(list(nvidia.nccl.__path__)[0], "lib"))' 2>/dev/null)
    export LD_LIBRARY_PATH=${dir:+$dir:}${LD_LIBRARY_PATH:-}
fi

run() {   # run PROGRAM ARGS...: one ring, its output in the log, a failure counted
    local prog=$1
    shift
    echo "\$ $prog $*" >>"$log"
    timeout 60 "$B/$prog" "$@" >>"$log" 2>&1
    local rc=$?
    if [ $rc -ne 0 ]; then fail=$((fail + 1)); echo "  ^ FAILED (exit $rc)" >>"$log"; fi
}

# 2. the emulated ring, P = 1 .. 8
run ring_emu --devices 1 -N 1000 -d 64 --dtype fp16 --repeats 1
run ring_emu --devices 1 -N 1000 -d 128 --dtype bf16 --causal --layout zigzag --repeats 1
for P in 2 3 4 5 6 7 8; do
    run ring_emu --devices $P -N $((997 + 13 * P)) -d 128 --causal --layout zigzag --plan chunks --dtype fp16 --repeats 1
    run ring_emu --devices $P -N $((1003 + 7 * P)) -d 64 --causal --layout contiguous --dtype bf16 --heads 2 --repeats 1
    if [ $((P % 2)) -eq 0 ]; then
        run ring_emu --devices $P -N $((999 + P)) -d 64 --layout zigzag --batch 2 --heads 2 --dtype fp16 --repeats 1
    else
        run ring_emu --devices $P -N $((1001 + P)) -d 128 --causal --layout contiguous --plan chunks --dtype bf16 --repeats 1
        run ring_emu --devices $P -N $((1001 + P)) -d 64 --causal --layout zigzag --dtype bf16 --batch 2 --repeats 1
    fi
done
run ring_emu --devices 8 -N 13 -d 64 --causal --layout zigzag --plan chunks --repeats 1
run ring_emu --devices 8 -N 13 -d 128 --causal --layout zigzag --repeats 1
run ring_emu --devices 3 -N 3 -d 64 --causal --layout contiguous --plan chunks --repeats 1
run ring_emu --devices 4 -N 1000 -d 64 --causal --layout zigzag --kernel simple --repeats 1
echo "emulated ring: $((SECONDS - t0)) s" >>"$log"

# 3. NCCL: a ring of one, then P devices played by one process through NCCL to itself
if [ -x $B/ring_nccl ]; then
    run ring_nccl --devices 1 -N 2048 -d 64 --dtype bf16 --repeats 3
    run ring_nccl --devices 1 -N 2048 -d 128 --dtype fp16 --causal --layout zigzag --repeats 3
    run ring_nccl --devices 2 -N 1001 -d 128 --dtype fp16 --causal --layout contiguous --repeats 3
    run ring_nccl --devices 4 -N 1001 -d 64 --dtype bf16 --causal --layout zigzag --plan chunks --repeats 3
else
    fail=$((fail + 1))
    echo "ring_nccl not built (no NCCL found: see build.log)" >>"$log"
fi
echo "nccl: $((SECONDS - t0)) s" >>"$log"

# 4. compute-sanitizer on a small ring
if command -v compute-sanitizer >/dev/null; then
    for tool in memcheck racecheck; do
        echo "\$ compute-sanitizer --tool $tool ring_emu --devices 3 -N 300 -d 64 --causal --layout zigzag --plan chunks" >>"$san"
        timeout 60 compute-sanitizer --tool $tool --error-exitcode 9 $B/ring_emu --devices 3 -N 300 -d 64 --causal \
            --layout zigzag --plan chunks --repeats 1 --quiet >>"$san" 2>&1 || { fail=$((fail + 1)); echo "  ^ FAILED" >>"$san"; }
    done
else
    echo "compute-sanitizer: not found, not run" >>"$san"
fi
echo "sanitizer: $((SECONDS - t0)) s" >>"$log"

# 5. timing: the local kernel on one chunk pair (P = 1: the whole sequence), tensor cores vs the simple kernel, each
#    beside the single-GPU "final" kernel on the same input (hidden 2048 as in docs/gpu-runs' tables); one ring of four
run ring_emu --devices 1 -N 16384 -d 128 --heads 16 --causal --dtype fp16 --repeats 10
run ring_emu --devices 1 -N 16384 -d 128 --heads 16 --causal --dtype fp16 --kernel simple --repeats 3
run ring_emu --devices 1 -N 16384 -d 64 --heads 32 --dtype fp16 --repeats 10
run ring_emu --devices 4 -N 16384 -d 128 --heads 16 --causal --layout zigzag --dtype fp16 --repeats 10
echo "total: $((SECONDS - t0)) s, failed steps: $fail" >>"$log"
exit $fail
