#!/usr/bin/env bash
# hop4_gpu.sh OUTDIR — one device call for v20 (cuda/hopper/attn_v20_lean.cu) on a bare H100, ~200 s with the build:
# build (make -j16: hopper_check, the benchmark's library, lesson10), a SASS summary of v20 beside v19, hopper_check
# on v20_lean, v20_kv and v20_poly (O and L against fp64 with Tri Dao's criterion, ragged N, causal and not, fp16
# and bf16, d = 64 and 128, counters against the simulator's ledger; then the benchmark's shapes), lesson10's
# counters, hopper_bench.py at d = 128, N = 4096, 8192, 16384 beside v17 - v19 and SDPA's flash and cuDNN, and
# compute-sanitizer memcheck, racecheck and synccheck on --tiny; with HOP4_NCU=1 also Nsight Compute on v20_kv beside
# cuDNN and flash (d = 128, N = 8192). Every step under timeout; small logs in OUTDIR.
#   bash cuda/hopper/hop4_gpu.sh /tmp/hop4_out
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:?usage: cuda/hopper/hop4_gpu.sh OUTDIR}
mkdir -p "$OUT"
export PATH=$PWD/.dev/bin:$PATH PYTHONUNBUFFERED=1
B=build/rel
NEW=v20_kv1,v20_128
RUN1=v20_lean,v20_kv,v20_poly   # measured 2026-12-06 21:47 UTC: in the benchmark again, checked there
OLD=v17_overlap,v18_wide,v19_sched,v19_wide
T0=$(date +%s)
el() { echo $(($(date +%s) - T0)); }

{ date -u; git log --oneline -1
  nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,power.draw,power.limit,temperature.gpu --format=csv
  python3 -c 'import torch; print("torch", torch.__version__, "cudnn", torch.backends.cudnn.version())'
} > "$OUT/info.txt" 2>&1
head -4 "$OUT/info.txt"

# 1. build: only what the steps below run
timeout 170 make -j16 "$B/hopper_check" "$B/libflashlab_hopper.so" lesson10 > /tmp/hop4_build.log 2>&1
rc=$?
echo "build rc=$rc ($(el) s)" | tee "$OUT/build.log"
grep -E "error|warning|spill" /tmp/hop4_build.log | grep -v " 0 bytes spill" | head -20 >> "$OUT/build.log"
if [ $rc -ne 0 ]; then tail -30 /tmp/hop4_build.log | tee -a "$OUT/build.log"; exit 1; fi

# 2. SASS (d = 128 kernels of v17 - v20): counts per kernel, and where the softmax sits: the waits (DEPBAR) between
#    a turn's products (>= 16 wgmma: S(j) and P(j-1)V(j-1)) and the first ex2 after them. "0x1" alone: the softmax
#    runs under P V (the intra-warpgroup overlap); "0x1 0x0": it waits for P V first (the overlap lost).
#    Kernel template arguments: D, T, CAUSAL, BC, NWG, STAGES, PINGPONG, OVERLAP, PERSIST[, LEAN, POLY16, KAHEAD, SPLIT]
if command -v cuobjdump > /dev/null; then
    for f in attn_v17_overlap attn_v18_persist attn_v19_sched attn_v20_lean; do
        echo "File : $f"; cuobjdump --dump-sass "$B/hopper/$f.o"
    done > /tmp/hop4_sass.txt 2>&1
    awk '/Function :/ {f=$3} /HGMMA/ {h[f]++} /MUFU.EX2/ {x[f]++} /FMUL/ {m[f]++} /LDL|STL/ {s[f]++}
         /WARPGROUP.DEPBAR/ {w[f]++} / BAR\./ {b[f]++} /VOTE/ {v[f]++}
         END {for (k in h) printf "%-96s HGMMA %3d EX2 %3d FMUL %4d LDL/STL %d DEPBAR %d BAR %d VOTE %d\n",
              substr(k, 1, 96), h[k], x[k], m[k], s[k], w[k], b[k], v[k]}' /tmp/hop4_sass.txt | grep "Li128E" | sort \
        > "$OUT/sass.txt"
    awk '/^File :/ {file = $3}
         /Function :/ {name = $3; on = (name ~ /kernelILi128E6__halfLb0E/); run = 0; state = 0; deps = ""; next}
         on && state < 2 && /\/\*[0-9a-f]+\*\// {
             line = $0; sub(/.*\*\/ +/, "", line); sub(/ *;.*/, "", line); split(line, a, " ")
             op = (a[1] ~ /^@/) ? a[2] : a[1]
             if (op ~ /^WARPGROUP.ARRIVE/) run = 0
             else if (op ~ /^HGMMA/) run++
             else if (op ~ /^WARPGROUP.DEPBAR/) {
                 if (state == 0 && run >= 16) state = 1
                 if (state == 1) { sub(/.*gsb0, */, "", line); deps = deps " " line }
             } else if (op ~ /^MUFU.EX2/ && state == 1) {
                 sub(/.*kernelI/, "", name); sub(/EEEv.*/, "", name)
                 printf "%-18s %-66s waits before the softmax:%s\n", file, name, deps; state = 2
             }
         }' /tmp/hop4_sass.txt | tee "$OUT/sass_overlap.txt"
    # the order of v20_128's main loop (d = 128, fp16, non-causal): runs of the same opcode collapsed
    awk '/Function :/ {on = ($3 ~ /kernelILi128E6__halfLb0ELi128ELi2ELi2ELb1ELb1ELi2ELb1ELi0ELb1ELb0EEEv/)}
         on && /\/\*[0-9a-f]+\*\// {
             sub(/.*\*\/ +/, ""); op = ($1 ~ /^@/) ? $2 : $1
             if (op !~ /^(HGMMA|WARPGROUP|MUFU|FMUL|FMNMX|FFMA|FADD|F2FP|SHFL|VOTE|BAR|SYNCS|STG|BRA|UTMALDG)/) next
             if (match(op, /^[^.]+(\.[^.]+)?/)) op = substr(op, 1, RLENGTH)
             if (op == last) n++
             else { if (last != "") printf "%s x%d\n", last, n; last = op; n = 1 }
         }
         END {if (last != "") printf "%s x%d\n", last, n}' /tmp/hop4_sass.txt > "$OUT/sass_v20_128_order.txt"
    echo "v20_128 d=128 fp16 full: $(wc -l < "$OUT/sass_v20_128_order.txt") runs in $OUT/sass_v20_128_order.txt"
fi

# 3. checks, each version in its own process (a fault spoils only its own context)
PASS=""
for v in ${NEW//,/ }; do
    timeout 60 "$B/hopper_check" --quick --versions "$v" > /tmp/hop4_c_$v.log 2>&1
    rc=$?
    grep -E "FAIL|error|^hopper_check" /tmp/hop4_c_$v.log | head -20 >> "$OUT/check.log"
    grep -E "counters d=128" /tmp/hop4_c_$v.log >> "$OUT/check.log"
    echo "$v quick rc=$rc: $(tail -1 /tmp/hop4_c_$v.log) ($(el) s)" | tee -a "$OUT/check.log"
    [ $rc -eq 0 ] && PASS="$PASS,$v"
done
PASS=${PASS#,}
if [ -n "$PASS" ]; then
    timeout 60 "$B/hopper_check" --big --versions "$PASS" > /tmp/hop4_big.log 2>&1
    echo "big ($PASS) rc=$?: $(tail -1 /tmp/hop4_big.log) ($(el) s)" | tee -a "$OUT/check.log"
    grep FAIL /tmp/hop4_big.log | head -10 >> "$OUT/check.log"
fi

# 4. lesson10: the counting twin against the simulator's flash2 ledger (Br = 128, Bc = 128 / 176), O and L, time
# (d = 128, N = 4096, B = 4, H = 16: 512 tiles, so each persistent block walks several; a ragged causal bf16 case)
for run in "v20_128" "v20_128 -N 3001 --batch 1 --heads 2 --dtype bf16 --causal" "v20_kv1 --causal"; do
    timeout 30 ./lesson10 --algo $run > /tmp/hop4_l10.log 2>&1
    echo "lesson10 --algo $run rc=$?" >> "$OUT/lesson10.log"
    grep -E "✓|✗|summary:" /tmp/hop4_l10.log >> "$OUT/lesson10.log"
done
grep -c "✗" "$OUT/lesson10.log" | sed 's/^/lesson10: ✗ lines: /'
grep -o "kernel_counts_match=[a-z0-9]*" "$OUT/lesson10.log" | sort | uniq -c

# 5. the benchmark: d = 128, N >= 4096, v20 beside v17 - v19 and SDPA (cuDNN, flash); error study first
timeout 150 python3 cuda/hopper/hopper_bench.py --lib "$B/libflashlab_hopper.so" --outdir "$OUT" \
    --versions "${PASS:+$PASS,}$RUN1,$OLD,final" --dims 128 --ns 4096,8192,16384 --reps 20 \
    --cmd "bash cuda/hopper/hop4_gpu.sh" > "$OUT/bench.log" 2>&1
echo "bench rc=$? ($(el) s)"
grep -E "^# error rule|^d=|^hopper_bench" "$OUT/bench.log" | cut -c1-400
grep -E "^err" "$OUT/bench.log" | cut -c1-330
# 6. compute-sanitizer on the tiny shapes (last: the benchmark matters more if time runs short)
SAN=${PASS:-$NEW}
for tool in memcheck racecheck synccheck; do
    if [ "$(el)" -gt "${HOP4_SAN_AFTER:-200}" ]; then
        echo "no time left for compute-sanitizer $tool" | tee -a "$OUT/sanitizer.log"
        continue
    fi
    timeout 40 compute-sanitizer --tool "$tool" "$B/hopper_check" --tiny --versions "$SAN" > /tmp/hop4_san.log 2>&1
    rc=$?
    sum=$(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' /tmp/hop4_san.log | head -1)
    echo "compute-sanitizer $tool ($SAN) rc=$rc $sum" | tee -a "$OUT/sanitizer.log"
    grep -E "^=========" /tmp/hop4_san.log | head -20 >> "$OUT/sanitizer.log"
done

# 7. (opt-in, HOP4_NCU=1, ~60-90 s more) Nsight Compute: v20_128 beside SDPA cuDNN and flash, d = 128, N = 8192, full
#    (--kernel-name-base demangled: our kernels' short name is just "kernel")
if [ -n "${HOP4_NCU:-}" ] && command -v ncu > /dev/null; then
    timeout 120 ncu --clock-control none --kernel-name-base demangled -k 'regex:hp_ws|cudnn|fprop|sdpa|flash' -c 6 \
        --section SpeedOfLight \
        --section ComputeWorkloadAnalysis --section WarpStateStats --section InstructionStats -o /tmp/hop4_ncu -f \
        python3 cuda/hopper/hopper_ncu.py "$B/libflashlab_hopper.so" v20_128 128 8192 0 > /tmp/hop4_ncu.log 2>&1
    echo "ncu rc=$? $(tail -1 /tmp/hop4_ncu.log) ($(el) s)"
    ncu --import /tmp/hop4_ncu.ncu-rep --page details > "$OUT/ncu.txt" 2>&1
    grep -E "^  [a-zA-Z_].*\(|Duration|Compute \(SM\) Throughput|Issue Slots|No Eligible|Warp Cycles Per Issued" \
        "$OUT/ncu.txt" | head -40 | cut -c1-160
fi
echo "done ($(el) s)"
