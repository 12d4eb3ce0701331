#!/usr/bin/env bash
# hop5_gpu.sh OUTDIR — one device call (~170 s with the build, estimated; not yet run) for v21, the softmax pinned
# under P V (attn_v21_pin.cu), on a bare H100, in this order:
#   1. build (make -j16: hopper_check and the benchmark's library);
#   2. SASS: cuobjdump's disassembly of v19, v20 and v21 read by hopper_sass.py, beside the tool's own reading of the
#      same cubins (cuobjdump -xelf): the CPU-side decoder checked against NVIDIA's disassembler, and whether every
#      v21 kernel has its softmax between its products and WARPGROUP.DEPBAR 0 (and no v19 / v20 kernel does);
#   3. compute-sanitizer racecheck and memcheck on hopper_check --tiny for v19_wide, v21_pin, v21_kv1, v21_128
#      (--error-exitcode: a hazard fails the step and its first lines are shown);
#   4. hopper_check --quick (O and L against fp64, ragged N, causal and not, fp16 and bf16, counters against the
#      simulator's ledger) per row, one process each: v20_kv1 and v20_128 (never run before) and the v21 rows;
#   5. hopper_bench.py at d = 128, N = 4096, 8192, 16384, causal and not: final, v19_wide and the rows that passed 4,
#      beside SDPA's cuDNN and flash (3 interleaved rounds), and each v21 row's O and L against the version it
#      extends, bit for bit (--twins: the pin adds a store and moves a wait, no arithmetic). HOP5_DIMS=128,64 times
#      d = 64 too (about twice as long; the v21 rows have d = 64 kernels, checked in 4). HOP5_NS=8192 times that N
#      alone (a call short of time).
# Every step under timeout; small logs in OUTDIR; a summary line per step on stdout.
#   bash cuda/hopper/hop5_gpu.sh /tmp/hop5_out
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 2
OUT=${1:?usage: cuda/hopper/hop5_gpu.sh OUTDIR}
mkdir -p "$OUT"
export PATH=$PWD/.dev/bin:$PATH PYTHONUNBUFFERED=1
B=build/rel
V21=v21_pin,v21_kv1,v21_128
SAN=v19_wide,$V21                       # v19_wide: the fixed tile-index handoff, never race-checked clean yet
CHECK=v20_kv1,v20_128,$V21
TWINS=v19_wide=v21_pin,v20_kv1=v21_kv1,v20_128=v21_128   # a row and the one it extends: same O and L
. cuda/hopper/hp_gpu_steps.sh   # the clock (el), OUT/info.txt, hp_sanitize, hp_checks

# 1. build: only what the steps below run
timeout 120 make -j16 "$B/hopper_check" "$B/libflashlab_hopper.so" > "$OUT/build_full.log" 2>&1
rc=$?
echo "build rc=$rc ($(el) s)" | tee "$OUT/build.log"
grep -E "error|warning|spill" "$OUT/build_full.log" | grep -v " 0 bytes spill" | head -20 >> "$OUT/build.log"
if [ $rc -ne 0 ]; then tail -30 "$OUT/build_full.log" | tee -a "$OUT/build.log"; exit 1; fi

# 2. SASS: the disassembler's reading and the decoder's, of the same cubins
if command -v cuobjdump > /dev/null; then
    X=$(mktemp -d)
    for f in attn_v19_sched attn_v20_lean attn_v21_pin; do
        cuobjdump -sass "$B/hopper/$f.o" > "$OUT/sass_$f.txt" 2>&1
        mkdir -p "$X/$f" && (cd "$X/$f" && cuobjdump -xelf all "$OLDPWD/$B/hopper/$f.o" > /dev/null 2>&1)
    done
    texts=()
    for f in "$OUT"/sass_attn_v*.txt; do texts+=(--sass-text "$f"); done
    python3 cuda/hopper/hopper_sass.py --require-overlap "${texts[@]}" > "$OUT/sass_cuobjdump.txt" 2>&1
    rc=$?
    python3 cuda/hopper/hopper_sass.py --require-overlap "$X"/*/*.cubin > "$OUT/sass_decoder.txt" 2>&1
    # one line per kernel (header and its two detail lines), without the file names, sorted
    norm() { grep -v '^hopper_sass:' "$1" | sed 's/^[^ ]*: d=/d=/' | paste - - - | sort; }
    if diff <(norm "$OUT/sass_cuobjdump.txt") <(norm "$OUT/sass_decoder.txt") > "$OUT/sass_diff.txt"; then
        same="the decoder's reading of the cubins is identical"
    else
        same="the decoder's reading DIFFERS ($(wc -l < "$OUT/sass_diff.txt") diff lines, sass_diff.txt)"
    fi
    echo "SASS (cuobjdump) rc=$rc: $(tail -1 "$OUT/sass_cuobjdump.txt"); $same ($(el) s)" | tee "$OUT/sass.log"
    for f in attn_v19_sched attn_v20_lean attn_v21_pin; do
        echo "  $f: $(grep -c "sass_$f.txt: .*softmax under P V" "$OUT/sass_cuobjdump.txt") of" \
             "$(grep -c "sass_$f.txt: " "$OUT/sass_cuobjdump.txt") OVERLAP kernels with the softmax under P V" \
            | tee -a "$OUT/sass.log"
    done
    grep -A1 "sass_attn_v21_pin.txt: d=128 __half causal=0 Bc=176 lean=0" "$OUT/sass_cuobjdump.txt" | cut -c1-200
    gzip -f "$OUT"/sass_attn_v*.txt
    rm -rf "$X"
else
    echo "SASS: no cuobjdump on this machine, step skipped (not checked)" | tee "$OUT/sass.log"
fi

# 3. compute-sanitizer on the tiny shapes (192 tiles: every dynamic launch reuses a tile-index slot)
hp_sanitize 45 "$SAN" racecheck memcheck

# 4. checks, one process per row
hp_checks "$CHECK"
BENCH=final,v19_wide$PASS
BTWINS=""
for t in ${TWINS//,/ }; do
    case ",$BENCH," in *",${t%=*},"*) case ",$BENCH," in *",${t#*=},"*) BTWINS="$BTWINS,$t" ;; esac ;; esac
done

# 5. the benchmark: d = 128 (HOP5_DIMS), N >= 4096, causal and not
DIMS=${HOP5_DIMS:-128} NS=${HOP5_NS:-4096,8192,16384}
cases=$(( $(tr ',' '\n' <<< "$DIMS" | wc -l) * $(tr ',' '\n' <<< "$NS" | wc -l) ))   # 50 s per (d, N): both causalities
timeout $((50 * cases)) python3 cuda/hopper/hopper_bench.py --lib "$B/libflashlab_hopper.so" --outdir "$OUT" \
    --versions "$BENCH" --dims "$DIMS" --ns "$NS" --reps 20 --rounds 3 --twins "${BTWINS#,}" \
    --cmd "bash cuda/hopper/hop5_gpu.sh" > "$OUT/bench.log" 2>&1
echo "bench ($BENCH) rc=$? ($(el) s)"
grep -E "^# (error rule|timing|twins)|^d=|^hopper_bench" "$OUT/bench.log" | cut -c1-700
echo "done ($(el) s)"
