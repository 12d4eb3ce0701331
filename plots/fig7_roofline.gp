# Figure 7: the roofline (lesson13). Data: lesson13_roofline.dat (./lesson13: the ceilings of four GPUs from their
# datasheets, and the kernels of one attention forward, counted) and, where the repository holds it, Nsight Compute's
# table of the fp32 teaching kernels measured on an H200 (cuda/ncu.sh; pass gpu='FILE' to use another one).
load 'plots/common.gp'
f = data.'/lesson13_roofline.dat'
if (!exists("gpu")) gpu = 'plots/data/ncu_NVIDIA_H200_2026-11-22.dat'
have_gpu = system('test -r '.gpu.' && echo 1 || echo 0') eq '1'

# The ceilings, block 0: one row per GPU (2 matmul FLOP/s, 3 fp32 FLOP/s, 5 HBM bytes/s).
array mm[4]; array fp[4]; array bw[4]
do for [g = 0:3] {
    stats f index 0 every ::g::g using 2 nooutput; mm[g+1] = STATS_min
    stats f index 0 every ::g::g using 3 nooutput; fp[g+1] = STATS_min
    stats f index 0 every ::g::g using 5 nooutput; bw[g+1] = STATS_min
}
roof(x, g) = (x * bw[g] < mm[g] ? x * bw[g] : mm[g]) / 1e12
roof32(x, g) = (x * bw[g] < fp[g] ? x * bw[g] : fp[g]) / 1e12

# The measured kernels' FLOPs by mem.h's convention, for the table's shape (its header: fp32, d = 64, B = 1, H = 16);
# the same closed forms as tests/check_flops.c. Columns: 1 N, 3 kernel, 5 Bc, 6 simulated read bytes, 8 + 9 DRAM
# bytes read + written, 14 time (ns).
d = 64.0; H = 16.0
passes(N, rd) = rd / (4.0 * N * N * H)
flops(k, N, Bc, rd) = k eq 'v01_scores' ? (2*d + 1) * N * N * H : \
                      k eq 'v01_pv' ? 2*d * N * N * H : \
                      k eq 'v01_softmax' ? (passes(N, rd) < 2 ? 4 : 5) * N * N * H : \
                      k eq 'v02_flash1' ? H * (4*d*N*N + 4*N*N + ceil(N/Bc) * N * (7 + 4*d)) : \
                      k eq 'v03_flash2' ? H * (4*d*N*N + 4*N*N + ceil(N/Bc) * N * (2 + d) + N*d + N) : NaN
is(k, name) = k eq name ? 1 : NaN
# Label offsets by kernel row (S and PV share an intensity): above or below the point.
off(r) = r == 0 ? 1.45 : r == 2 ? 0.68 : r == 4 ? 0.72 : 1.3

set logscale xy 10
set xrange [0.3:3e4]
set yrange [0.3:3000]
if (!dumb) set format x '10^{%L}'; set format y '10^{%L}'
set xlabel 'arithmetic intensity: FLOPs per HBM byte (counted; measured: per DRAM byte)'
set ylabel 'FLOP/s (TFLOP/s, log scale)'
set title "The roofline: attention's kernels against A100, H100, H200 (dense fp16 matmul peak over HBM bandwidth)\nSimulated points: counted FLOPs and bytes, at the modelled time max(bytes/bandwidth, matmul/peak + other/fp32 + exp/SFU)\nMeasured points: fp32 teaching kernels on an H200 (Nsight Compute DRAM bytes and time; FLOPs by the same convention)"
set key top left Left reverse font ',10' width -4 noenhanced

set style line 1 lc rgb '#7f7f7f' lw 2 dt 1
set style line 2 lc rgb '#bcbd22' lw 2 dt 1
set style line 3 lc rgb '#17becf' lw 2 dt 1
set style line 4 lc rgb '#9467bd' lw 2 dt 1

plot roof(x, 1) ls 1 title 'A100 40GB: 312 TFLOP/s, 1.555 TB/s', \
     roof(x, 2) ls 2 title 'A100 80GB: 312 TFLOP/s, 2.039 TB/s', \
     roof(x, 3) ls 3 title 'H100 SXM: 989 TFLOP/s, 3.35 TB/s', \
     roof(x, 4) ls 4 title 'H200: 989 TFLOP/s, 4.8 TB/s', \
     roof32(x, 4) ls 4 dt 2 lw 1.5 title 'H200 fp32 units: 67 TFLOP/s (the measured kernels run here)', \
     f index 1 using 8:($10/1e12) with points pt 7 ps 1.6 lc rgb c_std title 'simulated, A100 40GB (the paper''s GPU)', \
     f index 1 using 8:($13/1e12) with points pt 5 ps 1.3 lc rgb c_f2 title 'simulated, H200', \
     f index 1 using 8:($10/1e12 * off(int($0))):1 with labels left offset 1,0 font ',9' noenhanced notitle, \
     f index 1 using 9:($13/1e12) with points pt 6 ps 1.3 lc rgb c_f2 title 'simulated, H200, if an ideal L2 served every re-read', \
     (have_gpu ? gpu : '/dev/null') using (flops(strcol(3), $1, $5, $6)/($8+$9)):(flops(strcol(3), $1, $5, $6)/$14/1e3 * is(strcol(3), 'v01_scores')) \
         with points pt 9 ps 1.3 lc rgb c_std title 'measured: S = QK^T (v01_scores), N = 1k..16k, each kernel', \
     '' using (flops(strcol(3), $1, $5, $6)/($8+$9)):(flops(strcol(3), $1, $5, $6)/$14/1e3 * is(strcol(3), 'v01_softmax')) \
         with points pt 11 ps 1.3 lc rgb c_std title 'measured: softmax (v01_softmax)', \
     '' using (flops(strcol(3), $1, $5, $6)/($8+$9)):(flops(strcol(3), $1, $5, $6)/$14/1e3 * is(strcol(3), 'v01_pv')) \
         with points pt 13 ps 1.3 lc rgb c_std title 'measured: O = PV (v01_pv)', \
     '' using (flops(strcol(3), $1, $5, $6)/($8+$9)):(flops(strcol(3), $1, $5, $6)/$14/1e3 * is(strcol(3), 'v02_flash1')) \
         with points pt 9 ps 1.3 lc rgb c_f1 title 'measured: FlashAttention (v02_flash1)', \
     '' using (flops(strcol(3), $1, $5, $6)/($8+$9)):(flops(strcol(3), $1, $5, $6)/$14/1e3 * is(strcol(3), 'v03_flash2')) \
         with points pt 9 ps 1.3 lc rgb c_f2 title 'measured: FlashAttention-2 (v03_flash2)'
