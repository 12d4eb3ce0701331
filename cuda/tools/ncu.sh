#!/usr/bin/env bash
# ncu.sh CUDA_BUILD — `make ncu`: what the hardware moved, beside what the simulator and the kernels counted.
#
# For N = 1024 .. 16384 (d=64, B=1, H=16, fp32) and each algorithm, Nsight Compute profiles one forward of the
# plain kernels (cuda_bench once; the counting twin runs first, unprofiled, and must match the simulator) with
# --clock-control none and the default cache control (caches flushed before each kernel: a cold start). Per kernel:
#   dram__bytes_read.sum, dram__bytes_write.sum                     bytes between DRAM and L2 (HBM traffic)
#   lts__t_sectors_srcunit_tex_op_read.sum / _write.sum              32-byte L2 sectors the SMs read / wrote
#   l1tex__t_bytes_pipe_lsu_mem_global_op_ld.sum / _st.sum           bytes the kernel's loads / stores asked for
#   gpu__time_duration.sum
# (only the metrics this ncu knows are asked for). Writes plots/data/ncu_<device>_<date>.dat (one row per kernel)
# and draws plots/out/ncu_bytes.png when gnuplot is there. Another shape: NCU_N="2048 8192" NCU_SHAPE="128 1 8"
# (d B H) writes plots/data/ncu_<device>_<date>_d128_B1_H8.dat, which build/rel/plots/l2_predict --ncu reads.
set -euo pipefail
B=${1:?usage: ncu.sh CUDA_BUILD}
command -v ncu >/dev/null || { echo "✗ ncu (Nsight Compute) not found" >&2; exit 2; }
nvidia-smi -L 2>/dev/null | grep -q GPU || { echo "✗ no CUDA device: make ncu needs an NVIDIA GPU" >&2; exit 2; }
dev=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
tag=$(echo "$dev" | tr ' ' '_' | tr -cd 'A-Za-z0-9_-')
day=$(date -u +%Y-%m-%d)
Ns=${NCU_N:-1024 2048 4096 8192 16384}
read -r d b h <<<"${NCU_SHAPE:-64 1 16}"
mkdir -p plots/data
out=plots/data/ncu_${tag}_${day}$([ "$d $b $h" = "64 1 16" ] || echo "_d${d}_B${b}_H${h}").dat
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

want="dram__bytes_read.sum dram__bytes_write.sum lts__t_sectors_srcunit_tex_op_read.sum
lts__t_sectors_srcunit_tex_op_write.sum l1tex__t_bytes_pipe_lsu_mem_global_op_ld.sum
l1tex__t_bytes_pipe_lsu_mem_global_op_st.sum gpu__time_duration.sum"
ncu --query-metrics >"$work/metrics.txt" 2>&1 || true
use=()
for m in $want; do
    if grep -q "^${m%.sum}[[:space:]]" "$work/metrics.txt"; then use+=("$m"); else echo "  (this ncu has no ${m%.sum}: left out)"; fi
done
metrics=$(IFS=,; echo "${use[*]}")
echo "ncu: $(ncu --version | tail -1); metrics: $metrics"

: >"$work/all.csv"
fail=0
for N in $Ns; do
    for algo in standard flash1 flash2; do
        echo "  N=$N $algo"
        ncu --clock-control none --print-units base --csv --metrics "$metrics" \
            --kernel-name 'regex:^v0[0-9]_[a-z0-9]+$' \
            "$B/cuda_bench" once "$algo" "$N" "$d" "$b" "$h" >"$work/run.txt" 2>"$work/err.txt" ||
            { echo "✗ ncu failed here:"; tail -n 20 "$work/err.txt" "$work/run.txt"; fail=1; }
        grep -q '^counters_match=1' "$work/run.txt" || { echo "✗ counters differ from the simulator"; fail=1; }
        sed "s/^/$N $algo /" "$work/run.txt" >>"$work/all.csv"
    done
done

python3 - "$work/all.csv" "$out" "$dev" "$day" "$(echo $want | tr ' ' ,)" "$d" "$b" "$h" <<'EOF'
import csv, io, sys
src, out, dev, day, metrics, d, b, h = sys.argv[1:]
sim, meas, header = {}, {}, None
for line in open(src):
    N, algo, rest = line.rstrip('\n').split(' ', 2)
    if rest.startswith('kernel='):
        kv = dict(f.split('=') for f in rest.split())
        sim[(int(N), algo, kv['kernel'])] = (int(kv['sim_rd_bytes']), int(kv['sim_wr_bytes']), kv['Br'], kv['Bc'])
    elif rest.startswith('"'):
        row = next(csv.reader(io.StringIO(rest)))
        if row[0] == 'ID':
            header = row
            continue
        r = dict(zip(header, row))
        kernel = r['Kernel Name'].split('(')[0]
        v = r['Metric Value'].replace(',', '')
        meas.setdefault((int(N), algo, kernel), {})[r['Metric Name']] = float(v) if v else None   # None: na
cols = metrics.split(',')
with open(out, 'w') as f:
    f.write('# Nsight Compute (ncu --clock-control none, caches flushed per kernel) on %s, %s; cuda/tools/ncu.sh\n' % (dev, day))
    f.write('# command per point: ncu --metrics ... build/rel/cuda/cuda_bench once ALGO N %s %s %s   (fp32, d=%s, B=%s, H=%s)\n'
            % (d, b, h, d, b, h))
    f.write('# sim_* = the simulator\'s bytes for the kernel\'s phase = the counting twin\'s counters x 4 (checked equal)\n')
    f.write('# N algo kernel Br Bc sim_rd_bytes sim_wr_bytes ' + ' '.join(cols) + '\n')
    total = {}
    for key in sorted(sim):
        N, algo, kernel = key
        rd, wr, Br, Bc = sim[key]
        m = meas.get(key, {})
        vals = [m.get(c) for c in cols]   # a metric ncu did not report is na, never nan
        f.write('%d %s %s %s %s %d %d %s\n' % (N, algo, kernel, Br, Bc, rd, wr,
                                              ' '.join('na' if v is None else '%.0f' % v for v in vals)))
        t = total.setdefault((N, algo), [Br, Bc, 0, 0] + [0.0] * len(cols))
        t[2] += rd
        t[3] += wr
        for x, v in enumerate(vals):
            t[4 + x] = None if v is None or t[4 + x] is None else t[4 + x] + v
    f.write('# totals over the kernels of one forward pass (kernel = all)\n')
    for (N, algo), t in sorted(total.items()):
        f.write('%d %s all %s %s %d %d %s\n' % (N, algo, t[0], t[1], t[2], t[3],
                                                 ' '.join('na' if v is None else '%.0f' % v for v in t[4:])))
print('wrote', out)
EOF
cat "$out"
bash "$(dirname "$0")/draw.sh" "$out" plots/ncu_bytes.gp plots/out/ncu_bytes.png
exit $fail
