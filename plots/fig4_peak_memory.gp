# Figure 4: peak HBM bytes allocated vs N: O(N^2) for standard, O(N) for FlashAttention. Data: lesson05_seqlen.dat.
load 'plots/common.gp'
f = data.'/lesson05_seqlen.dat'

stats f index 1 every ::0::0 using 2 nooutput
d = STATS_min
stats f index 1 every ::0::0 using ($13/($1*$2+$1*$1)) nooutput
esz = int(STATS_min + 0.5)
stats f index 0 using 1 nooutput
Nmax = STATS_max

set logscale x 2
set logscale y 10
set xrange [100:Nmax*1.3]
set xtics (128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536)
set format x '%.0f'
if (!dumb) set format y '10^{%L}'
if (dumb) set format y '%.0e'
set xlabel 'sequence length N (tokens)'
set ylabel 'peak HBM allocated (bytes, log scale)'
set title sprintf("Peak HBM memory of one attention forward vs N, d = %d, %d-byte elements (%s), one head\nstandard keeps S and P (N × N each): O(N^2); FlashAttention keeps Q, K, V, O and O(N) row statistics: O(N)", d, esz, esz == 2 ? 'fp16' : 'fp32')
set key top left Left reverse font ',11' width -4
hbm = 80e9
set arrow 1 from graph 0, first hbm to graph 1, first hbm nohead dt 2 lw 1.5 lc rgb c_ref
set yrange [1e4:1e12]
set label 1 "80 GB: all of an A100-80GB's HBM " at graph 1, first hbm*1.6 right textcolor rgb c_ref

# FlashAttention and FlashAttention-2 differ by one fp32 N-vector (m and l against L): under 1% here, so their lines
# coincide. FlashAttention-2's is drawn dashed with large open circles over FlashAttention's small filled squares,
# and a note under the lines says so (and by how much, at the largest N).
stats f index 1 using 10 nooutput
p1 = STATS_max
stats f index 2 using 10 nooutput
p2 = STATS_max
set label 2 sprintf("FlashAttention-2 (open circles) lies on FlashAttention (squares): it keeps one fp32\nN-vector L instead of m and l, %.0f bytes less at N = %d (%.2f%%)", p1 - p2, Nmax, 100 * (p1 - p2) / p1) \
    at Nmax, p2 / 500 right textcolor rgb c_f2 font ',11'
if (dumb) unset label 2
plot f index 0 using 1:10 with linespoints pt 7 ps 1.1 lc rgb c_std title 'standard attention (Q, K, V, O, S, P)', \
     f index 1 using 1:10 with linespoints pt 5 ps 0.9 lw 2 lc rgb c_f1 title 'FlashAttention (Q, K, V, O, m, l)', \
     f index 2 using 1:10 with linespoints pt 6 ps 2.2 lw 1.5 lc rgb c_f2 dt (6, 4) title 'FlashAttention-2 (Q, K, V, O, logsumexp L): on the line above'
