# cuda_time_mem.gp — time and device memory of the CUDA teaching kernels over N (cuda/tools/bench.sh writes the data).
#   gnuplot -e "data='plots/data/cuda_time_mem_<device>_<date>.dat'; out='plots/out/cuda_time_mem.png'" plots/cuda_time_mem.gp
# Columns: 1 N, 2 algo, 3 Br, 4 Bc, 5 ms, 6 device bytes, 7-8 counted read/write bytes, 9 match, 10 max error.
if (!exists("data")) data = 'plots/data/cuda_time_mem.dat'
if (!exists("out")) out = 'plots/out/cuda_time_mem.png'
set terminal pngcairo size 1400,620 enhanced font ',12' linewidth 1.5
set output out
c_std = '#d62728'; c_f1 = '#1f77b4'; c_f2 = '#2ca02c'
col(a) = a eq 'standard' ? c_std : a eq 'flash1' ? c_f1 : c_f2
rows(a) = sprintf("< awk '$2 == \"%s\"' '%s'", a, data)   # one algorithm's rows, so each line joins its points
set multiplot layout 1,2
set logscale xy 2
set grid xtics ytics lc rgb '#dddddd'
set key top left box opaque
set xlabel 'sequence length N   (fp32, d = 64, B = 1, H = 16)'
set ylabel 'milliseconds per forward pass (median)'
set title 'time'
plot for [a in "standard flash1 flash2"] rows(a) using 1:5 with linespoints lw 2 pt 7 lc rgb col(a) title a
set ylabel 'device memory allocated (MiB)'
set title 'memory: O(N^2) for standard, O(N) for FlashAttention'
plot for [a in "standard flash1 flash2"] rows(a) using 1:($6/1048576) with linespoints lw 2 pt 7 lc rgb col(a) title a
unset multiplot
