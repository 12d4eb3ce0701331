# Figure 2: HBM accesses vs SRAM size M at fixed N, d (the 1/M law). Data: lesson05_sram.dat (./lesson05).
load 'plots/common.gp'
f = data.'/lesson05_sram.dat'

stats f index 1 every ::0::0 using 1 nooutput
N = STATS_min
stats f index 1 every ::0::0 using 2 nooutput
d = STATS_min
stats f index 1 every ::0::0 using 18 nooutput
c_1 = STATS_min
stats f index 2 every ::0::0 using 18 nooutput
c_2 = STATS_min
stats f index 1 every ::0::0 using ($13/($1*$2+$1*$1)) nooutput
esz = int(STATS_min + 0.5)
stats f index 1 using ($3/1024) nooutput
Mlo = STATS_min; Mhi = STATS_max
Nd_kib = N*d*esz/1024.0

set logscale x 2
set logscale y 10
set xrange [Mlo/1.3:Mhi*1.3]
set yrange [1e6:1e10]
set xtics Mlo, 2, Mhi
set format x '%.0f'
if (!dumb) set format y '10^{%L}'
if (dumb) set format y '%.0e'
set xlabel 'SRAM capacity M (KiB, log scale)'
set ylabel 'HBM accesses: bytes read + written (log scale)'
set title sprintf("HBM traffic vs SRAM size M at N = %d, d = %d, %d-byte elements (%s), one head: the 1/M law of Theorem 2\nblocks from M, shrunk until they fit: the resident block is the big one, ⌈M/4d⌉ (FlashAttention: Bc; FlashAttention-2: Br);\nright of the dashed line all of K, V fit (M ≥ Nd)", N, d, esz, esz == 2 ? 'fp16' : 'fp32')
set arrow 1 from Nd_kib, graph 0 to Nd_kib, graph 1 nohead dt 2 lw 1.5 lc rgb c_ref
set label 1 sprintf(" M = Nd = %.0f KiB", Nd_kib) at Nd_kib, graph 0.05 left textcolor rgb c_ref
set key top right Left reverse font ',11' width -4

plot f index 0 using ($3/1024):8 with linespoints pt 7 ps 1.1 lc rgb c_std title 'standard attention: S, P through HBM whatever M is', \
     f index 1 using ($3/1024):8 with linespoints pt 5 ps 1.1 lc rgb c_f1 title 'FlashAttention (Alg. 1): Q, O re-read once per K, V block (Tc = ⌈N/Bc⌉)', \
     f index 2 using ($3/1024):8 with linespoints pt 9 ps 1.3 lc rgb c_f2 title 'FlashAttention-2: K, V re-read once per Q block (Tr = ⌈N/Br⌉); Br = ⌈M/4d⌉ grows with M', \
     f index 3 using ($3/1024):8 with linespoints pt 11 ps 1.3 lc rgb c_f2c dt 2 title 'FlashAttention-2, causal: about half the K, V reads (tiles above the diagonal skipped)', \
     f index 4 using ($3/1024):8 with linespoints pt 8 ps 1.3 lc rgb c_f2 dt 2 title "FlashAttention-2 with FA1's block rule: Br stops at d, so K, V are re-read N/d times whatever M is", \
     f index 1 using ($3/1024):($14*c_1) with lines lw 1.5 dt 3 lc rgb c_f1 title sprintf('%.2f·N^2d^2/M: the 1/M law, fitted to FlashAttention at the smallest M', c_1), \
     f index 2 using ($3/1024):($14*c_2) with lines lw 1.5 dt 3 lc rgb c_f2 title sprintf('%.2f·N^2d^2/M, fitted to FlashAttention-2 at the smallest M', c_2)
