#!/usr/bin/env bash
# gpu_next.sh OUTDIR — what the GPU runs so far (docs/gpu-runs/run_H100_2026-12-0*.md; the last, 2026-12-07 15:34)
# left unrun, in one call on a bare H100 or H200, under one deadline (GPU_NEXT_BUDGET seconds, default 560). With no
# step named it runs, most wanted first, by the card: on an H200 criterion final test_cuda (the H200 run lesson10's
# goal still lacks), on an H100 final test_cuda (final's first whole timing: cut at d = 128, N = 2048 on 2026-12-07;
# the decode plan was confirmed on 2026-12-07 16:31, `decode` reruns it). Each step builds what it runs, unless .dev/prebuilt.tar.xz holds the
# binaries built on the CPU machine from the same sources (cuda/tools/prebuilt.sh pack; carry .dev): then make is
# run with -o for them and no step compiles them (about 3 minutes saved). The device tool brings back only a few
# files per call: each step keeps to a log or two; tar OUTDIR into one file if you add more.
#   criterion   make bench-gpu as lesson10's goal is stated, over every head dimension the Hopper path takes
#               (d = 32, 64, 96, 128, 256; N = 1024 ... 16384; causal and not; every check), cut to the versions that
#               win cases so that it fits one call (about 7 minutes with prebuilt binaries); CRIT_NS, CRIT_HP change
#               the N and the Hopper versions; the v22 family is gated each in its own process (CRIT_GATE_NEW)
#   v22         v22_reread, v22_d32, v22_d32w (first run 2026-12-07 11:43: clean, checked, twins bit-equal):
#               compute-sanitizer racecheck and memcheck on --tiny, hopper_check --quick, then hopper_bench.py at
#               d = 256, 128 and 32 (N = 1024, 4096, 8192, 16384), settled, 2 rounds, beside v21_pin, v18_wide,
#               v19_sched, final and SDPA, with --twins v21_pin=v22_reread (O and L bit for bit)
#   build       make -j16 of everything the steps below use (about 3 minutes on 16 cores: name it only for a long call)
#   clocks      cuda/hopper/hopper_clocks.py at d = 128 (N = 4096 and 8192 non-causal, 8192 causal): v21_pin and
#               v19_wide beside cuDNN and flash, back to back, settled (after 1 s of the method's own calls) and
#               spaced, SM clock and power inside the windows: why ncu's cycles put v21_pin 3 % ahead of cuDNN while
#               the benchmark puts it 5-9 % behind (about 2 minutes with the build); CLOCKS_CASES: other N
#               ("'8192'" for one case; "'8192 --causal'" for a causal one)
#   bench128    make bench-gpu as the Hopper issue's goal is stated (one run, every check), cut to d = 128 and
#               N = 4096, 8192, 16384 (tc_check --quick, tc_teach to N = 1024); its records in OUTDIR/runs;
#               BENCH128_ARGS adds tc_bench.py options (--settle 0: no settling before each timed window)
#   settled128  the short form of clocks + bench128 (about 4 minutes): hopper_check --quick of final, v19_wide and
#               v21_pin; the clock probe at N = 8192; hopper_bench.py at d = 128, N >= 4096, each method timed after
#               0.5 s of its own calls (--settle), 3 rounds
#   decode      the confirming decode run of the plan as committed (decode_plan_splits), about 3 minutes: make
#               decode-build, then decode_gpu.sh: SASS atomics, decode_check --anchors, compute-sanitizer memcheck,
#               racecheck, synccheck on --quick, decode_bench.py in 5 interleaved rounds, eager and CUDA graph: is it
#               >= 1.0x SDPA on every anchor shape?
#   hop5        cuda/hopper/hop5_gpu.sh: v21 (the softmax pinned under P V): the SASS read by cuobjdump beside the
#               CPU decoder, racecheck and memcheck (failing on a hazard) of v19_wide's fixed tile-index handoff and
#               the v21 rows, their checks, the d = 128 benchmark with final and v19_wide beside cuDNN and flash
#   hop4        cuda/hopper/hop4_gpu.sh: the v19 and v20 rows under racecheck, their checks, the d = 128 benchmark
#   final       hopper_check --quick, then hopper_bench.py for `final` alone at d = 32, 64, 96, 128, 256, SDPA beside
#               it (the rule of hopper_final.def, regenerated from the 11:44 table, timed only to d = 128, N = 2048
#               on 2026-12-07 14:21: the 230 s it had were short; now 360 s)
#   ncu_fwd     Nsight Compute on final and SDPA's cuDNN and flash kernels, N = 8192, non-causal, d = 128
#               or the dims in NCU_DIMS ("64 128 256")
#   ncu_bwd     Nsight Compute on the tensor-core backward (bwd_br128, bwd_br64) and SDPA's flash and cuDNN
#               backwards, d = 128, N = 8192, non-causal
#   san_v19     compute-sanitizer memcheck, racecheck and synccheck on v19's three kernels (hopper_check --tiny)
#   teach_bwd   cuda/teach/bwd_gpu.sh (racecheck bounded to the checked launches)
#   test_cuda   make test-cuda to its end
# A step left without time says so and gives no verdict. Logs: OUTDIR/<step>.log, OUTDIR/summary.txt.
#   here:  bash cuda/tools/device_deps.sh        (Check for the GPU machine: fills .dev/, carry it)
#          bash cuda/tools/prebuilt.sh pack     (optional: the binaries, into .dev/prebuilt.tar.xz)
#   there: bash cuda/tools/gpu_next.sh "$OUT"    (or name steps: bash cuda/tools/gpu_next.sh "$OUT" decode final)
# Exit status: 2 without a GPU, else the number of steps that failed or had no time.
set -uo pipefail
out=${1:?usage: gpu_next.sh OUTDIR [STEP...]}
shift
mkdir -p "$out"
out=$(cd "$out" && pwd)
cd "$(dirname "$0")/../.." || exit 2
nvidia-smi -L 2>/dev/null | grep -q GPU || { echo "gpu_next.sh: no CUDA device: this needs an NVIDIA GPU" >&2; exit 2; }
[ -x .dev/bin/pkg-config ] && export PATH=$PWD/.dev/bin:$PATH
export PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0
# make -o for each binary carried from the CPU machine (none: every step builds what it runs)
MAKE_O=$(bash cuda/tools/prebuilt.sh unpack)
deadline=$(($(date +%s) + ${GPU_NEXT_BUDGET:-560}))
summary=$out/summary.txt
bad=0
{ date -u '+%Y-%m-%d %H:%M UTC'; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader;
  git log --oneline -1 2>/dev/null; } | tee "$summary"

step() {   # step NAME LIMIT_S command...: run under the smaller of LIMIT_S and the time left
    local name=$1 limit=$2 left rc t
    shift 2
    left=$((deadline - $(date +%s) - 10))
    if [ "$left" -lt 20 ]; then
        echo "$name: not run (no time left)" | tee -a "$summary"
        bad=$((bad + 1))
        return
    fi
    [ "$limit" -gt "$left" ] && limit=$left
    t=$(date +%s)
    timeout "$limit" "$@" >"$out/$name.log" 2>&1
    rc=$?
    echo "$name: exit $rc in $(($(date +%s) - t)) s$([ $rc = 124 ] && echo ' (out of time: no verdict)')" |
        tee -a "$summary"
    [ "$rc" = 0 ] || bad=$((bad + 1))
}

ncu_fwd() {   # NCU_DIMS: the head dims to profile (default 128)
    local d
    for d in ${NCU_DIMS:-128}; do
        ncu --clock-control none --kernel-name-base demangled -k 'regex:hp_ws|hp_sync|cudnn|flash_fwd' -c 8 \
            --section SpeedOfLight --section WarpStateStats --section MemoryWorkloadAnalysis --section LaunchStats \
            --section Occupancy python3 cuda/hopper/hopper_ncu.py build/rel/libflashlab_hopper.so final "$d" 8192 0 ||
            return
    done
}

ncu_bwd() {
    local c
    for c in bwd_br128 bwd_br64; do
        ncu --clock-control none -k 'regex:bwd_main|flash_bwd|cudnn|sm90' -c 10 --section SpeedOfLight \
            --section WarpStateStats --section MemoryWorkloadAnalysis --section LaunchStats --section Occupancy \
            python3 cuda/tc/bwd_ncu.py build/rel/cuda/libflashlab_tc_bwd.so "$c" 128 8192 0 || return
    done
}

san_v19() {
    local tool
    for tool in memcheck racecheck synccheck; do
        echo "== compute-sanitizer --tool $tool"
        compute-sanitizer --tool "$tool" --error-exitcode 9 build/rel/hopper_check --tiny \
            --versions v19_sched,v19_s3,v19_wide || return
    done
}

steps=("$@")
if [ ${#steps[@]} -eq 0 ]; then
    if nvidia-smi -L | grep -q H200; then steps=(criterion final test_cuda); else steps=(final test_cuda); fi
fi
for s in "${steps[@]}"; do
    case $s in
    build) step build 300 make -j16 $MAKE_O cuda hopper decode-build lesson08 lesson09 lesson10 \
        build/rel/cuda/libflashlab_tc_bwd.so ;;
    clocks) step clocks 300 bash -c "make -j16 $MAKE_O build/rel/libflashlab_hopper.so > '$out/clocks_build.log' 2>&1 &&
        for c in ${CLOCKS_CASES:-'4096' '8192' '8192 --causal'}; do
            python3 cuda/hopper/hopper_clocks.py build/rel/libflashlab_hopper.so --versions v21_pin,v19_wide \
                --d 128 --n \$c || exit 1; done" ;;
    criterion) step criterion 560 env GATE_NEW="${CRIT_GATE_NEW:-v22_reread v22_d32 v22_d32w}" make bench-gpu $MAKE_O \
        RUNS="$out/runs" TC_CHECK_ARGS=--quick TC_TEACH_MAXN=1024 BENCH_DIMS=32,64,96,128,256 \
        BENCH_NS="${CRIT_NS:-1024,2048,4096,8192,16384}" TC_BENCH_ARGS="--versions final --hp-versions \
${CRIT_HP:-final,v14_tma,v19_s3,v19_sched,v21_pin,v21_128,v22_reread,v22_d32,v22_d32w}" ;;
    bench128) step bench128 420 make bench-gpu $MAKE_O RUNS="$out/runs" TC_CHECK_ARGS=--quick TC_TEACH_MAXN=1024 \
        BENCH_DIMS=128 BENCH_NS=4096,8192,16384 TC_BENCH_ARGS="${BENCH128_ARGS:-}" ;;
    settled128) step settled128 330 bash -c "make -j16 $MAKE_O build/rel/libflashlab_hopper.so build/rel/hopper_check \
            > '$out/settled_build.log' 2>&1 &&
        build/rel/hopper_check --quick --versions final,v19_wide,v21_pin > '$out/settled_check.log' 2>&1 &&
        python3 cuda/hopper/hopper_clocks.py build/rel/libflashlab_hopper.so --versions v21_pin,v19_wide --d 128 \
            --n 8192 --rounds 2 &&
        python3 cuda/hopper/hopper_bench.py --lib build/rel/libflashlab_hopper.so --outdir '$out' --no-errors \
            --versions final,v19_wide,v21_pin --dims 128 --ns 4096,8192,16384 --settle 0.5 --rounds 3 \
            --cmd 'cuda/tools/gpu_next.sh settled128'" ;;
    v22) step v22 300 bash -c "make -j16 $MAKE_O build/rel/libflashlab_hopper.so build/rel/hopper_check \
            > '$out/v22_build.log' 2>&1 &&
        for tool in racecheck memcheck; do compute-sanitizer --tool \$tool --error-exitcode 9 build/rel/hopper_check \
            --tiny --versions v22_reread,v22_d32,v22_d32w > '$out/v22_'\$tool.log 2>&1 ||
            { tail -20 '$out/v22_'\$tool.log; exit 1; }; done &&
        build/rel/hopper_check --quick --versions v22_reread,v22_d32,v22_d32w > '$out/v22_check.log' 2>&1 &&
        python3 cuda/hopper/hopper_bench.py --lib build/rel/libflashlab_hopper.so --outdir '$out' \
            --versions v22_reread,v22_d32,v22_d32w,v21_pin,v18_wide,v19_sched,final --dims 256,128,32 \
            --ns 1024,4096,8192,16384 \
            --settle 0.5 --rounds 2 --twins v21_pin=v22_reread --cmd 'cuda/tools/gpu_next.sh v22'" ;;
    decode) step decode 300 bash -c "make -j16 $MAKE_O decode-build > '$out/decode_build.log' 2>&1 &&
        bash cuda/decode/decode_gpu.sh build/rel '$out/decode'" ;;
    final) step final 360 bash -c "make -j16 $MAKE_O build/rel/hopper_check build/rel/libflashlab_hopper.so \
            > '$out/final_build.log' 2>&1 &&
        build/rel/hopper_check --quick > '$out/final_check.log' 2>&1 &&
        python3 cuda/hopper/hopper_bench.py --lib build/rel/libflashlab_hopper.so --outdir '$out' \
            --versions final --dims 32,64,96,128,256 --cmd 'cuda/tools/gpu_next.sh final'" ;;
    hop5) step hop5 240 bash cuda/hopper/hop5_gpu.sh "$out/hop5" ;;
    hop4) step hop4 200 bash cuda/hopper/hop4_gpu.sh "$out/hop4" ;;
    ncu_fwd) step ncu_fwd 240 bash -c "make -j16 $MAKE_O build/rel/libflashlab_hopper.so > '$out/ncu_build.log' 2>&1 &&
        $(declare -f ncu_fwd); ncu_fwd" ;;
    ncu_bwd) step ncu_bwd 300 bash -c "make -j16 $MAKE_O build/rel/cuda/libflashlab_tc_bwd.so \
            > '$out/ncu_bwd_build.log' 2>&1 &&
        $(declare -f ncu_bwd); ncu_bwd" ;;
    san_v19) step san_v19 280 bash -c "make -j16 $MAKE_O build/rel/hopper_check > '$out/san_build.log' 2>&1 &&
        $(declare -f san_v19); san_v19" ;;
    teach_bwd) step teach_bwd 400 bash cuda/teach/bwd_gpu.sh "$out/teach_bwd" ;;
    test_cuda) step test_cuda 600 make test-cuda $MAKE_O ;;
    *) echo "gpu_next.sh: unknown step '$s' (build criterion v22 clocks bench128 settled128 decode hop5 hop4 final" \
            "ncu_fwd ncu_bwd san_v19 teach_bwd test_cuda)" >&2; exit 2 ;;
    esac
done
echo "gpu_next.sh: $bad step(s) failed or had no time" | tee -a "$summary"
exit $bad
