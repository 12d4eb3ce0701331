# Figure 8a: ring attention's link traffic vs devices P, N fixed. Data: lesson12_ring_traffic.dat (plots/ring_data).
load 'plots/common.gp'
f = data.'/lesson12_ring_traffic.dat'

set logscale x 2
set logscale y 10
set xrange [0.8:80]
set xtics (1, 2, 4, 8, 16, 32, 64)
set format x '%.0f'
if (!dumb) set format y '10^{%L}'
if (dumb) set format y '%.0e'
set yrange [1e6:3e10]
set xlabel 'devices P'
set ylabel 'elements (log scale)'
set title "Ring attention: what crosses the links, and what each device reads and writes, vs P (N = 65536, d = 128, one head)\nAll links together carry 2 d (P-1) N: every K, V chunk visits every other device. One link carries 2 d (N - N/P): about 2 N d whatever P.\nEach device's own HBM traffic (FlashAttention-2 on its chunk, then the merges) falls about as 1/P."
set key bottom right Left reverse font ',11' width -2

plot f using 1:($2 > 0 ? $2 : 1/0) with points pt 7 ps 1.4 lc rgb c_std title 'all links, counted', \
     f using 1:($3 > 0 ? $3 : 1/0) with lines lw 2 dt 2 lc rgb c_ref title '2 d (P-1) N, closed form', \
     f using 1:($4 > 0 ? $4 : 1/0) with linespoints pt 5 ps 1.1 lc rgb c_f1 title 'one link (0 -> 1), counted', \
     f using 1:5 with linespoints pt 9 ps 1.2 lc rgb c_f2 title "device 0's HBM <-> SRAM traffic", \
     f using 1:6 with lines lw 1.5 dt 3 lc rgb c_f2c title 'FlashAttention-2 on one device (P = 1)'
