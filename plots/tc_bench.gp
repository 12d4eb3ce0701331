# tc_bench.gp — TFLOP/s against N of the attention kernels on one GPU (make bench-gpu writes the data).
#   gnuplot -e "data='plots/data/tc_bench_NVIDIA_H200_<date>.dat'; out='plots/out/tc_bench.png'" plots/tc_bench.gp
# Columns: 1 d, 2 N, 3 causal, 4 naive (v01), 5 teaching (v03), 6 first tensor-core version (v04), 7 ours (fastest),
#          8 SDPA flash, 9 SDPA cuDNN, 10 SDPA efficient; na (nan in tables written before 2026-12-06 evening) =
#          not measured.
if (!exists("data")) data = 'plots/data/tc_bench.dat'
if (!exists("out")) out = 'plots/out/tc_bench.png'
set terminal pngcairo size 2000,1000 enhanced font ',12' linewidth 1.5
set output out
set multiplot layout 2,3 title "forward attention, fp16, hidden 2048 (H = 2048/d), B = 16384/N — ".system("head -1 ".data." | cut -c3- | cut -d';' -f1")
set logscale x 2
set logscale y 10
set yrange [2:4000]
set datafile missing NaN   # a gap in one series does not break the others' lines (old tables wrote nan)
set grid xtics ytics mytics lc rgb '#dddddd'
set key top left box opaque font ',10' maxrows 4 width -2
set xlabel 'sequence length N'
set ylabel 'TFLOP/s  (4 B H N^2 d, halved when causal)'
sel(d, c, col) = ($1 == d && $3 == c && valid(col)) ? column(col) : NaN   # na: not measured
titles(i) = i == 4 ? 'naive (v01, fp32)' : i == 5 ? 'teaching (v03, fp32)' : i == 6 ? 'first tensor-core (v04)' : \
            i == 7 ? 'ours (fastest of the case)' : i == 8 ? 'SDPA flash (FA2)' : i == 9 ? 'SDPA cuDNN' : 'SDPA efficient'
colour(i) = i == 4 ? '#d62728' : i == 5 ? '#ff7f0e' : i == 6 ? '#8c564b' : i == 7 ? '#2ca02c' : \
            i == 8 ? '#1f77b4' : i == 9 ? '#9467bd' : '#7f7f7f'
do for [c = 0:1] {
  do for [d in "64 128 256"] {
    set title sprintf('d = %s, %s', d, c ? 'causal' : 'non-causal')
    plot for [i = 4:10] data using 2:(sel(int(d), c, i)) with linespoints lw (i == 7 ? 3 : 1.5) pt 7 ps 0.8 \
         lc rgb colour(i) title titles(i)
  }
}
unset multiplot
