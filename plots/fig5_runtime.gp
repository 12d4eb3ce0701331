# Figure 5: CPU run time of the simulator vs N, standard vs flash (a benchmark). Data: runtime.dat (bench_runtime).
load 'plots/common.gp'
f = data.'/runtime.dat'
machine = system("sed -n 's/^# machine: //p' ".f)

stats f index 0 using 1 nooutput
Nmin = STATS_min; Nmax = STATS_max

set logscale x 2
set logscale y 10
set xrange [Nmin/1.3:Nmax*1.3]
set xtics Nmin, 2, Nmax
set format x '%.0f'
set xlabel 'sequence length N (tokens)'
set ylabel 'ms per forward pass (log scale): median, bars from fastest to slowest'
set title sprintf("CPU run time of the simulator's attention forward (real arithmetic, fp32, d = 64, one head): a benchmark\n%s\n1 warm-up call, median of 5 repeats, every algorithm in the same run after checking its output against the double reference.\nThis times the simulator on a CPU, not a GPU kernel: every tile load is counted and converted element by element.", machine)
set key top left Left reverse font ',11' width -2

plot f index 0 using 1:2:3:4 with yerrorlines pt 7 ps 1.1 lc rgb c_std title 'standard attention, 1 thread', \
     f index 1 using 1:2:3:4 with yerrorlines pt 5 ps 1.1 lc rgb c_f1 title 'FlashAttention (Alg. 1), 1 thread', \
     f index 2 using 1:2:3:4 with yerrorlines pt 9 ps 1.3 lc rgb c_f2 title 'FlashAttention-2, 1 thread', \
     f index 3 using 1:2:3:4 with yerrorlines pt 11 ps 1.3 dt 2 lc rgb c_f2c title 'FlashAttention-2, all threads (query blocks in parallel)'
