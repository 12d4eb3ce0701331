# ncu_bytes.gp — simulated vs counted vs measured bytes of the CUDA teaching kernels (cuda/tools/ncu.sh writes the data).
#   gnuplot -e "data='plots/data/ncu_<device>_<date>.dat'; out='plots/out/ncu_bytes.png'" plots/ncu_bytes.gp
# Columns: 1 N, 2 algo, 3 kernel ('all' = a whole forward pass), 6-7 simulator read/write bytes (= the counting
# twin's counters x 4), 8-9 DRAM read/write bytes, 10-11 L2 sectors read/written by the SMs, 12-13 bytes the kernel's
# global loads/stores requested (l1tex), 14 time in ns.
if (!exists("data")) data = 'plots/data/ncu.dat'
if (!exists("out")) out = 'plots/out/ncu_bytes.png'
set terminal pngcairo size 1280,860 enhanced font ',12' linewidth 1.5
set output out
set logscale xy 2
set logscale y 10
set format y '10^{%T}'
set xlabel 'sequence length N   (fp32, d = 64, B = 1, H = 16)'
set ylabel 'bytes per forward pass'
set key top left box opaque
set grid xtics ytics mytics lc rgb '#dddddd'
set title "HBM traffic: simulated = counted by the kernels (lines), requested by the kernels' loads and stores\n(ncu l1tex, circles), moved from and to DRAM (ncu dram, squares)"
c_std = '#d62728'; c_f1 = '#1f77b4'; c_f2 = '#2ca02c'
# one algorithm's whole-pass rows ('all'), so each line joins its own points
rows(a) = sprintf("< awk '$2 == \"%s\" && $3 == \"all\"' '%s'", a, data)
col(a) = a eq 'standard' ? c_std : a eq 'flash1' ? c_f1 : c_f2
plot for [a in "standard flash1 flash2"] rows(a) using 1:($6+$7) with lines lw 2 lc rgb col(a) \
         title a.': simulated = counted', \
     for [a in "standard flash1 flash2"] rows(a) using 1:($12+$13) with points pt 6 ps 2 lc rgb col(a) \
         title a.': requested (l1tex)', \
     for [a in "standard flash1 flash2"] rows(a) using 1:($8+$9) with linespoints dt 2 pt 5 lc rgb col(a) \
         title a.': DRAM (measured)'
