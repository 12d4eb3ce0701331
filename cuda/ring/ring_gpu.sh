#!/usr/bin/env bash
# ring_gpu.sh — ring_nccl's checks on one GPU, in one call: P = 1 through NCCL (a ring of one: no sends), then P
# devices played by one process on the GPU, each send and receive going through NCCL to itself (and once through
# cudaMemcpyAsync), contiguous and zigzag, masked or not, ragged N, fp16 and bf16; then compute-sanitizer on a small
# ring, and the timing of one larger ring (overlapped against serialized). Several GPUs are another script's run.
#
#   bash cuda/ring/ring_gpu.sh build/rel/cuda/ring/ring_nccl [LOG]      exit status: the number of failed runs
set -u
bin=${1:?usage: ring_gpu.sh RING_NCCL [LOG]}
log=${2:-/dev/stdout}
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
# libnccl.so.2: the toolkit's, else the one PyTorch's nvidia-nccl wheel brings.
if ! ldd "$bin" | grep -q 'libnccl.so.2 => /'; then
    dir=$(python3 -c 'import nvidia.nccl, os; print(os.path.join(list(nvidia.nccl.__path__)[0], "lib"))' 2>/dev/null)
    export LD_LIBRARY_PATH=${dir:+$dir:}${LD_LIBRARY_PATH:-}
fi
fail=0
run() {
    echo "\$ ring_nccl $*" >>"$log"
    "$bin" "$@" >>"$log" 2>&1
    local rc=$?
    if [ $rc -ne 0 ]; then fail=$((fail + 1)); echo "  ^ FAILED (exit $rc)" >>"$log"; fi
}
{ nvidia-smi -L; ldd "$bin" | grep nccl; } >>"$log" 2>&1
run --devices 1 -N 2048 -d 64 --dtype bf16 --repeats 3
run --devices 1 -N 2048 -d 64 --dtype fp16 --causal --repeats 3
for P in 2 4; do
    for layout in contiguous zigzag; do
        run --devices $P -N 1000 -d 64 --heads 2 --dtype bf16 --layout $layout --repeats 3
        run --devices $P -N 1001 -d 128 --batch 2 --dtype fp16 --layout $layout --causal --repeats 3
    done
done
run --devices 3 -N 1001 -d 64 --layout zigzag --causal --dtype bf16 --repeats 3
run --devices 8 -N 777 -d 32 --layout zigzag --causal --dtype bf16 --repeats 3
run --devices 4 -N 1000 -d 64 --layout zigzag --causal --transport copy --repeats 3
if command -v compute-sanitizer >/dev/null; then
    for tool in memcheck racecheck; do
        echo "\$ compute-sanitizer --tool $tool ring_nccl --devices 3 -N 100 -d 64 --causal --layout zigzag --transport copy" >>"$log"
        compute-sanitizer --tool $tool --error-exitcode 9 "$bin" --devices 3 -N 100 -d 64 --causal --layout zigzag \
            --transport copy --repeats 1 --quiet >>"$log" 2>&1 || { fail=$((fail + 1)); echo "  ^ FAILED" >>"$log"; }
    done
fi
for P in 1 4; do
    run --devices $P -N 16384 -d 128 --dtype bf16 --layout zigzag --causal --repeats 5
done
echo "failed runs: $fail" >>"$log"
exit $fail
