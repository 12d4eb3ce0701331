#!/usr/bin/env bash
# dec_timeline.sh — the decode kernel's timeline, block by block, and Nsight Compute beside SDPA (a diagnostic).
#   bash cuda/decode/dec_timeline.sh build            (no GPU) build/diag/libdec_stamps.so: decode_splitkv.cu with
#                                                     -DFL_DEC_STAMPS, linked as the library is (make decode-build first)
#   bash cuda/decode/dec_timeline.sh run OUTDIR       (GPU) dec_timeline.py on its configurations, then ncu on
#                                                     B=16 Hq=32 Hkv=8 L=32768 (NCU_SHAPE), SDPA's cuDNN and flash
#                                                     and the plan's kernel; logs in OUTDIR
# Exit status: the first failing step's, else 0.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 2
here=cuda/decode
so=build/diag/libdec_stamps.so
case ${1:-} in
build)
    mkdir -p build/diag
    nvcc -O3 -std=c++17 -arch=sm_90 -Iinclude/model -Iinclude/base -Icuda/decode -Icuda/common -Xcompiler -fPIC \
        -DFL_DEC_STAMPS -c $here/decode_splitkv.cu -o build/diag/decode_splitkv_stamps.o || exit 1
    nvcc -shared -Xlinker -z,defs -o $so build/diag/decode_splitkv_stamps.o build/rel/decode/decode_host.o \
        build/rel/decode/dtype_pic.o build/rel/decode/util_pic.o -lcudart_static -ldl -lrt -lpthread || exit 1
    echo "dec_timeline.sh: $so" ;;
run)
    out=${2:?OUTDIR}
    mkdir -p "$out"
    status=0
    export PYTHONUNBUFFERED=1
    timeout 150 python3 $here/dec_timeline.py --lib $so --out "$out/timeline.json" 2>&1 | tee "$out/timeline.log"
    rcs=("${PIPESTATUS[@]}")   # the program's status, then tee's: a log that could not be written is lost output
    [ "${rcs[0]}" = 0 ] || status=${rcs[0]}
    [ "${rcs[1]}" = 0 ] || [ "$status" != 0 ] || status=3
    timeout 150 ncu --profile-from-start off --target-processes all --clock-control none \
        --section SpeedOfLight --section LaunchStats --section Occupancy --section MemoryWorkloadAnalysis \
        python3 $here/dec_timeline.py --lib $so --ncu "${NCU_SHAPE:-16,32,8,32768}" > "$out/ncu.log" 2>&1
    rc=$?; [ "$rc" = 0 ] || [ "$status" != 0 ] || status=$rc
    keys="^  [a-zA-Z_].*\\(|Duration|DRAM Throughput|Memory Throughput|Grid Size|Block Size|Registers Per"
    keys="$keys|Dynamic Shared|Static Shared|Waves Per SM|Achieved Occupancy|Theoretical Occupancy|ncu calls"
    grep -E "$keys" "$out/ncu.log" | head -150
    echo "dec_timeline.sh run: exit $status"
    exit $status ;;
*) echo "usage: dec_timeline.sh build | run OUTDIR" >&2; exit 2 ;;
esac
